"""Integration tests for `relayguard relaytest` against tiny SMTP servers on loopback.

The servers are written here with socketserver (smtpd/asyncore are deprecated):
  - OPEN: accepts every MAIL and RCPT (an open relay),
  - CLOSED: accepts RCPT only for plain local-part@closed.test, 554 otherwise,
  - DROPPER: accepts the TCP connection and closes it at once,
  - GRUMPY: closed, but disconnects after a few errors (Postfix hard error limit),
  - MULTILINE: open, with multiline greeting/EHLO and replies in odd packets.
Every server records the commands it received so we can check DATA is never sent.
"""
import re
import socket
import socketserver
import threading

import pytest

from conftest import free_port, rg

LOCAL_RE = re.compile(r"^<[A-Za-z0-9._-]+@closed\.test>$", re.I)


class SMTPHandler(socketserver.StreamRequestHandler):
    mode = "open"

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        srv = self.server
        srv.connections += 1
        if srv.mode == "drop":
            return
        if srv.mode == "garbage":
            self.wfile.write(b"220 garbage.test\r\n" + b"x" * 100000 + b"\r\n")
            self.wfile.flush()
            self.rfile.readline(4096)
            return
        if srv.mode == "multiline":
            self.wfile.write(b"220-multi.test ESMTP hello\r\n220-second line\r\n")
            self.wfile.flush()
            self.wfile.write(b"220 third line\r\n")
            self.wfile.flush()
        else:
            self.reply("220 %s ESMTP test server" % srv.name)
        errors = 0
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            srv.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].upper().split(":", 1)[0]
            if verb == "EHLO":
                if srv.mode == "helo-only":
                    self.reply("502 5.5.2 Error: command not recognized")
                else:
                    self.wfile.write(("250-%s\r\n250-PIPELINING\r\n250 8BITMIME\r\n" % srv.name).encode())
                    self.wfile.flush()
            elif verb == "HELO":
                self.reply("250 %s" % srv.name)
            elif verb in ("RSET", "NOOP"):
                self.reply("250 2.0.0 Ok")
            elif verb == "MAIL":
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                arg = cmd.split(":", 1)[1] if ":" in cmd else ""
                if srv.mode in ("open", "multiline", "helo-only"):
                    if srv.mode == "multiline":
                        self.wfile.write(b"250-2.1.5 Ok\r\n")
                        self.wfile.flush()
                        self.wfile.write(b"250 2.1.5 really\r\n")
                        self.wfile.flush()
                    else:
                        self.reply("250 2.1.5 Ok")
                elif LOCAL_RE.match(arg.strip()):
                    self.reply("250 2.1.5 Ok")
                else:
                    errors += 1
                    self.reply("554 5.7.1 %s: Relay access denied" % arg.strip())
                    if srv.mode == "grumpy" and errors >= 5:
                        self.reply("421 4.7.0 closed.test Error: too many errors")
                        return
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            elif verb == "DATA":
                srv.data_seen = True
                self.reply("554 5.5.1 no DATA in tests")
            else:
                self.reply("502 5.5.2 Error: command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def start(mode, name="closed.test", family=socket.AF_INET, host="127.0.0.1"):
    port = free_port(family=family, host=host)
    Server.address_family = family
    srv = Server((host, port), SMTPHandler)
    srv.mode = mode
    srv.name = name
    srv.commands = []
    srv.connections = 0
    srv.data_seen = False
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, port


@pytest.fixture
def server(request):
    started = []

    def _start(*a, **kw):
        s, port = start(*a, **kw)
        started.append(s)
        return s, port

    yield _start
    for s in started:
        s.shutdown()
        s.server_close()


def test_open_relay_found(server):
    srv, port = server("open", name="open.test")
    r = rg("relaytest", "--json", "--timeout", "5000", "127.0.0.1:%d" % port)
    assert r.rc == 1, r.err
    doc = r.json()
    assert doc["target"] == "127.0.0.1:%d" % port
    assert doc["summary"]["relayed"] == doc["summary"]["tests"] >= 16
    assert doc["summary"]["complete"] is True
    names = [t["name"] for t in doc["tests"]]
    assert names[:3] == ["null-sender", "third-party", "forged-local-sender"]
    for t in doc["tests"]:
        assert set(("name", "mail_from", "rcpt_to", "reply", "relayed")) <= set(t)
        assert t["relayed"] is True
        assert t["reply"].startswith("250")
    # nmap's exact combinations with the banner name and the IP literal
    by = {t["name"]: t for t in doc["tests"]}
    assert by["percent-hack-host"]["rcpt_to"] == "<relaytest%example.com@open.test>"
    assert by["source-route-ip"]["rcpt_to"] == "<@[127.0.0.1]:relaytest@example.com>"
    assert by["quoted-at-ip"]["rcpt_to"] == '<"relaytest@example.com"@[127.0.0.1]>'
    assert by["null-sender"]["mail_from"] == "<>"
    assert by["upper-case"]["rcpt_to"] == "<relaytest@EXAMPLE.COM>"
    assert not srv.data_seen
    assert not any(c.upper().startswith("DATA") for c in srv.commands)
    assert srv.commands[0].startswith("EHLO ")
    assert srv.commands[-1] == "QUIT"


def test_open_relay_table(server):
    srv, port = server("open", name="open.test")
    r = rg("relaytest", "--to-domain", "foreign.example", "--from-domain", "sender.example",
           "--helo", "probe.example", "127.0.0.1:%d" % port)
    assert r.rc == 1
    assert "OPEN RELAY" in r.out
    assert "RELAYED" in r.out
    assert "relaytest@foreign.example" in r.out
    assert "EHLO probe.example" in srv.commands
    assert "MAIL FROM:<antispam@sender.example>" in srv.commands


def test_closed_server(server):
    srv, port = server("closed")
    r = rg("relaytest", "--json", "127.0.0.1:%d" % port)
    assert r.rc == 0, r.out + r.err
    doc = r.json()
    assert doc["summary"]["relayed"] == 0
    assert doc["summary"]["tests"] == doc["summary"]["total"] >= 16
    for t in doc["tests"]:
        assert t["relayed"] is False
        assert t["reply"].startswith("554 5.7.1")
    assert not srv.data_seen
    r = rg("relaytest", "127.0.0.1:%d" % port)
    assert r.rc == 0
    assert "not an open relay" in r.out


def test_percent_hack_at_own_name_is_found(server):
    # A server that accepts anything @its own name is an open relay through
    # the percent hack, the bang path and the quoted local part.
    srv, port = server("closed", name="closed.test")
    srv.mode = "naive"
    global LOCAL_RE
    old = LOCAL_RE
    LOCAL_RE = re.compile(r"^<.*@closed\.test>$", re.I)
    try:
        r = rg("relaytest", "--json", "127.0.0.1:%d" % port)
    finally:
        LOCAL_RE = old
    assert r.rc == 1
    relayed = {t["name"] for t in r.json()["tests"] if t["relayed"]}
    assert {"percent-hack-host", "bang-path-host", "quoted-at-host", "double-at-host"} <= relayed
    assert "third-party" not in relayed


def test_reconnects_after_disconnect(server):
    srv, port = server("grumpy")
    r = rg("relaytest", "--json", "127.0.0.1:%d" % port)
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["summary"]["tests"] == doc["summary"]["total"]
    assert srv.connections > 1


def test_helo_fallback_and_multiline(server):
    srv, port = server("helo-only", name="old.test")
    r = rg("relaytest", "--json", "127.0.0.1:%d" % port)
    assert r.rc == 1
    assert any(c.startswith("HELO ") for c in srv.commands)
    srv2, port2 = server("multiline")
    r = rg("relaytest", "--json", "127.0.0.1:%d" % port2)
    assert r.rc == 1
    doc = r.json()
    assert doc["server_name"] == "multi.test"
    assert doc["tests"][0]["reply"] == "250 2.1.5 Ok"


def test_server_drops_connection(server):
    srv, port = server("drop")
    r = rg("relaytest", "--json", "--timeout", "2000", "127.0.0.1:%d" % port)
    assert r.rc == 3
    assert "incomplete" in r.err
    assert "closed the connection" in r.err
    assert r.json()["summary"]["complete"] is False


def test_hostile_replies(server):
    srv, port = server("garbage")
    r = rg("relaytest", "--json", "--timeout", "2000", "127.0.0.1:%d" % port)
    assert r.rc == 3
    assert "malformed reply" in r.err


def test_no_server():
    port = free_port()
    r = rg("relaytest", "127.0.0.1:%d" % port)
    assert r.rc == 2
    assert "relayguard: relaytest: cannot connect" in r.err


def test_silent_server_times_out():
    port = free_port()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(5)
    try:
        r = rg("relaytest", "--timeout", "300", "127.0.0.1:%d" % port)
    finally:
        s.close()
    assert r.rc == 3
    assert "timeout" in r.err


def test_ipv6(server):
    try:
        srv, port = server("open", name="v6.test", family=socket.AF_INET6, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    r = rg("relaytest", "--json", "[::1]:%d" % port)
    assert r.rc == 1, r.err
    doc = r.json()
    assert doc["target"] == "[::1]:%d" % port
    assert doc["peer"] == "::1"
    by = {t["name"]: t for t in doc["tests"]}
    assert by["source-route-ip"]["rcpt_to"] == "<@[IPv6:::1]:relaytest@example.com>"
    srv2, port2 = server("closed", family=socket.AF_INET6, host="::1")
    r = rg("relaytest", "[::1]:%d" % port2)
    assert r.rc == 0


@pytest.mark.parametrize("args", [
    [],
    ["a", "b"],
    ["--timeout", "abc", "127.0.0.1:25"],
    ["--timeout", "5", "127.0.0.1:25"],
    ["--to-domain", "bad\r\ndomain", "127.0.0.1:25"],
    ["--helo", "x y", "127.0.0.1:25"],
    ["--bogus", "127.0.0.1:25"],
    ["127.0.0.1:99999"],
    ["[::1"],
])
def test_usage_errors(args):
    r = rg("relaytest", *args)
    assert r.rc == 2
    assert r.err.startswith("relayguard: relaytest: ")


def test_help():
    r = rg("relaytest", "--help")
    assert r.rc == 0
    for word in ("SYNOPSIS", "--json", "--timeout", "EXIT STATUS", "DATA is never sent"):
        assert word in r.out
