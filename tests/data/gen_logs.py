#!/usr/bin/python3
"""gen_logs.py: synthetic mail and firewall logs with planted incidents.

    gen_logs.py corpus OUTDIR [--seed N]
        mail.log       Postfix + Dovecot (classic syslog stamps, 2026-12-30 to
                       2027-01-01: read it with --year 2026)
        kern.log       netfilter LOG lines (RFC 3339 stamps)
        exim_mainlog   Exim main log (its own stamps)
        expected.json  the suspects relayguard logscan must name, per input set

    gen_logs.py bench OUTFILE [--mb N] [--seed N]
        one Postfix log of at least N MB (default 1100): one busy hour of
        traffic, generated once, then written again for each following hour
        with fresh queue IDs and stamps.

Deterministic: the same seed gives the same bytes. Every address is from the
documentation (RFC 5737, RFC 3849) or benchmarking (RFC 2544) ranges or the
private ranges, every domain under .example.

Planted incidents (mail.log and kern.log), among heavy legitimate traffic
(about 40 accounts at work, inbound mail, IMAP logins, typos at login,
rejected inbound spam, a scanner relaying from the LAN, a forwarding alias,
a few real bounces and vacation replies):
  1. a password guessed by 198.51.100.23 (14 failures, then a login as
     test@example.com), then spam from it and two more IPs
  2. a phished account (maria@example.com) logging in from 25 IPs in five
     networks, sending spam with many bounces
  3. a brute force from 203.0.113.77 over 40 accounts that never succeeds
  4. an infected desktop (10.0.5.57) sending SMTP straight out (firewall log)
  5. an open relay: 203.0.113.150 relays 200 messages without authentication
  6. backscatter: 150 bounces of accepted spam to forged senders
  7. an auto-reply flood: bob@example.com's vacation answers 200 probes
Exim (exim_mainlog): a brute force from 198.51.100.99 and a compromised
office@example.org.
"""
import argparse
import datetime
import json
import os
import random
import sys

HOST = "mx1"
DOMAIN = "example.com"
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
EPOCH = datetime.datetime(2026, 12, 30, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2027, 1, 1, 6, tzinfo=datetime.timezone.utc)
FIRST = ("anna ben carl dora emil fay gus hana ivan jana karl lena marc nina otto paul "
         "rosa sven tina uwe vera walt xena yves zoe alba bert cleo dirk elke finn gina "
         "hugo iris jon kira lars mona nils olga").split()
HOLIDAY = datetime.date(2027, 1, 1)


def classic(t):
    d = EPOCH + datetime.timedelta(seconds=t)
    return "%s %2d %02d:%02d:%02d" % (MONTHS[d.month - 1], d.day, d.hour, d.minute, d.second)


def rfc3339(t):
    d = EPOCH + datetime.timedelta(seconds=t)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d+00:00" % int((t % 1) * 1e6)


def iso(t):
    d = EPOCH + datetime.timedelta(seconds=t)
    return d.strftime("%Y-%m-%d %H:%M:%S")


