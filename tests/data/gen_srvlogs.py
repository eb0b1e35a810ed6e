#!/usr/bin/python3
"""gen_srvlogs.py: the sample sets of the Windows mail servers of the articles
(Microsoft Exchange, MailEnable, Kerio Connect), one scenario written in each
server's own log format (the formats and their sources: README.md of each
directory).

    gen_srvlogs.py OUTDIR      writes OUTDIR/exchange, OUTDIR/mailenable, OUTDIR/kerio

Each file is written gzip-compressed (NAME.gz, no time stamp in the gzip
header, so the bytes are the same on every run); relayguard logscan reads
gzip as it reads plain files. tests/data/{exchange,mailenable,kerio}/ are this
script's output.

Deterministic (fixed seed). Addresses are from the documentation ranges
(RFC 5737) and the private ranges; domains end in .example.

Three days (2026-12-01 to 2026-12-03) of corp.example: ten people send mail
from home (authenticated submission) and the office LAN, mail comes in for
them; a couple of typed-wrong passwords. Planted (the same in every format):
  1. guessed password: 203.0.113.66 fails 150 logins (day 2, 01:00), then logs
     in as sales@corp.example and sends 20 messages
  2. compromised account: maria@corp.example logs in from 15 IPs in five
     networks (day 2, 14:00) and sends 300 messages to 4 recipients each,
     40% of them refused
  3. open relay: 203.0.113.150, not authenticated, relays 80 messages (day 2,
     20:00) to 2 remote recipients each
  4. auto-reply flood: bob@corp.example answers 150 probes with forged senders
     in two hours (day 3, 09:00); MailEnable's activity log does not name the
     account of an auto-response, so there the replies are null-sender mail
     to 150 remote addresses (backscatter)
"""
import datetime
import gzip
import os
import random
import sys

DOMAIN = "corp.example"
BASE = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
DAYS = 3
USERS = ["anna", "ben", "carl", "dora", "emil", "fay", "gus", "hana", "bob", "sales"]
LAN = "10.0.5.%d"
MX_IP = "10.0.0.6"
REMOTE_MX = "192.0.2.40"
BOT = "203.0.113.66"
RELAY = "203.0.113.150"
MARIA = "maria@" + DOMAIN
SALES = "sales@" + DOMAIN
BOB = "bob@" + DOMAIN


def scenario(r):
    """Abstract events, sorted by time (seconds from BASE)."""
    ev = []
    users = USERS + ["maria"]
    # legitimate traffic
    for day in range(DAYS):
        for k, u in enumerate(users):
            addr = "%s@%s" % (u, DOMAIN)
            for j in range(5):
                t = day * 86400 + 8 * 3600 + k * 600 + j * 5400 + r.randint(0, 300)
                home = j % 2 == 0
                ip = "198.51.100.%d" % (10 + k) if home else LAN % (20 + k)
                rc = ["p%d@partner%d.example" % (r.randint(1, 99), r.randint(1, 9))
                      for _ in range(1 + j % 2)]
                ev.append((t, "submit", ip, addr if home else None, addr, rc,
                           ["sent"] * len(rc)))
            # a password typed wrong once, then right
            if k % 4 == 0:
                t = day * 86400 + 7 * 3600 + k * 60
                ev.append((t, "auth_fail", "198.51.100.%d" % (10 + k), addr))
        for i in range(60):
            t = day * 86400 + r.randint(0, 86399)
            u = users[r.randrange(len(users))]
            ev.append((t, "inbound", "198.18.%d.%d" % (r.randint(1, 9), r.randint(1, 250)),
                       "news%d@sender%d.example" % (i, i % 7), "%s@%s" % (u, DOMAIN)))
    # relay attempts the server refused (it is no open relay for them)
    for day in range(DAYS):
        for i in range(6):
            t = day * 86400 + 3 * 3600 + i * 700
            ev.append((t, "relay_refused", "198.18.99.%d" % (7 + day), "spam%d@bad.example" % i,
                       "victim%d@elsewhere.example" % i))
    # 1. guessed password
    t0 = 86400 + 3600
    tried = ["admin", "info", "office", "sales", "support", "test", "mail", "web"]
    for i in range(150):
        ev.append((t0 + i * 15, "auth_fail", BOT, "%s@%s" % (tried[i % len(tried)], DOMAIN)))
    ts = t0 + 150 * 15 + 120
    for i in range(20):
        rc = ["x%d@target%d.example" % (i, k) for k in range(2)]
        ev.append((ts + i * 40, "submit", BOT, SALES, SALES, rc, ["sent", "sent"]))
    # 2. compromised account
    nets = ["192.0.2.%d", "198.51.100.%d", "203.0.113.%d", "198.18.200.%d", "198.19.201.%d"]
    ips = [nets[i % 5] % (200 + i) for i in range(15)]
    t0 = 86400 + 14 * 3600
    for i in range(300):
        rc = ["v%d@target%d.example" % (r.randint(1, 99999), r.randint(1, 400))
              for _ in range(4)]
        st = ["bounced" if r.random() < 0.4 else "sent" for _ in rc]
        ev.append((t0 + i * 20, "submit", ips[i % 15], MARIA, MARIA, rc, st))
    # 3. open relay
    t0 = 86400 + 20 * 3600
    for i in range(80):
        rc = ["r%d@far%d.example" % (i, k) for k in range(2)]
        ev.append((t0 + i * 30, "relay", RELAY, "x%d@bad.example" % i, rc))
    # 4. auto-reply flood
    t0 = 2 * 86400 + 9 * 3600
    for i in range(150):
        probe = "probe%d@forged%d.example" % (i, i % 40)
        ev.append((t0 + i * 48, "inbound", "198.18.50.%d" % (1 + i % 200), probe, BOB))
        ev.append((t0 + i * 48 + 3, "autoreply", BOB, probe))
    ev.sort(key=lambda e: e[0])
    return ev


