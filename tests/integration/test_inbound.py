"""The inbound listener end to end (relayguard serve): DNSBL scoring with the
list named, the recipient list, SPF recorded; then what the internal server
sends back out through the relay listener, judged by the inbound memory:
auto-replies to a probe (one reply, none when SPF fails), quota notices
(held for a forged sender, queued for a verified one), forwards of spam
(held) and of clean mail (queued).

DNS: one rbldnsd on loopback serves the DNSBLs and the SPF records. Clients
come from different loopback addresses (127.0.0.0/8 is all local on Linux);
relayguard delivers the local domains to a test internal server (which
auto-replies, sends quota notices and forwards, through the relay listener)
and everything else to smtp-sink, "the Internet"; held messages stay in the
spool with their reason (docs/queue.md).
"""
import email
import queue
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import RG_BIN
from rbldnsd import rbldnsd_factory  # noqa: F401 (fixture)
from sink import Sink
from test_smtpd import Gateway

SITES = ("zen.spamhaus.org=127.0.0.[2..11]*3, bl.spamcop.net*2, "
         "list.dnswl.org=127.0.[0..255].[1..3]*-5")
LISTED, ALLOWED, ERRCODE, CLEAN, SPAMMY = ("127.0.0.10", "127.0.0.11", "127.0.0.12",
                                           "127.0.0.20", "127.0.0.30")
ZONES = {
    "zen.spamhaus.org": [("ip4set", [":127.0.0.2:SBL $", "127.0.0.2", LISTED, ALLOWED,
                                     ":127.255.255.254:public resolver", ERRCODE])],
    "bl.spamcop.net": [("ip4set", [":127.0.0.2:spamcop $", "127.0.0.2", SPAMMY])],
    "list.dnswl.org": [("ip4set", [":127.0.10.2:dnswl $", "127.0.0.2", ALLOWED])],
    "good.example": [("generic", ['@ TXT "v=spf1 ip4:127.0.0.0/8 -all"', "@ A 192.0.2.1"])],
    "forged.example": [("generic", ['@ TXT "v=spf1 ip4:192.0.2.1 -all"', "@ A 192.0.2.1"])],
    "nospf.example": [("generic", ["@ A 192.0.2.1"])],
}


class Client:
    """A minimal SMTP client that can connect from a chosen loopback address."""

    def __init__(self, port, source="127.0.0.1"):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                          source_address=(source, 0))
        self.f = self.s.makefile("rb")
        self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline().decode()
            assert line, "connection closed"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def send(self, sender, rcpt, headers, helo="client.test"):
        assert self.cmd("EHLO " + helo)[0] == 250
        code, text = self.cmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            return code, text
        code, text = self.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            self.cmd("RSET")
            return code, text
        assert self.cmd("DATA")[0] == 354
        body = "".join("%s: %s\r\n" % h for h in headers) + "\r\nhello\r\n.\r\n"
        self.s.sendall(body.encode())
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, AssertionError):
            pass
        self.s.close()


@pytest.fixture(scope="module")
def dns(rbldnsd_factory):  # noqa: F811
    return rbldnsd_factory(ZONES, ipv6=False)