SPAN = (END - EPOCH).total_seconds()


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.lines = []  # (t, seq, text)
        self.seq = 0
        self.qids = set()
        self.pid = 1000

    def add(self, t, text):
        self.seq += 1
        self.lines.append((t, self.seq, text))

    def newpid(self):
        self.pid += self.r.randint(1, 40)
        return self.pid

    def qid(self):
        r = self.r
        while True:
            if r.random() < 0.3:  # long queue ID: base-52 without vowels, a 'z'
                alpha = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy"
                q = "".join(r.choice(alpha) for _ in range(10)) + "z" + \
                    "".join(r.choice(alpha) for _ in range(4))
            else:
                q = "%010X" % r.getrandbits(40)
            if q not in self.qids:
                self.qids.add(q)
                return q

    def pf(self, t, daemon, pid, text):
        self.add(t, "%s %s postfix/%s[%d]: %s" % (classic(t), HOST, daemon, pid, text))

    def dove(self, t, text):
        self.add(t, "%s %s dovecot: %s" % (classic(t), HOST, text))

    # ---- Postfix transactions ----

    def deliver(self, t, q, rcpt, local, status="sent", orig=None, dsn=None, why=None):
        r = self.r
        o = ", orig_to=<%s>" % orig if orig else ""
        if local:
            dsn = dsn or "2.0.0"
            why = why or "250 2.0.0 <%s> Saved" % rcpt
            self.pf(t, "lmtp", self.newpid(),
                    "%s: to=<%s>%s, relay=mail.%s[private/dovecot-lmtp], delay=0.%d, "
                    "delays=0.1/0/0/0.1, dsn=%s, status=%s (%s)" %
                    (q, rcpt, o, DOMAIN, r.randint(1, 9), dsn, status, why))
            return
        dom = rcpt.split("@")[1]
        ip = "192.0.2.%d" % r.randint(30, 90)
        if status == "sent":
            dsn, why = "2.0.0", "250 2.0.0 Ok: queued as %X" % r.getrandbits(36)
        elif status == "deferred":
            dsn = dsn or "4.4.1"
            why = why or "connect to mx.%s[%s]:25: Connection timed out" % (dom, ip)
        else:
            dsn = dsn or "5.1.1"
            why = why or "host mx.%s[%s] said: 550 5.1.1 <%s>: Recipient address " \
                         "rejected: User unknown (in reply to RCPT TO command)" % (dom, ip, rcpt)
        self.pf(t, "smtp", self.newpid(),
                "%s: to=<%s>%s, relay=mx.%s[%s]:25, delay=%.1f, delays=0.1/0/0.3/0.4, "
                "dsn=%s, status=%s (%s)" % (q, rcpt, o, dom, ip, r.random() * 3, dsn, status, why))

    def message(self, t, client, ip, sender, rcpts, user=None, submission=False,
                statuses=None, pid=None, session=True, orig=None):
        """One message over SMTP; rcpts: list of (address, local?)."""
        r = self.r
        q = self.qid()
        d = "submission/smtpd" if submission else "smtpd"
        pid = pid or self.newpid()
        if session:
            self.pf(t, d, pid, "connect from %s[%s]" % (client, ip))
            if submission:
                self.pf(t, d, pid, "Anonymous TLS connection established from %s[%s]: TLSv1.3 "
                        "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" % (client, ip))
        sasl = ", sasl_method=PLAIN, sasl_username=%s" % user if user else ""
        self.pf(t + 0.1, d, pid, "%s: client=%s[%s]%s" % (q, client, ip, sasl))
        self.pf(t + 0.2, "cleanup", 501, "%s: message-id=<%x.%s>" % (q, r.getrandbits(48),
                                                                   sender or "bounce"))
        self.pf(t + 0.3, "qmgr", 500, "%s: from=<%s>, size=%d, nrcpt=%d (queue active)" %
                (q, sender, r.randint(900, 90000), len(rcpts)))
        for i, (rc, local) in enumerate(rcpts):
            st = statuses[i] if statuses else "sent"
            self.deliver(t + 0.5 + i * 0.1, q, rc, local, st, orig=orig)
        done = t + 1 + len(rcpts) * 0.1
        self.pf(done, "qmgr", 500, "%s: removed" % q)
        if session:
            self.pf(done + 0.1, d, pid, "disconnect from %s[%s] ehlo=1%s mail=1 rcpt=%d data=1 "
                    "quit=1 commands=%d" % (client, ip, " auth=1" if user else "", len(rcpts),
                                            5 if user else 4))
        return q

    def sasl_fail(self, t, ip, user, submission=False, client="unknown"):
        d = "submission/smtpd" if submission else "smtpd"
        pid = self.newpid()
        self.pf(t, d, pid, "connect from %s[%s]" % (client, ip))
        self.pf(t + 0.5, d, pid, "warning: %s[%s]: SASL LOGIN authentication failed: "
                "UGFzc3dvcmQ6, sasl_username=%s" % (client, ip, user))
        self.pf(t + 0.6, d, pid, "disconnect from %s[%s] ehlo=1 auth=0/1 quit=1 commands=2/3" %
                (client, ip))


def legit_users():
    return ["%s@%s" % (n, DOMAIN) for n in FIRST]