def write(path, text, newline="\n"):
    """text to path + ".gz", deterministic (mtime 0)."""
    with open(path + ".gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(text.encode("utf-8"))


def when(t):
    return BASE + datetime.timedelta(seconds=t)


# ---- Microsoft Exchange ----

# Exchange 2010 (#Version: 14.0.0.0): the Hub Transport server receives the
# clients itself, so its protocol log's session IDs are the tracking log's
# source-context (2013 and later split this between Front End and Mailbox).
TRK_FIELDS = ("date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
              "connector-id,source,event-id,internal-message-id,message-id,"
              "recipient-address,recipient-status,total-bytes,recipient-count,"
              "related-recipient-address,reference,message-subject,sender-address,return-path,"
              "message-info,directionality,tenant-id,original-client-ip,original-server-ip,"
              "custom-data")
RECV_FIELDS = ("date-time,connector-id,session-id,sequence-number,local-endpoint,"
               "remote-endpoint,event,data,context")


def csvq(v):
    if any(c in v for c in ',"'):
        return '"' + v.replace('"', '""') + '"'
    return v


def exchange(ev, out, r):
    os.makedirs(out, exist_ok=True)
    recv = {d: [] for d in range(DAYS)}
    trk = {d: [] for d in range(DAYS)}
    sid = [0x08DF3A2B00000000]
    mid = [40000]

    def iso(t):
        return when(t).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % int((t % 1) * 1000)

    def session(t, ip, lines, port):
        sid[0] += 1
        s = "%016X" % sid[0]
        conn = "EX01\\Client EX01" if port == 587 else "EX01\\Default EX01"
        rows = [("+", "", "")] + lines + [("-", "", "Local")]
        cport = r.randint(40000, 65000)
        for n, (e, data, ctx) in enumerate(rows):
            recv[int(t // 86400)].append((t + n * 0.01, ",".join([
                iso(t + n * 0.01), csvq(conn), s, str(n), "%s:%d" % (MX_IP, port),
                "%s:%d" % (ip, cport), e, csvq(data), csvq(ctx)])))
        return s

    def track(t, cols):
        row = dict.fromkeys(TRK_FIELDS.split(","), "")
        row.update(cols)
        row["date-time"] = iso(t)
        trk[int(t // 86400)].append((t, ",".join(csvq(row[f]) for f in TRK_FIELDS.split(","))))

    for e in ev:
        t, kind = e[0], e[1]
        if kind == "auth_fail":
            session(t, e[2], [("<", "EHLO client.example", ""), ("<", "AUTH LOGIN", ""),
                              (">", "334 VXNlcm5hbWU6", ""), (">", "334 UGFzc3dvcmQ6", ""),
                              (">", "535 5.7.3 Authentication unsuccessful", "")], 587)
            continue
        if kind == "relay_refused":
            session(t, e[2], [("<", "EHLO bad.example", ""), ("<", "MAIL FROM:<%s>" % e[3], ""),
                              (">", "250 2.1.0 Sender OK", ""), ("<", "RCPT TO:<%s>" % e[4], ""),
                              (">", "550 5.7.1 Unable to relay", "")], 25)
            continue
        mid[0] += 1
        imid = str(mid[0])
        msgid = "<%d.%x@%s>" % (mid[0], r.getrandbits(32), DOMAIN)
        if kind == "submit":
            _, _, ip, user, sender, rcpts, st = e
            ctx_time = iso(t)
            if user:
                s = session(t, ip, [("<", "EHLO client.example", ""), ("<", "AUTH LOGIN", ""),
                                    ("*", user, "authenticated"),
                                    (">", "235 2.7.0 Authentication successful", ""),
                                    ("<", "MAIL FROM:<%s>" % sender, ""),
                                    ("*", "%016X;%s;1" % (sid[0] + 1, ctx_time),
                                     "receiving message")], 587)
            else:
                sid[0] += 1
                s = "%016X" % sid[0]
            track(t + 1, {"client-ip": ip, "client-hostname": "client.example",
                          "server-ip": MX_IP, "server-hostname": "EX01",
                          "source-context": "%s;%s;0" % (s, ctx_time),
                          "connector-id": "EX01\\Client EX01" if user else
                          "EX01\\Default EX01", "source": "SMTP", "event-id": "RECEIVE",
                          "internal-message-id": imid, "message-id": msgid,
                          "recipient-address": ";".join(rcpts),
                          "recipient-count": str(len(rcpts)), "total-bytes": "4211",
                          "message-subject": "Offer, today only" if user == MARIA else
                          "Minutes of the meeting", "sender-address": sender,
                          "return-path": sender, "directionality": "Originating"})
            sent = [x for x, s2 in zip(rcpts, st) if s2 == "sent"]
            bad = [x for x, s2 in zip(rcpts, st) if s2 != "sent"]
            if sent:
                track(t + 2, {"server-ip": REMOTE_MX, "server-hostname": "mx.partner.example",
                              "source-context": "08DF3A2B0000FFFF;250 2.6.0", "connector-id":
                              "Internet", "source": "SMTP", "event-id": "SEND",
                              "internal-message-id": imid, "message-id": msgid,
                              "recipient-address": ";".join(sent),
                              "recipient-status": ";".join("250 2.1.5 Recipient OK"
                                                           for _ in sent),
                              "recipient-count": str(len(sent)), "total-bytes": "4211",
                              "sender-address": sender, "return-path": sender,
                              "directionality": "Originating"})
            for x in bad:
                track(t + 2.5, {"server-ip": REMOTE_MX, "source": "SMTP", "event-id": "FAIL",
                                "internal-message-id": imid, "message-id": msgid,
                                "recipient-address": x, "recipient-status":
                                "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
                                "recipient-count": "1", "sender-address": sender,
                                "return-path": sender, "directionality": "Originating"})
        elif kind == "relay":
            _, _, ip, sender, rcpts = e
            sid[0] += 1
            track(t, {"client-ip": ip, "client-hostname": "bad.example", "server-ip": MX_IP,
                      "source-context": "%016X;%s;0" % (sid[0], iso(t)),
                      "connector-id": "EX01\\Relay EX01", "source": "SMTP",
                      "event-id": "RECEIVE", "internal-message-id": imid, "message-id": msgid,
                      "recipient-address": ";".join(rcpts), "recipient-count": str(len(rcpts)),
                      "total-bytes": "1800", "message-subject": "Your invoice",
                      "sender-address": sender, "return-path": sender,
                      "directionality": "Incoming"})
            track(t + 1, {"server-ip": REMOTE_MX, "source": "SMTP", "event-id": "SEND",
                          "connector-id": "Internet", "internal-message-id": imid,
                          "message-id": msgid, "recipient-address": ";".join(rcpts),
                          "recipient-status": ";".join("250 OK" for _ in rcpts),
                          "recipient-count": str(len(rcpts)), "sender-address": sender,
                          "return-path": sender, "directionality": "Incoming"})
        elif kind == "inbound":
            _, _, ip, sender, rcpt = e
            sid[0] += 1
            track(t, {"client-ip": ip, "server-ip": MX_IP,
                      "source-context": "%016X;%s;0" % (sid[0], iso(t)),
                      "connector-id": "EX01\\Default EX01", "source": "SMTP",
                      "event-id": "RECEIVE", "internal-message-id": imid, "message-id": msgid,
                      "recipient-address": rcpt, "recipient-count": "1", "total-bytes": "9100",
                      "message-subject": "News", "sender-address": sender,
                      "return-path": sender, "directionality": "Incoming"})
            track(t + 1, {"server-ip": MX_IP, "source": "STOREDRIVER", "event-id": "DELIVER",
                          "internal-message-id": imid, "message-id": msgid,
                          "recipient-address": rcpt, "recipient-status": "250 2.0.0 Delivered",
                          "recipient-count": "1", "sender-address": sender,
                          "return-path": sender, "directionality": "Incoming"})
        elif kind == "autoreply":
            _, _, user, to = e
            track(t, {"server-ip": MX_IP, "server-hostname": "EX01",
                      "source-context": "MDB:0f6e2c1a-5b1e-4c1e-9f7e-1c2d3e4f5a6b, Mailbox:"
                      "2b3c4d5e-6f70-4a81-92a3-b4c5d6e7f809, Event:%d, MessageClass:IPM.Note."
                      "Rules.OofTemplate.Microsoft, CreationTime:%s, ClientType:Transport"
                      % (mid[0], iso(t)), "source": "STOREDRIVER", "event-id": "RECEIVE",
                      "internal-message-id": imid, "message-id": msgid,
                      "recipient-address": to, "recipient-count": "1", "total-bytes": "3300",
                      "message-subject": "Automatic reply: Your parcel", "sender-address": user,
                      "return-path": "<>", "directionality": "Originating"})
            track(t + 1, {"server-ip": REMOTE_MX, "source": "SMTP", "event-id": "SEND",
                          "connector-id": "Internet", "internal-message-id": imid,
                          "message-id": msgid, "recipient-address": to,
                          "recipient-status": "250 OK", "recipient-count": "1",
                          "sender-address": user, "return-path": "<>",
                          "directionality": "Originating"})
    files = []
    for d in range(DAYS):
        day = when(d * 86400).strftime("%Y%m%d")
        for name, rows, ltype, fields in (
                ("RECV%s-1.LOG" % day, recv[d], "SMTP Receive Protocol Log", RECV_FIELDS),
                ("MSGTRK%s-1.LOG" % day, trk[d], "Message Tracking Log", TRK_FIELDS)):
            rows.sort(key=lambda x: x[0])
            head = ["#Software: Microsoft Exchange Server", "#Version: 14.0.0.0",
                    "#Log-type: " + ltype, "#Date: " + when(d * 86400).strftime(
                        "%Y-%m-%dT%H:%M:%S.000Z"), "#Fields: " + fields]
            write(os.path.join(out, name),
                  "\ufeff" + "\r\n".join(head + [x[1] for x in rows]) + "\r\n")
            files.append(name)
    return files


# ---- MailEnable ----

def mailenable(ev, out, r):
    os.makedirs(out, exist_ok=True)
    days = {d: [] for d in range(DAYS)}
    n = [0]

    def mai():
        n[0] += 1
        return "%032X.MAI" % (0x40B24E176E7A4DA0BA22B600D6080000 + n[0] * 7919)

    def row(t, d, f, sock, ip, cmd, arg, reply, acct=""):
        s = when(t).strftime("%m/%d/%y %H:%M:%S")
        days[int(t // 86400)].append((t, "\t".join([s, d, f, str(sock), ip, cmd, arg, reply,
                                                     str(len(reply) + 2), str(len(arg) + 2),
                                                     acct])))

    def deliver(t, f, sender, rcpts, st):
        sock = r.randint(900, 3000)
        row(t, "SMTP-OU", f, sock, REMOTE_MX, "MAIL", "MAIL FROM:<%s>" % sender,
            "250 2.1.0 Ok")
        for x, s in zip(rcpts, st):
            row(t + 0.1, "SMTP-OU", f, sock, REMOTE_MX, "RCPT", "RCPT TO:<%s>" % x,
                "250 2.1.5 Ok" if s == "sent" else "550 5.1.1 <%s>: Recipient address "
                "rejected: User unknown" % x)
        row(t + 0.2, "SMTP-OU", f, sock, REMOTE_MX, "DATA", "DATA",
            "354 End data with <CR><LF>.<CR><LF>")

    def session_in(t, ip, user, sender, rcpts, auth=True):
        f = mai()
        sock = r.randint(200, 900)
        row(t, "SMTP-IN", f, sock, ip, "", "",
            "220 mail.corp.example ESMTP MailEnable Service, Version: 10.44-- ready at " +
            when(t).strftime("%m/%d/%y %H:%M:%S"), "")
        row(t, "SMTP-IN", f, sock, ip, "EHLO", "EHLO client",
            "250-mail.corp.example [%s], this server offers 4 extensions" % ip)
        acct = ""
        if auth and user:
            row(t, "SMTP-IN", f, sock, ip, "AUTH", "AUTH LOGIN", "334 VXNlcm5hbWU6")
            row(t, "SMTP-IN", f, sock, ip, "AUTH", "{blank}", "334 UGFzc3dvcmQ6", user)
            row(t, "SMTP-IN", f, sock, ip, "AUTH", "{blank}", "235 Authenticated", user)
            acct = user
        row(t, "SMTP-IN", f, sock, ip, "MAIL", "MAIL FROM:<%s>" % sender,
            "250 Requested mail action okay, completed", acct)
        for x in rcpts:
            row(t, "SMTP-IN", f, sock, ip, "RCPT", "RCPT TO:<%s>" % x,
                "250 Requested mail action okay, completed", acct)
        row(t, "SMTP-IN", f, sock, ip, "DATA", "DATA",
            "354 Start mail input; end with <CRLF>.<CRLF>", acct)
        row(t + 0.5, "SMTP-IN", mai(), sock, ip, "QUIT", "QUIT",
            "221 Service closing transmission channel", acct)
        return f

    for e in ev:
        t, kind = e[0], e[1]
        if kind == "auth_fail":
            f = mai()
            sock = r.randint(200, 900)
            row(t, "SMTP-IN", f, sock, e[2], "EHLO", "EHLO client",
                "250-mail.corp.example [%s], this server offers 4 extensions" % e[2])
            row(t, "SMTP-IN", f, sock, e[2], "AUTH", "AUTH LOGIN", "334 VXNlcm5hbWU6")
            row(t, "SMTP-IN", f, sock, e[2], "AUTH", "{blank}", "334 UGFzc3dvcmQ6", e[3])
            row(t, "SMTP-IN", f, sock, e[2], "AUTH", "{blank}",
                "535 Invalid Username or Password", e[3])
        elif kind == "relay_refused":
            _, _, ip, sender, rcpt = e
            f = mai()
            sock = r.randint(200, 900)
            row(t, "SMTP-IN", f, sock, ip, "EHLO", "EHLO bad.example",
                "250-mail.corp.example [%s], this server offers 4 extensions" % ip)
            row(t, "SMTP-IN", f, sock, ip, "MAIL", "MAIL FROM:<%s>" % sender,
                "250 Requested mail action okay, completed")
            row(t, "SMTP-IN", f, sock, ip, "RCPT", "RCPT TO:<%s>" % rcpt,
                "503 This mail server requires authentication when attempting to send to a "
                "non-local e-mail address. Please check your mail client settings or contact "
                "your administrator to verify that the domain or address is defined for this "
                "server.")
        elif kind == "submit":
            _, _, ip, user, sender, rcpts, st = e
            f = session_in(t, ip, user, sender, rcpts)
            deliver(t + 2, f, sender, rcpts, st)
        elif kind == "relay":
            _, _, ip, sender, rcpts = e
            f = session_in(t, ip, None, sender, rcpts, auth=False)
            deliver(t + 2, f, sender, rcpts, ["sent"] * len(rcpts))
        elif kind == "inbound":
            _, _, ip, sender, rcpt = e
            session_in(t, ip, None, sender, [rcpt], auth=False)
        elif kind == "autoreply":
            _, _, user, to = e
            deliver(t, mai(), "", [to], ["sent"])
    files = []
    for d in range(DAYS):
        name = "SMTP-Activity-%s.log" % when(d * 86400).strftime("%y%m%d")
        rows = sorted(days[d], key=lambda x: x[0])
        write(os.path.join(out, name), "\r\n".join(x[1] for x in rows) + "\r\n")
        files.append(name)
    return files