class Internal:
    """The organisation's internal mail server, as a test: it takes what
    relayguard delivers to the local domains and reacts as real ones do:
    alice@ has a vacation auto-responder that answers every message,
    full@ is over quota (a notice to the sender), fwd@ is forwarded to
    fwd@elsewhere.example with the original envelope sender and Message-ID.
    What it sends goes out through relayguard's relay listener."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.received = []
        self.actions = queue.Queue()
        self.relay_port = None
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()
        threading.Thread(target=self.act_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 internal.local.test ESMTP\r\n")
        sender, rcpts = None, []
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip()
                up = cmd.upper()
                if up.startswith("EHLO") or up.startswith("HELO"):
                    conn.sendall(b"250-internal.local.test\r\n250 8BITMIME\r\n")
                elif up.startswith("MAIL FROM:"):
                    sender = cmd[10:].strip().split(" ")[0].strip("<>")
                    rcpts = []
                    conn.sendall(b"250 ok\r\n")
                elif up.startswith("RCPT TO:"):
                    rcpts.append(cmd[8:].strip().split(" ")[0].strip("<>").lower())
                    conn.sendall(b"250 ok\r\n")
                elif up == "DATA":
                    conn.sendall(b"354 go\r\n")
                    data = b""
                    while True:
                        l2 = f.readline()
                        if not l2 or l2 in (b".\r\n", b".\n"):
                            break
                        data += l2[1:] if l2.startswith(b"..") else l2
                    msg = email.message_from_bytes(data)
                    self.received.append((sender, rcpts, msg))
                    for r in rcpts:
                        self.actions.put((sender, r, msg))
                    conn.sendall(b"250 queued\r\n")
                elif up == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass  # relayguard closed a reused connection: fine
        finally:
            conn.close()

    def act_loop(self):
        while True:
            sender, rcpt, msg = self.actions.get()
            try:
                self.act(sender, rcpt, msg)
            except Exception as e:  # noqa: BLE001 - a test helper reports, never dies
                self.received.append(("error", [str(e)], None))

    def act(self, sender, rcpt, msg):
        mid = msg.get("Message-ID", "")
        if rcpt == "alice@local.test" and sender:
            hdrs = [("From", "alice@local.test"), ("To", sender),
                    ("Subject", "Out of office: " + msg.get("Subject", "")),
                    ("Auto-Submitted", "auto-replied"), ("In-Reply-To", mid)]
            send_out(self.relay_port, "", sender, hdrs)
        elif rcpt == "full@local.test" and sender:
            hdrs = [("From", "postmaster@local.test"), ("To", sender),
                    ("Subject", "Undelivered: mailbox full"),
                    ("Auto-Submitted", "auto-generated")]
            send_out(self.relay_port, "", sender, hdrs)
        elif rcpt == "fwd@local.test":
            hdrs = [(k, v) for k, v in msg.items() if k.lower() != "received"]
            send_out(self.relay_port, sender, "fwd@elsewhere.example", hdrs)

    def stop(self):
        self.stopping = True
        self.srv.close()


def send_out(port, sender, rcpt, headers):
    c = Client(port)
    r = c.send(sender, rcpt, headers, helo="internal.local.test")
    c.close()
    return r


@pytest.fixture
def world(tmp_path, dns):
    """relayguard (inbound mx and relay listeners) between the Internet (test
    clients in, smtp-sink out) and the internal server."""
    users = tmp_path / "local-users"
    users.write_text("alice@local.test\nfull@local.test\nfwd@local.test\n")
    internal = Internal()
    sink = Sink(tmp_path).start()
    g = Gateway(tmp_path, listeners={"mx": "role = inbound\ntls = none\n",
                                     "relay": "role = relay\ntls = none\n"},
                extra="[screen]\nresolver = %s\ndnsbl_sites = %s\ndnsbl_threshold = 3\n"
                      "dnsbl_allowlist_threshold = -1\nrecipients = %s\n"
                      "[delivery]\nlocal_relay = [127.0.0.1]:%d\nrelayhost = [127.0.0.1]:%d\n"
                      "tls = none\n"
                      "[limits]\nnull_hour = 1000\nmsg_minute = 1000\nmsg_hour = 10000\n"
                      % (dns.resolver, SITES, users, internal.port, sink.port))
    internal.relay_port = g.ports["relay"]
    yield g, internal, sink
    g.stop()
    sink.stop()
    internal.stop()


@pytest.fixture
def gw(world):
    return world[0]


def inbound(gw, source, sender, rcpt="alice@local.test", msgid=None, extra=()):
    c = Client(gw.ports["mx"], source)
    hdrs = [("From", sender), ("To", rcpt), ("Subject", "hi")]
    if msgid:
        hdrs.append(("Message-ID", "<%s>" % msgid))
    r = c.send(sender, rcpt, hdrs + list(extra))
    c.close()
    return r


def outside(sink, rcpt):
    """Messages smtp-sink (the Internet) got for rcpt."""
    return [d for _, d in sink.messages() if ("<%s>" % rcpt).encode() in d.split(b"\n\n")[0]]


def held_for(gw, rcpt):
    return [m for m in gw.spool().values()
            if m["env"].get("hold_reason") and any(r["addr"] == rcpt for r in m["rcpts"])]


def settle(cond, timeout=60):
    """Waits until cond() holds, then a little longer for anything late."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cond():
        time.sleep(0.1)
    time.sleep(1.5)
    return cond()


