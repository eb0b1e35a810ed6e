"""The cached RCPT callout of the inbound listener (docs/inbound.md,
[screen] recipient_callout): relayguard serve asks the internal mail server
(here a Python SMTP server on loopback that knows some users) at RCPT time
about local recipients its list does not know. 250 accepts, 5xx gives
550 5.1.1 at once (nothing is accepted that would bounce later), a server
that does not answer gives 451; answers are cached, so a second RCPT for
the same address is not probed again.
"""
import socketserver
import threading
import time

from test_inbound import Client
from test_smtpd import Gateway


class Internal(socketserver.ThreadingTCPServer):
    """A minimal internal SMTP server: 250 for its users, 550 for the rest,
    450 for tempfail@; records every probe (MAIL sender, RCPT address)."""

    daemon_threads = True

    def __init__(self, users):
        super().__init__(("127.0.0.1", 0), Session)
        self.users = set(users)
        self.probes = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        if self.socket.fileno() >= 0:
            self.shutdown()
            self.server_close()  # from now on connections are refused


class Session(socketserver.StreamRequestHandler):
    def handle(self):
        srv, out = self.server, self.wfile
        out.write(b"220 internal.test ESMTP\r\n")
        sender = None
        for raw in self.rfile:
            line = raw.decode().strip()
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                out.write(b"250-internal.test\r\n250 8BITMIME\r\n")
            elif verb == "MAIL":
                sender = line[10:]
                out.write(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                addr = line[8:].strip("<>").lower()
                srv.probes.append((sender, addr))
                if addr.startswith("tempfail@"):
                    out.write(b"450 4.2.0 try later\r\n")
                elif addr in srv.users:
                    out.write(b"250 2.1.5 Ok\r\n")
                else:
                    out.write(b"550 5.1.1 User unknown\r\n")
            elif verb == "QUIT":
                out.write(b"221 2.0.0 Bye\r\n")
                return
            else:
                out.write(b"502 5.5.2 no\r\n")


def rcpt(port, addr):
    c = Client(port)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<someone@outside.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<%s>" % addr)
    c.close()
    return code, text


def probed(internal, addr):
    return [p for p in internal.probes if p[1] == addr]


def test_callout_accepts_known_refuses_unknown_and_caches(tmp_path):
    internal = Internal(["alice@local.test", "bob@local.test"])
    users = tmp_path / "local-users"
    users.write_text("carol@local.test\n")
    g = Gateway(tmp_path, listeners={"mx": "role = inbound\ntls = none\n"},
                extra="[screen]\nspf = no\nrecipients = %s\n"
                      "recipient_callout = 127.0.0.1:%d\nrecipient_callout_timeout = 3s\n"
                      % (users, internal.port))
    try:
        mx = g.ports["mx"]
        # in the list: accepted without asking
        assert rcpt(mx, "carol@local.test")[0] == 250
        assert internal.probes == []
        # not in the list: asked, with the null sender
        assert rcpt(mx, "alice@local.test")[0] == 250
        assert probed(internal, "alice@local.test") == [("<>", "alice@local.test")]
        code, text = rcpt(mx, "nobody@local.test")
        assert code == 550 and "5.1.1" in text
        # a 4xx from the internal server: 451, not cached
        code, text = rcpt(mx, "tempfail@local.test")
        assert code == 451 and "4.4.3" in text
        # not a local domain: never asked (the relay rules decide)
        rcpt(mx, "x@elsewhere.example")
        assert not probed(internal, "x@elsewhere.example")
        # second RCPTs come from the cache: one probe each
        assert rcpt(mx, "alice@local.test")[0] == 250
        assert rcpt(mx, "nobody@local.test")[0] == 550
        assert len(probed(internal, "alice@local.test")) == 1
        assert len(probed(internal, "nobody@local.test")) == 1
        assert rcpt(mx, "tempfail@local.test")[0] == 451
        assert len(probed(internal, "tempfail@local.test")) == 2
        # the internal server goes down: unknown-to-the-cache addresses get 451,
        # cached ones are still answered
        internal.stop()
        time.sleep(0.2)
        code, text = rcpt(mx, "bob@local.test")
        assert code == 451
        assert rcpt(mx, "alice@local.test")[0] == 250
        assert rcpt(mx, "nobody@local.test")[0] == 550
        log = g.logtext()
        assert "reject=unknown_user rcpt=<nobody@local.test>" in log
        assert "reject=unverified_user rcpt=<bob@local.test>" in log
    finally:
        g.stop()
        internal.stop()


def test_callout_without_list_asks_for_every_local_recipient(tmp_path):
    internal = Internal(["alice@local.test"])
    g = Gateway(tmp_path, listeners={"mx": "role = inbound\ntls = none\n"},
                extra="[screen]\nspf = no\nrecipient_callout = 127.0.0.1:%d\n" % internal.port)
    try:
        mx = g.ports["mx"]
        assert rcpt(mx, "Alice@local.test")[0] == 250
        assert rcpt(mx, "mallory@local.test")[0] == 550
        assert rcpt(mx, "alice@local.test")[0] == 250  # cached case-insensitively
        assert len(internal.probes) == 2
    finally:
        g.stop()
        internal.stop()


def test_bad_callout_address_is_a_config_error(tmp_path):
    import pytest
    with pytest.raises(RuntimeError) as e:
        Gateway(tmp_path, listeners={"mx": "role = inbound\ntls = none\n"},
                extra="[screen]\nspf = no\nrecipient_callout = mail.example:25\n")
    assert "recipient_callout" in str(e.value)