# ---- Kerio Connect ----

def kerio(ev, out, r):
    os.makedirs(out, exist_ok=True)
    sec, mail = [], []
    q = [0x6929f3a5 << 32]

    def stamp(t):
        return when(t).strftime("[%d/%b/%Y %H:%M:%S]")

    def qid():
        q[0] += 1
        return "%08x-%08x" % (q[0] >> 32, q[0] & 0xffffffff)

    def sent(t, i, x, s):
        if s == "sent":
            mail.append((t, "%s Sent: Queue-ID: %s, Recipient: <%s>, Result: relayed, "
                            "Status: 2.0.0, Remote-Host: %s" % (stamp(t), i, x, REMOTE_MX)))
        else:
            mail.append((t, "%s Sent: Queue-ID: %s, Recipient: <%s>, Result: failed, "
                            "Status: 5.1.1, Remote-Host: %s" % (stamp(t), i, x, REMOTE_MX)))

    for e in ev:
        t, kind = e[0], e[1]
        if kind == "auth_fail":
            ip, user = e[2], e[3]
            if ip == BOT and user.split("@")[0] in ("test", "web", "mail"):
                sec.append((t, "%s SMTP: User %s doesn't exist. Attempt from IP address %s." %
                            (stamp(t), user, ip)))
            else:
                sec.append((t, "%s Failed SMTP login from %s with SASL method LOGIN." %
                            (stamp(t), ip)))
        elif kind == "relay_refused":
            _, _, ip, sender, rcpt = e
            sec.append((t, "%s Relay attempt from IP address %s, mail from <%s> to <%s> rejected"
                        % (stamp(t), ip, sender, rcpt)))
        elif kind == "submit":
            _, _, ip, user, sender, rcpts, st = e
            i = qid()
            mail.append((t, "%s Recv: Queue-ID: %s, Service: SMTP, From: <%s>, To: %s, "
                            "Size: 4211, %sSender-Host: %s, SSL: yes" % (
                                stamp(t), i, sender, ", ".join("<%s>" % x for x in rcpts),
                                "User: %s, " % user if user else "", ip)))
            for x, s in zip(rcpts, st):
                sent(t + 2, i, x, s)
        elif kind == "relay":
            _, _, ip, sender, rcpts = e
            i = qid()
            mail.append((t, "%s Recv: Queue-ID: %s, Service: SMTP, From: <%s>, To: %s, "
                            "Size: 1800, Sender-Host: %s, SSL: no" % (
                                stamp(t), i, sender, ", ".join("<%s>" % x for x in rcpts), ip)))
            for x in rcpts:
                sent(t + 2, i, x, "sent")
        elif kind == "inbound":
            _, _, ip, sender, rcpt = e
            i = qid()
            mail.append((t, "%s Recv: Queue-ID: %s, Service: SMTP, From: <%s>, To: <%s>, "
                            "Size: 9100, Sender-Host: %s, SSL: no" % (stamp(t), i, sender,
                                                                      rcpt, ip)))
            mail.append((t + 1, "%s Sent: Queue-ID: %s, Recipient: <%s>, Result: delivered, "
                                "Status: 2.0.0" % (stamp(t + 1), i, rcpt)))
        elif kind == "autoreply":
            _, _, user, to = e
            i = qid()
            mail.append((t, "%s Recv: Queue-ID: %s, From: <>, To: <%s>, Size: 812, User: %s" %
                            (stamp(t), i, to, user)))
            sent(t + 1, i, to, "sent")
    for name, rows in (("security.log", sec), ("mail.log", mail)):
        rows.sort(key=lambda x: x[0])
        write(os.path.join(out, name), "\n".join(x[1] for x in rows) + "\n")
    return ["security.log", "mail.log"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    ev = scenario(random.Random(1717))
    exchange(ev, os.path.join(out, "exchange"), random.Random(1))
    mailenable(ev, os.path.join(out, "mailenable"), random.Random(2))
    kerio(ev, os.path.join(out, "kerio"), random.Random(3))


if __name__ == "__main__":
    main()