def test_dnsbl_reject_names_the_list(gw):
    code, text = inbound(gw, LISTED, "x@nospf.example")
    assert code == 550
    assert "blocked using zen.spamhaus.org" in text
    assert inbound(gw, ALLOWED, "y@nospf.example")[0] == 250  # dnswl outweighs zen
    assert inbound(gw, ERRCODE, "z@nospf.example")[0] == 250  # an error code never counts
    assert inbound(gw, CLEAN, "w@nospf.example")[0] == 250
    assert "reject=dnsbl" in gw.logtext()


def test_unknown_recipient_refused_at_rcpt(gw):
    code, text = inbound(gw, CLEAN, "w@nospf.example", rcpt="nobody@local.test")
    assert code == 550 and "5.1.1" in text
    assert inbound(gw, CLEAN, "w@nospf.example", rcpt="alice@local.test")[0] == 250


def test_probe_gets_one_autoreply_and_none_when_spf_fails(world):
    gw, internal, sink = world
    # 100 messages from one address whose domain publishes no SPF, from a clean
    # client; the internal server's vacation responder answers every one
    for i in range(100):
        assert inbound(gw, CLEAN, "probe@nospf.example", msgid="p%d@nospf.example" % i)[0] == 250
    assert settle(lambda: len(held_for(gw, "probe@nospf.example")) == 99), gw.logtext()[-3000:]
    out = outside(sink, "probe@nospf.example")
    assert len(out) == 1, len(out)
    assert b"Auto-Submitted: auto-replied" in out[0]
    held = held_for(gw, "probe@nospf.example")
    assert all("autoreply_repeat" in m["env"]["hold_reason"] for m in held)
    # the same from a sender whose SPF fails: no reply goes out at all
    for i in range(20):
        assert inbound(gw, CLEAN, "ceo@forged.example", msgid="f%d@forged.example" % i)[0] == 250
    assert settle(lambda: len(held_for(gw, "ceo@forged.example")) == 20), gw.logtext()[-3000:]
    assert outside(sink, "ceo@forged.example") == []
    assert "SPF fail" in held_for(gw, "ceo@forged.example")[0]["env"]["hold_reason"]
    print("probe: 100 messages in, %d auto-reply out, %d held; SPF fail: 20 in, %d out, %d held"
          % (len(out), len(held), len(outside(sink, "ceo@forged.example")),
             len(held_for(gw, "ceo@forged.example"))))


def test_quota_notice_held_for_forged_sender_delivered_to_verified(world):
    gw, internal, sink = world
    assert inbound(gw, CLEAN, "bob@good.example", rcpt="full@local.test")[0] == 250
    assert inbound(gw, CLEAN, "eve@forged.example", rcpt="full@local.test")[0] == 250
    assert settle(lambda: len(outside(sink, "bob@good.example")) == 1
                  and len(held_for(gw, "eve@forged.example")) == 1), gw.logtext()[-3000:]
    assert outside(sink, "eve@forged.example") == []
    assert "notify_forged" in held_for(gw, "eve@forged.example")[0]["env"]["hold_reason"]


def test_forward_of_spam_held_clean_forward_delivered(world):
    gw, internal, sink = world
    # accepted below the threshold (spamcop only: 2 < 3) but from a listed client
    assert inbound(gw, SPAMMY, "deal@nospf.example", rcpt="fwd@local.test",
                   msgid="spam1@nospf.example")[0] == 250
    assert inbound(gw, CLEAN, "carol@good.example", rcpt="fwd@local.test",
                   msgid="ok1@good.example")[0] == 250
    # a content filter's verdict on a clean client counts too
    assert inbound(gw, CLEAN, "offer@good.example", rcpt="fwd@local.test",
                   msgid="cf1@good.example", extra=[("X-Spam-Flag", "YES")])[0] == 250
    assert settle(lambda: len(held_for(gw, "fwd@elsewhere.example")) == 2
                  and len(outside(sink, "fwd@elsewhere.example")) == 1), gw.logtext()[-3000:]
    (out,) = outside(sink, "fwd@elsewhere.example")
    assert b"ok1@good.example" in out
    held = held_for(gw, "fwd@elsewhere.example")
    assert all("forward_spam" in m["env"]["hold_reason"] for m in held)
    assert any("bl.spamcop.net" in m["env"]["hold_reason"] for m in held)