def corpus_mail(g):
    r = g.r
    users = legit_users()
    home = {u: "198.51.100.%d" % (100 + i * 2 + r.randint(0, 1)) for i, u in enumerate(users)}
    office = "192.0.2.10"
    ext_domains = ["partner%d.example" % i for i in range(1, 80)]
    mtas = ["203.0.113.%d" % i for i in range(1, 61)] + ["2001:db8:5::%x" % i for i in range(1, 9)]
    day_start = [0, 86400, 2 * 86400]
    # -- legitimate submissions and IMAP logins
    for day in day_start:
        date = (EPOCH + datetime.timedelta(seconds=day)).date()
        if day >= SPAN:
            break
        hours = range(9, 17) if date != HOLIDAY else range(0, 6)
        for u in users:
            for h in hours:
                if date == HOLIDAY and r.random() < 0.9:
                    continue
                ip = office if r.random() < 0.8 else home[u]
                # IMAP logins a few times an hour
                for _ in range(r.randint(1, 3)):
                    t = day + h * 3600 + r.uniform(0, 3599)
                    g.dove(t, "imap-login: Login: user=<%s>, method=PLAIN, rip=%s, "
                           "lip=192.0.2.1, mpid=%d, TLS, session=<%08x>" %
                           (u, ip, g.newpid(), r.getrandbits(32)))
                if r.random() < 0.03:  # a typo, then the right password
                    t = day + h * 3600 + r.uniform(0, 3000)
                    g.sasl_fail(t, ip, u, submission=True, client="office.example")
                for _ in range(r.randint(2, 8)):
                    t = day + h * 3600 + r.uniform(0, 3599)
                    n = r.choice([1, 1, 1, 2, 3])
                    rc = []
                    for _ in range(n):
                        if r.random() < 0.3:
                            rc.append((r.choice(users), True))
                        else:
                            rc.append(("%s%d@%s" % (r.choice(FIRST), r.randint(1, 99),
                                                    r.choice(ext_domains)), False))
                    g.message(t, "office.example" if ip == office else "home.example", ip, u,
                              rc, user=u, submission=True)
    # -- inbound mail from other servers, day and night
    t = 0.0
    while t < SPAN:
        hour = int(t // 3600) % 24
        t += r.expovariate(1 / (12.0 if 8 <= hour < 18 else 45.0))
        ip = r.choice(mtas)
        dom = r.choice(ext_domains)
        rc = [(r.choice(users), True) for _ in range(r.choice([1, 1, 1, 2]))]
        g.message(t, "mx.%s" % dom, ip, "%s@%s" % (r.choice(FIRST), dom), rc)
    # -- inbound spam refused at RCPT, from many addresses
    for i in range(600):
        t = r.uniform(0, SPAN)
        ip = "198.18.%d.%d" % (r.randint(0, 255), r.randint(1, 254))
        why = r.choice(["550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual "
                        "mailbox table" % ("nobody%d@%s" % (i, DOMAIN)),
                        "554 5.7.1 Service unavailable; Client host [%s] blocked using "
                        "zen.spamhaus.org" % ip])
        g.pf(t, "smtpd", g.newpid(), "NOQUEUE: reject: RCPT from unknown[%s]: %s; "
             "from=<spam%d@spam.example> to=<nobody%d@%s> proto=ESMTP helo=<spam.example>" %
             (ip, why, i, i, DOMAIN))
    # -- relay attempts refused (the server is not an open relay for them)
    for i in range(50):
        t = r.uniform(0, SPAN)
        g.pf(t, "smtpd", g.newpid(), "NOQUEUE: reject: RCPT from unknown[198.18.99.%d]: 554 "
             "5.7.1 <victim%d@elsewhere.example>: Relay access denied; from=<x@spam.example> "
             "to=<victim%d@elsewhere.example> proto=SMTP helo=<x>" % (i + 1, i, i))
    # -- the scanner on the LAN relays without authentication (trusted network)
    for i in range(40):
        t = 9 * 3600 + r.uniform(0, 30 * 3600)
        g.message(t, "scanner.lan", "10.0.0.50", "scanner@%s" % DOMAIN,
                  [("ext%d@partner3.example" % i, False)])
    # -- a forwarding alias: inbound mail forwarded outside
    for i in range(30):
        t = r.uniform(0, SPAN)
        q = g.message(t, "mx.partner7.example", "203.0.113.%d" % (i + 1),
                      "news@partner7.example", [("fwd.owner@mail.example", False)],
                      orig="fwd@%s" % DOMAIN)
    # -- a few real bounces to remote senders (mailbox full)
    for i in range(5):
        t = r.uniform(0, SPAN)
        q = g.qid()
        ip = r.choice(mtas[:60])
        g.pf(t, "smtpd", 700 + i, "%s: client=mx.partner9.example[%s]" % (q, ip))
        g.pf(t + 0.2, "qmgr", 500, "%s: from=<sender%d@partner9.example>, size=5000, nrcpt=1 "
             "(queue active)" % (q, i))
        g.deliver(t + 0.4, q, users[i], True, "bounced", dsn="5.2.2",
                  why="host mail.example.com said: 552 5.2.2 Mailbox full")
        b = g.qid()
        g.pf(t + 0.5, "bounce", 600, "%s: sender non-delivery notification: %s" % (q, b))
        g.pf(t + 0.6, "qmgr", 500, "%s: removed" % q)
        g.pf(t + 0.7, "qmgr", 500, "%s: from=<>, size=7000, nrcpt=1 (queue active)" % b)
        g.deliver(t + 1, b, "sender%d@partner9.example" % i, False)
        g.pf(t + 1.2, "qmgr", 500, "%s: removed" % b)
    # -- carol's vacation: a handful of replies
    for i in range(6):
        t = 86400 + 9 * 3600 + i * 3000
        g.dove(t, "lda(carol@%s)<%d><%08x>: sieve: msgid=<%x@partner2.example>: sent vacation "
               "response to <person%d@partner2.example>" % (DOMAIN, g.newpid(),
                                                           r.getrandbits(32), i, i))
    # -- noise Postfix lines nobody needs
    for i in range(300):
        t = r.uniform(0, SPAN)
        g.pf(t, "anvil", 400, "statistics: max connection rate 3/60s for (smtp:203.0.113.%d) at "
             "%s" % (r.randint(1, 60), classic(t)))
        g.pf(t, "smtpd", g.newpid(), "lost connection after EHLO from unknown[198.18.1.%d]" %
             r.randint(1, 254))
    for i in range(20):
        g.add(r.uniform(0, SPAN), "%s %s systemd[1]: Starting Daily apt activities..." %
              (classic(r.uniform(0, SPAN)), HOST))
    return users


def incident_guessed(g, exp):
    """1. 14 failed logins as test@ from one IP, a success, then spam from three IPs."""
    r = g.r
    ip = "198.51.100.23"
    t = 22 * 3600 + 600
    for i in range(14):
        g.sasl_fail(t + i * 80, ip, "test@%s" % DOMAIN, client="unknown")
    t += 14 * 80 + 60
    spam_ips = [ip, "198.51.100.24", "198.51.100.25"]
    for i in range(600):
        tt = t + i * 9
        sip = spam_ips[i % 3]
        rc = [("u%d@victim%d.example" % (r.randint(1, 9999), r.randint(1, 300)), False)
              for _ in range(3)]
        st = ["bounced" if r.random() < 0.3 else "sent" for _ in rc]
        g.message(tt, "unknown", sip, "promo%d@%s" % (i % 9, DOMAIN), rc,
                  user="test@%s" % DOMAIN, statuses=st)
    exp.append({"kind": "compromised_account", "account": "test@%s" % DOMAIN})
    exp.append({"kind": "brute_force", "client_ip": ip, "failures": 14, "accounts_tried": 1,
                "succeeded": ["test@%s" % DOMAIN]})


def incident_phished(g, exp):
    """2. maria@: normal on day one, then logins from 25 IPs in 5 networks and spam."""
    r = g.r
    u = "maria@%s" % DOMAIN
    for i in range(10):
        g.message(9 * 3600 + i * 2000, "home.example", "198.51.100.190", u,
                  [("friend%d@partner4.example" % i, False)], user=u, submission=True)
    nets = ["192.0.2.%d", "198.51.100.%d", "203.0.113.%d", "198.18.200.%d", "198.19.201.%d"]
    ips = [nets[i % 5] % (200 + i) for i in range(25)]
    t0 = 86400 + 14 * 3600
    for i, ip in enumerate(ips):
        g.dove(t0 + i * 300, "imap-login: Login: user=<%s>, method=PLAIN, rip=%s, "
               "lip=192.0.2.1, mpid=%d, TLS, session=<%08x>" % (u, ip, g.newpid(),
                                                              r.getrandbits(32)))
    for i in range(700):
        tt = t0 + 60 + i * 30
        ip = ips[i % 25]
        rc = [("x%d@target%d.example" % (r.randint(1, 99999), r.randint(1, 500)), False)
              for _ in range(4)]
        st = ["bounced" if r.random() < 0.45 else "sent" for _ in rc]
        g.message(tt, "unknown", ip, u, rc, user=u, submission=True, statuses=st)
    exp.append({"kind": "compromised_account", "account": u})


def incident_bruteforce(g, exp):
    """3. 203.0.113.77 tries 40 accounts, 7 times each, and never gets in."""
    ip = "203.0.113.77"
    names = ["admin", "info", "sales", "office", "support", "root", "mail", "web", "user",
             "guest", "backup", "scanner", "abuse", "contact", "noreply", "demo"] + \
            ["%s%d" % (n, k) for n in ("user", "test", "mail") for k in range(1, 9)]
    names = names[:40]
    t = 86400 + 3 * 3600
    n = 0
    for k in range(7):
        for name in names:
            g.sasl_fail(t + n * 20, ip, "%s@%s" % (name, DOMAIN))
            n += 1
    for i in range(10):
        g.dove(t + n * 20 + i * 60, "imap-login: Disconnected (auth failed, 3 attempts in 12 "
               "secs): user=<%s@%s>, method=PLAIN, rip=%s, lip=192.0.2.1, TLS, session=<x%d>" %
               (names[i], DOMAIN, ip, i))
    exp.append({"kind": "brute_force", "client_ip": ip, "failures": n + 30,
                "accounts_tried": 40, "succeeded": []})


def incident_relay(g, exp):
    """5. an open relay: 203.0.113.150 (not ours) relays 200 messages, 2 recipients each."""
    r = g.r
    t = 86400 + 3600
    for i in range(200):
        g.message(t + i * 30, "bad.example", "203.0.113.150", "x%d@bad.example" % i,
                  [("r%d@far%d.example" % (i, k), False) for k in range(2)])
    exp.append({"kind": "open_relay_abuse", "client_ip": "203.0.113.150", "messages": 200,
                "recipients": 400})
    _ = r


def incident_backscatter(g, exp):
    """6. spam to unknown users accepted, then bounced to the forged senders."""
    r = g.r
    t = 86400 + 6 * 3600
    for i in range(150):
        tt = t + i * 240
        ip = "198.19.7.%d" % (1 + i % 20)
        q = g.qid()
        pid = g.newpid()
        forged = "victim%d@forged%d.example" % (i, i % 60)
        g.pf(tt, "smtpd", pid, "connect from unknown[%s]" % ip)
        g.pf(tt + 0.1, "smtpd", pid, "%s: client=unknown[%s]" % (q, ip))
        g.pf(tt + 0.2, "cleanup", 501, "%s: message-id=<%x@spam.example>" % (q, i))
        g.pf(tt + 0.3, "qmgr", 500, "%s: from=<%s>, size=3000, nrcpt=1 (queue active)" %
             (q, forged))
        g.deliver(tt + 0.4, q, "nobody%d@%s" % (i, DOMAIN), True, "bounced", dsn="5.1.1",
                  why="host mail.example.com[private/dovecot-lmtp] said: 550 5.1.1 "
                      "<nobody%d@example.com> User doesn't exist" % i)
        b = g.qid()
        g.pf(tt + 0.5, "bounce", 600, "%s: sender non-delivery notification: %s" % (q, b))
        g.pf(tt + 0.6, "qmgr", 500, "%s: removed" % q)
        g.pf(tt + 0.7, "cleanup", 501, "%s: message-id=<%s@mx1.example.com>" % (b, b))
        g.pf(tt + 0.8, "qmgr", 500, "%s: from=<>, size=5200, nrcpt=1 (queue active)" % b)
        st = r.choice(["sent", "deferred", "bounced"])
        g.deliver(tt + 1.5, b, forged, False, st)
        if st != "deferred":
            g.pf(tt + 1.6, "qmgr", 500, "%s: removed" % b)
    exp.append({"kind": "backscatter", "messages": 155})  # and the 5 real bounces


def incident_autoreply(g, exp):
    """7. bob@'s vacation answers 200 probes in four hours."""
    r = g.r
    t = 86400 + 8 * 3600
    for i in range(200):
        tt = t + i * 72
        g.message(tt, "unknown", "198.18.50.%d" % (1 + i % 200), "probe%d@probe%d.example" %
                  (i, i % 40), [("bob@%s" % DOMAIN, True)])
        g.dove(tt + 2, "lda(bob@%s)<%d><%08x>: sieve: msgid=<%x@probe.example>: sent vacation "
               "response to <probe%d@probe%d.example>" % (DOMAIN, g.newpid(),
                                                        r.getrandbits(32), i, i, i % 40))
    exp.append({"kind": "autoreply_flood", "account": "bob@%s" % DOMAIN, "messages": 200})


def corpus_kern(g, exp):
    """4. the infected desktop, among other firewall lines."""
    r = g.r
    out = []

    def k(t, prefix, src, dst, dpt, inn="lan0", outi="wan0", flags="SYN"):
        mac = "MAC=00:16:3e:aa:bb:cc:00:16:3e:11:22:33:08:00 " if inn else ""
        out.append((t, "%s gw kernel: [%d.%06d] %sIN=%s OUT=%s %sSRC=%s DST=%s LEN=60 TOS=0x00 "
                    "PREC=0x00 TTL=63 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 "
                    "%s URGP=0" % (rfc3339(t), int(t), r.randint(0, 999999), prefix, inn, outi,
                                   mac, src, dst, r.randint(1, 65535), r.randint(32768, 60999),
                                   dpt, flags)))
    dsts = ["192.0.2.%d" % i for i in range(1, 121)]
    t0 = 86400 + 9 * 3600
    for i in range(400):
        k(t0 + i * 70, "RG-SMTP-BLOCK ", "10.0.5.57", dsts[i % 120], 25)
    for i in range(600):  # the mail server's own connections: allowed and logged
        k(r.uniform(0, SPAN), "RG-SMTP-MAILSRV ", "10.0.0.2", r.choice(dsts), 25)
    for i in range(3):  # a laptop trying its provider's submission port
        k(t0 + i * 4000, "RG-SMTP-BLOCK ", "10.0.5.20", "198.51.100.250", 587)
    for i in range(2000):  # scans from outside, dropped on input
        k(r.uniform(0, SPAN), "[UFW BLOCK] ", "198.18.%d.%d" % (r.randint(0, 255),
                                                              r.randint(1, 254)),
          "192.0.2.1", r.choice([22, 23, 445, 3389, 25]), inn="wan0", outi="")
    for i in range(50):
        t = r.uniform(0, SPAN)
        out.append((t, "%s gw kernel: [%d.000000] usb 1-1: new high-speed USB device number %d "
                    "using xhci_hcd" % (rfc3339(t), int(t), i)))
    out.sort(key=lambda x: x[0])
    exp.append({"kind": "direct_smtp", "host": "10.0.5.57", "attempts": 400})
    return [x[1] for x in out]


def corpus_exim(g):
    """Exim main log: legitimate traffic, a brute force and a compromised account."""
    r = g.r
    users = ["%s@example.org" % n for n in FIRST[:20]]
    out = []
    seq = [0]

    def eid():
        seq[0] += 1
        a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        n = seq[0] * 7919 + 1000003

        def enc(v, w):
            s = ""
            for _ in range(w):
                s = a[v % 62] + s
                v //= 62
            return s
        return "%s-%s-%s" % (enc(n, 6), enc(n * 31, 6), enc(n, 2))

    def line(t, text):
        out.append((t, "%s %s" % (iso(t), text)))

    def msg(t, sender, ip, rcpts, user=None, statuses=None, host="client.example"):
        i = eid()
        auth = " P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:%s" % \
            user if user else " P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no"
        line(t, "%s <= %s H=%s (%s) [%s]:%d I=[192.0.2.2]:587%s S=%d id=%x@%s T=\"Re: "
             "the plan for next week\" for %s" % (i, sender, host, host, ip,
                                                  r.randint(1024, 65535), auth,
                                                  r.randint(800, 50000), r.getrandbits(40),
                                                  host, " ".join(x for x, _ in rcpts)))
        for k, (rc, local) in enumerate(rcpts):
            st = statuses[k] if statuses else "ok"
            if local:
                line(t + 1, "%s => %s <%s> R=local_user T=dovecot_lmtp" % (i, rc.split("@")[0],
                                                                           rc))
            elif st == "ok":
                line(t + 1, "%s => %s R=dnslookup T=remote_smtp H=mx.%s [192.0.2.%d] "
                     "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 OK\"" %
                     (i, rc, rc.split("@")[1], r.randint(30, 90)))
            else:
                line(t + 1, "%s ** %s R=dnslookup T=remote_smtp H=mx.%s [192.0.2.%d]: SMTP "
                     "error from remote mail server after RCPT TO:<%s>: 550 5.1.1 User unknown"
                     % (i, rc, rc.split("@")[1], r.randint(30, 90), rc))
        line(t + 2, "%s Completed" % i)

    # legitimate
    for day in (0, 86400):
        for u in users:
            for _ in range(r.randint(20, 40)):
                t = day + r.uniform(8 * 3600, 17 * 3600)
                msg(t, u, "192.0.2.%d" % (10 + users.index(u) % 3),
                    [("p%d@partner%d.example" % (r.randint(1, 50), r.randint(1, 30)), False)],
                    user=u)
        for _ in range(1500):
            t = day + r.uniform(0, 86400)
            msg(t, "n%d@partner%d.example" % (r.randint(1, 99), r.randint(1, 30)),
                "203.0.113.%d" % r.randint(1, 60), [(r.choice(users), True)],
                host="mx.partner.example")
        for _ in range(30):
            t = day + r.uniform(0, 86400)
            line(t, "H=(spam.example) [198.18.3.%d]:4242 I=[192.0.2.2]:25 F=<s@spam.example> "
                 "rejected RCPT <nobody@example.org>: Unrouteable address" % r.randint(1, 254))
    # brute force from 198.51.100.99, 6 tries on each of 20 accounts
    t = 3 * 3600
    for k in range(120):
        line(t + k * 30, "dovecot_login authenticator failed for (User) [198.51.100.99]:%d "
             "I=[192.0.2.2]:465 Ci=%d: 535 Incorrect authentication data (set_id=acct%d@"
             "example.org)" % (r.randint(1024, 65535), 30000 + k, k % 20))
    # office@ sends spam from 12 IPs in 5 networks
    nets = ["192.0.2.%d", "198.51.100.%d", "203.0.113.%d", "198.18.9.%d", "198.19.9.%d"]
    for k in range(500):
        ip = nets[k % 5] % (150 + k % 12)
        rc = [("v%d@dest%d.example" % (r.randint(1, 9999), r.randint(1, 200)), False)
              for _ in range(3)]
        st = ["fail" if r.random() < 0.45 else "ok" for _ in rc]
        msg(86400 + 20 * 3600 + k * 15, "office@example.org", ip, rc, user="office@example.org",
            statuses=st)
    out.sort(key=lambda x: x[0])
    return [x[1] for x in out], [
        {"kind": "compromised_account", "account": "office@example.org"},
        {"kind": "brute_force", "client_ip": "198.51.100.99", "failures": 120,
         "accounts_tried": 20, "succeeded": []},
    ]


def corpus(outdir, seed):
    os.makedirs(outdir, exist_ok=True)
    g = Gen(seed)
    corpus_mail(g)
    exp_mail = []
    incident_guessed(g, exp_mail)
    incident_phished(g, exp_mail)
    incident_bruteforce(g, exp_mail)
    incident_relay(g, exp_mail)
    incident_backscatter(g, exp_mail)
    incident_autoreply(g, exp_mail)
    g.lines.sort()
    with open(os.path.join(outdir, "mail.log"), "w") as f:
        f.write("".join(x[2] + "\n" for x in g.lines))
    exp_kern = []
    with open(os.path.join(outdir, "kern.log"), "w") as f:
        f.write("".join(x + "\n" for x in corpus_kern(g, exp_kern)))
    exim, exp_exim = corpus_exim(g)
    with open(os.path.join(outdir, "exim_mainlog"), "w") as f:
        f.write("".join(x + "\n" for x in exim))
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump({"mail.log+kern.log": exp_mail + exp_kern, "exim_mainlog": exp_exim}, f,
                  indent=1, sort_keys=True)
        f.write("\n")


# ---- the benchmark log ----

def bench(path, mb, seed):
    """One busy hour (about 55 MB), generated once with placeholders, then
    written again for each following hour with its own stamps and queue IDs."""
    r = random.Random(seed)
    users = ["u%d@corp%d.example" % (i, i % 50) for i in range(6000)]
    mtas = ["203.0.113.%d" % i for i in range(1, 255)] + ["198.51.100.%d" % i
                                                          for i in range(1, 255)]
    lines = []
    n = 0
    target = min(420000, max(4000, mb * 7900))  # an hour, or less for a small file
    while len(lines) < target:
        n += 1
        q = "QQ%08X" % n  # QQ: replaced by the hour's two hex digits
        mm, ss = r.randint(0, 59), r.randint(0, 58)
        ts = "HOUR:%02d:%02d" % (mm, ss)
        ts2 = "HOUR:%02d:%02d" % (mm, ss + 1)
        pid = r.randint(1000, 60000)
        if r.random() < 0.35:
            k = r.randrange(len(users))
            u = users[k]
            ip = "192.0.2.%d" % (1 + k % 254)  # each account works from one place
            d = "submission/smtpd"
            client = "client.example[%s]" % ip
            sasl = ", sasl_method=PLAIN, sasl_username=%s" % u
            sender = u
            rc = "r%d@ext%d.example" % (r.randint(1, 999), r.randint(1, 999))
            dl = ("%s %s postfix/smtp[%d]: %s: to=<%s>, relay=mx.ext.example[192.0.2.77]:25, "
                  "delay=0.9, delays=0.1/0/0.4/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: "
                  "queued as 4F3A2B1C0D)" % (ts2, HOST, pid + 3, q, rc))
        else:
            ip = r.choice(mtas)
            d = "smtpd"
            client = "mx%d.partner.example[%s]" % (r.randint(1, 99), ip)
            sasl = ""
            sender = "n%d@partner%d.example" % (r.randint(1, 999), r.randint(1, 99))
            rc = r.choice(users)
            dl = ("%s %s postfix/lmtp[%d]: %s: to=<%s>, relay=mail.example.com[private/"
                  "dovecot-lmtp], delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 "
                  "2.0.0 <%s> Saved)" % (ts2, HOST, pid + 3, q, rc, rc))
        lines += [
            "%s %s postfix/%s[%d]: connect from %s" % (ts, HOST, d, pid, client),
            "%s %s postfix/%s[%d]: Anonymous TLS connection established from %s: TLSv1.3 with "
            "cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" % (ts, HOST, d, pid, client),
            "%s %s postfix/%s[%d]: %s: client=%s%s" % (ts, HOST, d, pid, q, client, sasl),
            "%s %s postfix/cleanup[%d]: %s: message-id=<%x@%s>" % (ts, HOST, pid + 1, q,
                                                                  r.getrandbits(48),
                                                                  "mail.example"),
            "%s %s postfix/qmgr[%d]: %s: from=<%s>, size=%d, nrcpt=1 (queue active)" %
            (ts, HOST, 500, q, sender, r.randint(900, 90000)),
            dl,
            "%s %s postfix/qmgr[%d]: %s: removed" % (ts2, HOST, 500, q),
            "%s %s postfix/%s[%d]: disconnect from %s ehlo=1%s mail=1 rcpt=1 data=1 quit=1 "
            "commands=%d" % (ts2, HOST, d, pid, client, " auth=1" if sasl else "",
                             5 if sasl else 4),
        ]
        if r.random() < 0.02:
            lines.append("%s %s postfix/smtpd[%d]: warning: unknown[198.18.%d.%d]: SASL LOGIN "
                         "authentication failed: UGFzc3dvcmQ6" % (ts, HOST, pid + 7,
                                                                 r.randint(0, 255),
                                                                 r.randint(1, 254)))
    lines.sort(key=lambda s: s[5:10])  # by minute:second within the hour
    chunk = ("\n".join(lines) + "\n").encode()
    want = mb * 1000 * 1000
    written = 0
    hour = 0
    with open(path, "wb") as f:
        while written < want:
            d = datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc) + \
                datetime.timedelta(hours=hour)
            stamp = ("%s %2d %02d" % (MONTHS[d.month - 1], d.day, d.hour)).encode()
            c = chunk.replace(b"HOUR", stamp).replace(b"QQ", b"%02X" % (hour % 256))
            f.write(c)
            written += len(c)
            hour += 1
    return written


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("outdir")
    c.add_argument("--seed", type=int, default=2026)
    b = sub.add_parser("bench")
    b.add_argument("outfile")
    b.add_argument("--mb", type=int, default=1100)
    b.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    if a.cmd == "corpus":
        corpus(a.outdir, a.seed)
    else:
        n = bench(a.outfile, a.mb, a.seed)
        print("%s: %d bytes" % (a.outfile, n), file=sys.stderr)


if __name__ == "__main__":
    main()
