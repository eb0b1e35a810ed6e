"""The inbound listener end to end (relayguard serve): DNSBL scoring with the
list named, the recipient list, SPF recorded; then what the internal server
sends back out through the relay listener, judged by the inbound memory:
auto-replies to a probe (one reply, none when SPF fails), quota notices
(held for a forged sender, queued for a verified one), forwards of spam
(held) and of clean mail (queued).

DNS: one rbldnsd on loopback serves the DNSBLs and the SPF records. Clients
come from different loopback addresses (127.0.0.0/8 is all local on Linux);
delivery is not part of this test: "queued" and "held" are read from the
spool (docs/queue.md), where delivery would start.
"""
import socket

import pytest

from rbldnsd import rbldnsd_factory  # noqa: F401 (fixture)
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


@pytest.fixture
def gw(tmp_path, dns):
    users = tmp_path / "local-users"
    users.write_text("alice@local.test\nfull@local.test\nfwd@local.test\n")
    g = Gateway(tmp_path, listeners={"mx": "role = inbound\ntls = none\n",
                                     "relay": "role = relay\ntls = none\n"},
                extra="[screen]\nresolver = %s\ndnsbl_sites = %s\ndnsbl_threshold = 3\n"
                      "dnsbl_allowlist_threshold = -1\nrecipients = %s\n"
                      "[limits]\nnull_hour = 1000\nmsg_minute = 1000\n"
                      % (dns.resolver, SITES, users))
    yield g
    g.stop()


def inbound(gw, source, sender, rcpt="alice@local.test", msgid=None, extra=()):
    c = Client(gw.ports["mx"], source)
    hdrs = [("From", sender), ("To", rcpt), ("Subject", "hi")]
    if msgid:
        hdrs.append(("Message-ID", "<%s>" % msgid))
    r = c.send(sender, rcpt, hdrs + list(extra))
    c.close()
    return r


def outbound(gw, sender, rcpt, headers):
    c = Client(gw.ports["relay"])
    r = c.send(sender, rcpt, headers, helo="internal.local.test")
    c.close()
    return r


def spool_to(gw, rcpt):
    """(queued, held) messages in the spool for rcpt."""
    msgs = [m for m in gw.spool().values() if any(r["addr"] == rcpt for r in m["rcpts"])]
    held = [m for m in msgs if m["env"].get("hold_reason")]
    return [m for m in msgs if not m["env"].get("hold_reason")], held


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


def autoreply(i, to, irt):
    return [("From", "alice@local.test"), ("To", to), ("Subject", "Out of office"),
            ("Auto-Submitted", "auto-replied"), ("In-Reply-To", "<%s>" % irt),
            ("Message-ID", "<ar%d@local.test>" % i)]


def test_probe_gets_one_autoreply_and_none_when_spf_fails(gw):
    # 100 messages from one address whose domain publishes no SPF; the internal
    # server's auto-responder answers every one of them through the relay
    for i in range(100):
        assert inbound(gw, CLEAN, "probe@nospf.example", msgid="p%d@nospf.example" % i)[0] == 250
        assert outbound(gw, "", "probe@nospf.example",
                        autoreply(i, "probe@nospf.example", "p%d@nospf.example" % i))[0] == 250
    queued, held = spool_to(gw, "probe@nospf.example")
    assert len(queued) == 1 and len(held) == 99
    assert all("autoreply_repeat" in m["env"]["hold_reason"] for m in held)
    # the same from a sender whose SPF fails: no reply goes out
    for i in range(20):
        assert inbound(gw, CLEAN, "ceo@forged.example", msgid="f%d@forged.example" % i)[0] == 250
        assert outbound(gw, "", "ceo@forged.example",
                        autoreply(1000 + i, "ceo@forged.example", "f%d@forged.example" % i))[0] == 250
    queued, held = spool_to(gw, "ceo@forged.example")
    assert len(queued) == 0 and len(held) == 20
    assert "SPF fail" in held[0]["env"]["hold_reason"]
    print("probe: 100 messages -> %d auto-reply out, %d held; SPF fail: 20 -> 0 out, 20 held"
          % (1, 99))


def test_quota_notice_held_for_forged_sender_queued_for_verified(gw):
    assert inbound(gw, CLEAN, "bob@good.example", rcpt="full@local.test")[0] == 250
    assert inbound(gw, CLEAN, "eve@forged.example", rcpt="full@local.test")[0] == 250
    notice = [("From", "postmaster@local.test"), ("Subject", "Mailbox full"),
              ("Auto-Submitted", "auto-generated")]
    assert outbound(gw, "", "bob@good.example", notice)[0] == 250
    assert outbound(gw, "", "eve@forged.example", notice)[0] == 250
    assert outbound(gw, "", "stranger@nospf.example", notice)[0] == 250
    q, h = spool_to(gw, "bob@good.example")
    assert len(q) == 1 and not h
    q, h = spool_to(gw, "eve@forged.example")
    assert not q and "notify_forged" in h[0]["env"]["hold_reason"]
    q, h = spool_to(gw, "stranger@nospf.example")
    assert not q and "notify_unverified" in h[0]["env"]["hold_reason"]


def test_forward_of_spam_held_clean_forward_queued(gw):
    # accepted below the threshold (spamcop only: 2 < 3) but from a listed client
    assert inbound(gw, SPAMMY, "deal@nospf.example", rcpt="fwd@local.test",
                   msgid="spam1@nospf.example")[0] == 250
    assert inbound(gw, CLEAN, "carol@good.example", rcpt="fwd@local.test",
                   msgid="ok1@good.example")[0] == 250
    # a content filter's verdict on a clean client counts too
    assert inbound(gw, CLEAN, "offer@good.example", rcpt="fwd@local.test",
                   msgid="cf1@good.example", extra=[("X-Spam-Flag", "YES")])[0] == 250
    for sender, msgid in (("deal@nospf.example", "spam1@nospf.example"),
                          ("carol@good.example", "ok1@good.example"),
                          ("offer@good.example", "cf1@good.example")):
        assert outbound(gw, sender, "fwd@elsewhere.example",
                        [("From", sender), ("Subject", "fwd"),
                         ("Message-ID", "<%s>" % msgid)])[0] == 250
    q, h = spool_to(gw, "fwd@elsewhere.example")
    assert len(q) == 1 and len(h) == 2
    assert all("forward_spam" in m["env"]["hold_reason"] for m in h)
    assert any("bl.spamcop.net" in m["env"]["hold_reason"] for m in h)