CATALOGUE = ("[bl.test]\nname = test list\ntype = ip\nselftest = none\n"
             "code = 127.0.0.2 listed for the test\n%s")
SCREENED = "127.0.0.40"


def test_reload_rereads_screen_and_catalogue(tmp_path, rbldnsd_factory):  # noqa: F811
    """SIGHUP reads [screen] and its catalogue file again: a new weight, then a
    catalogue that makes the answer a list error, take effect for new
    connections; a session that began before keeps its screen; a broken
    catalogue file is refused whole and the one in force stays."""
    dns = rbldnsd_factory({"bl.test": [("ip4set", [":127.0.0.2:listed $", SCREENED])]},
                          ipv6=False)
    cat = tmp_path / "dnsbl.conf"
    cat.write_text(CATALOGUE % "")
    users = tmp_path / "local-users"
    users.write_text("alice@local.test\n")

    def screen(weight):
        return ("[screen]\nresolver = %s\ncatalogue = %s\ndnsbl_sites = bl.test*%d\n"
                "dnsbl_threshold = 2\nspf = no\nrecipients = %s\n"
                % (dns.resolver, cat, weight, users))

    g = Gateway(tmp_path, listeners={"mx": "role = inbound\ntls = none\n"}, extra=screen(1))
    base = g.conf.read_text()

    def sighup(text, expect):
        mark = len(g.logtext())
        g.conf.write_text(text)
        g.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while expect not in g.logtext()[mark:]:
            assert time.monotonic() < deadline, g.logtext()[mark:]
            time.sleep(0.05)
        return g.logtext()[mark:]

    def mail_from():
        c = Client(g.ports["mx"], SCREENED)
        assert c.cmd("EHLO client.test")[0] == 250
        r = c.cmd("MAIL FROM:<x@nospf.example>")
        c.close()
        return r

    try:
        assert mail_from()[0] == 250  # listed, weight 1 < threshold 2
        early = Client(g.ports["mx"], SCREENED)  # scored under weight 1
        assert early.cmd("EHLO client.test")[0] == 250

        log = sighup(base.replace(screen(1), screen(2)), "serve: reload done")
        assert "[screen]" not in log  # nothing of it waits for a restart
        code, text = mail_from()
        assert code == 550 and "blocked using bl.test" in text, text
        # the session from before goes on with the screen it began with
        assert early.send("x@nospf.example", "alice@local.test",
                          [("From", "x@nospf.example"), ("Subject", "early")])[0] == 250
        early.close()

        # the same file, read again: 127.0.0.2 is now the list's error code
        cat.write_text(CATALOGUE % "error = 127.0.0.2 not a listing\n")
        sighup(g.conf.read_text(), "serve: reload done")
        assert mail_from()[0] == 250

        cat.write_text("[bl.test]\ntype = ip\nthis line is broken\n")
        log = sighup(g.conf.read_text(), "reload refused")
        assert "[screen] catalogue: %s:3" % cat in log, log
        assert mail_from()[0] == 250  # the catalogue in force stays
        chk = subprocess.run([RG_BIN, "checkconf", "--config", str(g.conf)],
                             capture_output=True, text=True)
        assert chk.returncode == 2 and "[screen] catalogue: %s:3" % cat in chk.stderr, chk
    finally:
        g.stop()
    log = g.logtext() if not g.log.closed else (tmp_path / "serve.log").read_text()
    assert g.proc.returncode == 0, log
    assert "AddressSanitizer" not in log and "runtime error" not in log, log
