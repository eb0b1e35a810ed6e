"""relayguard serve as an ESMTP server: every command, extension, limit and
error path, driven by Python smtplib, raw sockets and swaks; STARTTLS and
implicit TLS with a test CA made here with the openssl CLI; AUTH PLAIN and
LOGIN against the users file with its increasing failure delay; the relay
decision per listener role; SMTP smuggling vectors; relaytest and nmap's
smtp-open-relay against the gateway."""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import RG_BIN, free_port, rg

PASSWORD = "Tr0ub4dor&3-horse-battery"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    """A test CA and a server certificate for localhost / 127.0.0.1 it signed."""
    d = tmp_path_factory.mktemp("ca")

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=relayguard test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return d


class Gateway:
    """relayguard serve on free loopback ports with listeners by role."""

    def __init__(self, tmp_path, ca=None, gateway="", listeners=None, extra=""):
        self.dir = tmp_path
        self.ports = {}
        self.users = tmp_path / "var" / "users"
        listeners = listeners or {
            "submission": "role = submission\ntls = starttls\n",
            "smtps": "role = submission\ntls = implicit\n",
            "relay": "role = relay\ntls = starttls\n",
            "inbound": "role = inbound\ntls = none\n",
        }
        conf = ("[gateway]\nhostname = mx.local.test\nstate_dir = %s\nspool_dir = %s\n"
                "users = %s\nlocal_domains = local.test\nerror_sleep_time = 0\n"
                % (tmp_path / "var", tmp_path / "var" / "spool", self.users))
        if ca:
            conf += "tls_cert = %s\ntls_key = %s\n" % (ca / "server.crt", ca / "server.key")
        conf += gateway
        conf += "[policyd]\nlisten =\n[web]\nlisten =\n"
        for name, body in listeners.items():
            self.ports[name] = free_port()
            conf += "[listener %s]\nlisten = 127.0.0.1:%d\n%s" % (name, self.ports[name], body)
        conf += "[auth]\ndelay = 100ms\ndelay_max = 400ms\n"
        conf += extra
        self.conf = tmp_path / "relayguard.conf"
        self.conf.write_text(conf)
        self.log = open(tmp_path / "serve.log", "w+")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", str(self.conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("serve did not start: " + self.logtext())
                    time.sleep(0.05)

    def logtext(self):
        self.log.flush()
        return (self.dir / "serve.log").read_text()

    def add_user(self, name, password=PASSWORD):
        r = rg("user", "add", "--password-stdin", "--file", self.users, name,
               stdin=password + "\n")
        assert r.rc == 0, r.err

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def gw(tmp_path, ca):
    g = Gateway(tmp_path, ca)
    g.add_user("sam@local.test")
    yield g
    g.stop()


def tls_ctx(ca):
    ctx = ssl.create_default_context(cafile=str(ca / "ca.crt"))
    return ctx


class Raw:
    """A raw SMTP client: send bytes, read whole replies."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed after %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("latin-1"))
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def code(self, line):
        return int(self.cmd(line)[:3])

    def closed(self):
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self):
        self.s.close()


# ---- extensions and commands ----

def test_ehlo_extensions(gw):
    with smtplib.SMTP("127.0.0.1", gw.ports["relay"], timeout=10) as s:
        code, msg = s.ehlo("client.test")
        assert code == 250
        text = msg.decode()
        for ext in ("PIPELINING", "SIZE 10240000", "STARTTLS", "ENHANCEDSTATUSCODES",
                    "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"):
            assert ext in text, ext
        assert "AUTH" not in text  # never before TLS
        assert s.helo("x")[0] == 250
        assert s.noop()[0] == 250
        assert s.rset()[0] == 250
        assert s.verify("root")[0] == 502
        assert s.docmd("EXPN", "list")[0] == 502
        assert s.docmd("HELP")[0] == 214
        assert s.docmd("FROB")[0] == 500
        assert s.docmd("QUIT")[0] == 221


def test_sequence_and_syntax_errors(gw):
    r = Raw(gw.ports["relay"])
    assert r.cmd("MAIL FROM:<a@b.test>").startswith("503 5.5.1")
    assert r.code("EHLO") == 501
    assert r.code("EHLO c") == 250
    assert r.cmd("RCPT TO:<a@local.test>").startswith("503 5.5.1 Error: need MAIL")
    assert r.code("DATA") == 503
    assert r.code("MAIL FROM:a@b.test") == 501
    assert r.code("MAIL FROM:<a@b.test> FOO=BAR") == 555
    assert r.code("MAIL FROM:<a@b.test> SIZE=1000 BODY=8BITMIME") == 250
    assert r.cmd("MAIL FROM:<a@b.test>").startswith("503 5.5.1 Error: nested")
    assert r.cmd("DATA").startswith("554 5.5.1 Error: no valid recipients")
    assert r.code("RCPT TO:<@bad>") == 501
    assert r.code("QUIT") == 221
    assert r.closed()


def test_message_is_queued(gw):
    # serve opens the spool and hands it to the listeners: 250 once durable
    with smtplib.SMTP("127.0.0.1", gw.ports["relay"], timeout=10) as s:
        s.ehlo("c")
        assert s.sendmail("a@local.test", ["b@local.test"], b"Subject: x\r\n\r\nhi\r\n") == {}


def test_pipelining_in_one_write(gw):
    r = Raw(gw.ports["relay"])
    r.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@local.test>\r\n"
           "RCPT TO:<y@far.test>\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    codes = [int(r.reply()[:3]) for _ in range(7)]
    assert codes == [250, 250, 250, 250, 250, 250, 221]


def test_dsn_and_smtputf8_params_accepted(gw):
    r = Raw(gw.ports["relay"])
    r.cmd("EHLO c")
    assert r.code("MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ314159 SMTPUTF8") == 250
    assert r.code("RCPT TO:<x@local.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@local.test") == 250
    assert r.code("RCPT TO:<ü@local.test>") == 250
    assert r.code("RSET") == 250
    assert r.code("MAIL FROM:<ü@b.test>") == 553  # UTF-8 without SMTPUTF8


def test_bdat(gw):
    r = Raw(gw.ports["relay"])
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@b.test>")
    r.cmd("RCPT TO:<x@local.test>")
    r.send("BDAT 12\r\nSubject: x\r\n")
    assert r.reply().startswith("250 2.0.0 Ok: 12 octets")
    r.send("BDAT 4 LAST\r\nhi\r\n")
    assert r.reply()[:3] in ("250", "451")
    # A BDAT out of sequence is refused and its octets are read, not run.
    r.send("BDAT 10 LAST\r\nQUIT\r\nXXXX")
    assert r.reply().startswith("503")
    assert r.code("NOOP") == 250
    assert r.cmd("BDAT ten").startswith("501")
    assert r.reply().startswith("421")


def test_swaks_pipelining(gw):
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % gw.ports["relay"], "--pipeline",
                        "--to", "bob@local.test", "--from", "a@local.test", "--ehlo", "c.test",
                        "--timeout", "10"], capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert "250-PIPELINING" in out
    assert "354 End data" in out
    assert re.search(r"<\*\* 451 4\.3\.0|<-  250 2\.0\.0 Ok: queued", out), out


# ---- TLS and AUTH ----

def test_starttls_verified_then_auth_plain_and_login(gw, ca):
    with smtplib.SMTP("localhost", gw.ports["submission"], timeout=10) as s:
        s.ehlo("c")
        assert s.has_extn("starttls") and not s.has_extn("auth")
        assert s.docmd("AUTH", "PLAIN AHNhbUBsb2NhbC50ZXN0AHg=")[0] == 530
        assert s.docmd("MAIL", "FROM:<sam@local.test>")[0] == 530
        s.starttls(context=tls_ctx(ca))
        s.ehlo("c")
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        assert not s.has_extn("starttls")
        assert s.login("sam@local.test", PASSWORD)[0] == 235
        assert s.docmd("MAIL", "FROM:<sam@local.test>")[0] == 250
        assert s.docmd("RCPT", "TO:<anyone@far.test>")[0] == 250  # authenticated: relay
    with smtplib.SMTP("localhost", gw.ports["submission"], timeout=10) as s:
        s.starttls(context=tls_ctx(ca))
        s.ehlo("c")
        s.user, s.password = "sam@local.test", PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
    log = gw.logtext()
    assert re.search(r"smtpd queue_id=NOQUEUE sid=\w+ client=127\.0\.0\.1 starttls=ok version=TLSv1\.[23]", log)
    assert "auth=ok mech=PLAIN user=sam@local.test" in log
    assert "auth=ok mech=LOGIN user=sam@local.test" in log


def test_implicit_tls(gw, ca):
    with smtplib.SMTP_SSL("localhost", gw.ports["smtps"], timeout=10, context=tls_ctx(ca)) as s:
        code, msg = s.ehlo("c")
        assert code == 250
        assert s.has_extn("auth") and not s.has_extn("starttls")
        assert s.login("sam@local.test", PASSWORD)[0] == 235


def test_swaks_tls_auth(gw, ca):
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % gw.ports["submission"], "--tls",
                        "--tls-verify", "--tls-ca-path", str(ca / "ca.crt"), "--tls-sni",
                        "localhost", "--auth", "PLAIN", "--auth-user", "sam@local.test",
                        "--auth-password", PASSWORD, "--to", "bob@far.test", "--from",
                        "sam@local.test", "--timeout", "10"],
                       capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert "235 2.7.0 Authentication successful" in out, out
    assert "250 2.1.5 Ok" in out


def test_starttls_drops_pipelined_plaintext(gw, ca):
    r = Raw(gw.ports["relay"])
    r.cmd("EHLO c")
    r.send("STARTTLS\r\nMAIL FROM:<inject@b.test>\r\nRCPT TO:<x@far.test>\r\n")
    assert r.reply().startswith("220 2.0.0")
    ctx = tls_ctx(ca)
    t = ctx.wrap_socket(r.s, server_hostname="localhost")
    t.sendall(b"RCPT TO:<x@local.test>\r\n")
    data = t.recv(4096).decode()
    # The injected MAIL never ran: RCPT has no transaction to join.
    assert data.startswith("503"), data
    t.close()
    assert re.search(r"starttls=ok .*discarded=\d\d", gw.logtext())


def test_auth_failures_delay_grows_then_421(gw, ca):
    with smtplib.SMTP("localhost", gw.ports["submission"], timeout=10) as s:
        s.starttls(context=tls_ctx(ca))
        s.ehlo("c")
        times = []
        for i in range(3):
            t0 = time.monotonic()
            code, msg = s.docmd("AUTH", "PLAIN AHNhbUBsb2NhbC50ZXN0AHdyb25nLXBhc3N3b3Jk")
            times.append(time.monotonic() - t0)
            assert code == 535
        # 100 ms, 200 ms, 400 ms: increasing
        assert times[0] >= 0.09 and times[1] > times[0] and times[2] > times[1], times
        # The third failure ended the session (auth_failure_limit = 3).
        assert s.getreply()[0] == 421
    assert "reject=too_many_auth_failures" in gw.logtext()


def test_auth_errors(gw, ca):
    with smtplib.SMTP("localhost", gw.ports["submission"], timeout=10) as s:
        s.starttls(context=tls_ctx(ca))
        s.ehlo("c")
        assert s.docmd("AUTH", "CRAM-MD5")[0] == 504
        assert s.docmd("AUTH", "PLAIN not-base64!")[0] == 501
        assert s.docmd("AUTH", "LOGIN")[0] == 334
        assert s.docmd("*")[0] == 501
        # unknown user: same 535 as a wrong password
        assert s.docmd("AUTH", "PLAIN AG5vYm9keUBsb2NhbC50ZXN0AHg=")[0] == 535


def test_new_user_without_restart(gw, ca):
    gw.add_user("kim@local.test")
    with smtplib.SMTP_SSL("localhost", gw.ports["smtps"], timeout=10, context=tls_ctx(ca)) as s:
        assert s.login("kim@local.test", PASSWORD)[0] == 235


def test_received_header_parsed_by_trace(gw, ca, tmp_path):
    """The header the gateway writes, as trace reads it (same builder as the queue's)."""
    # The session's builder is unit-tested byte for byte; here trace reads the layout.
    msg = tmp_path / "m.eml"
    msg.write_text("Received: from c (unknown [203.0.113.9])\r\n"
                   "\t(Authenticated sender: sam@local.test)\r\n"
                   "\tby mx.local.test (relayguard) with ESMTPSA id 0123456789ABCDEF\r\n"
                   "\tfor <x@far.test>; Mon, 23 Nov 2026 09:50:00 +0000\r\n"
                   "Subject: x\r\n\r\nbody\r\n")
    r = rg("trace", "--json", msg)
    j = r.json()
    assert j["authenticated"] is True
    assert j["auth_user"] == "sam@local.test"
    assert j["hops"][0]["with"] == "ESMTPSA"


# ---- relay decision per role ----

def test_submission_requires_auth(gw):
    r = Raw(gw.ports["submission"])
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<a@local.test>").startswith("530 5.7.0 Authentication required")


def test_relay_role_untrusted_client(tmp_path, ca):
    g = Gateway(tmp_path, ca, gateway="trusted_networks = 192.0.2.0/24\n")
    try:
        r = Raw(g.ports["relay"])
        r.cmd("EHLO c")
        assert r.code("MAIL FROM:<a@far.test>") == 250
        assert r.cmd("RCPT TO:<x@far.test>") == "554 5.7.1 <x@far.test>: Relay access denied"
        for trick in ("x%far.test@local.test", "far.test!x@local.test", '"x@far.test"@local.test',
                      "@local.test:x@far.test", "x@[192.0.2.1]", "x@far.test."):
            assert r.code("RCPT TO:<%s>" % trick) == 554, trick
        assert r.code("RCPT TO:<x@local.test>") == 250
        assert r.code("RCPT TO:<x@LOCAL.TEST.>") == 250
        assert "reject=denied" in g.logtext()
    finally:
        g.stop()


def test_inbound_role_local_only(gw):
    r = Raw(gw.ports["inbound"])  # loopback is trusted, but inbound is local-only
    r.cmd("EHLO c")
    assert r.code("MAIL FROM:<a@far.test>") == 250
    assert r.code("RCPT TO:<x@far.test>") == 554
    assert r.code("RCPT TO:<x@local.test>") == 250
    assert not any("AUTH" in l for l in r.cmd("EHLO c").split("\n"))


def test_ipv6_listener(tmp_path):
    port = free_port(socket.AF_INET6, host="::1")
    g = Gateway(tmp_path, listeners={"relay": "role = relay\ntls = none\n"},
                extra="[listener v6]\nlisten = [::1]:%d\nrole = relay\ntls = none\n" % port)
    try:
        s = socket.create_connection(("::1", port), timeout=10)
        assert s.recv(100).startswith(b"220 ")
        s.close()
        assert "client=::1 connect listener=v6" in g.logtext()
    finally:
        g.stop()


# ---- limits ----

def test_line_too_long_and_bare_newlines(gw):
    r = Raw(gw.ports["relay"])
    r.send("NOOP " + "x" * 3000 + "\r\n")
    assert r.reply() == "500 5.5.0 Error: line too long"
    assert r.code("NOOP") == 250
    r.send("EHLO c\n")
    assert r.reply() == "500 5.5.2 Error: bare <LF> received"
    r.send("EHLO c\rNOOP\r\n")
    assert r.reply() == "500 5.5.2 Error: bare <CR> received"


def test_recipient_and_size_limits(tmp_path):
    g = Gateway(tmp_path, gateway="max_recipients = 3\nmax_message_size = 2048\n",
                listeners={"relay": "role = relay\ntls = none\n"})
    try:
        r = Raw(g.ports["relay"])
        ehlo = r.cmd("EHLO c")
        assert "SIZE 2048" in ehlo
        assert r.cmd("MAIL FROM:<a@b.test> SIZE=4096").startswith("552 5.3.4")
        r.cmd("MAIL FROM:<a@b.test>")
        for i in range(3):
            assert r.code("RCPT TO:<r%d@local.test>" % i) == 250
        assert r.cmd("RCPT TO:<r9@local.test>") == "452 4.5.3 Error: too many recipients"
        assert r.code("DATA") == 354
        r.send(("x" * 70 + "\r\n") * 40 + ".\r\n")
        assert r.reply().startswith("552 5.3.4")
        assert r.code("NOOP") == 250
    finally:
        g.stop()


def test_error_limits(tmp_path):
    g = Gateway(tmp_path, gateway="hard_error_limit = 3\njunk_command_limit = 3\n",
                listeners={"relay": "role = relay\ntls = none\n"})
    try:
        r = Raw(g.ports["relay"])
        assert [r.code("BOGUS") for _ in range(2)] == [500, 500]
        r.send("BOGUS\r\n")
        assert r.reply().startswith("500")
        assert r.reply().startswith("421 4.7.0 mx.local.test Error: too many errors")
        assert r.closed()
        r = Raw(g.ports["relay"])
        assert [r.code("NOOP") for _ in range(3)] == [250, 250, 250]
        assert r.cmd("NOOP").startswith("421 4.7.0 mx.local.test Error: too many junk")
        assert r.closed()
    finally:
        g.stop()


def test_tarpit_after_soft_error_limit(tmp_path):
    g = Gateway(tmp_path, gateway="soft_error_limit = 1\nerror_sleep_time = 300ms\n",
                listeners={"relay": "role = relay\ntls = none\n"})
    try:
        r = Raw(g.ports["relay"])
        r.code("BOGUS")
        r.code("BOGUS")
        t0 = time.monotonic()
        r.send("BOGUS\r\nBOGUS\r\n")
        r.reply()
        r.reply()
        assert time.monotonic() - t0 >= 0.25
    finally:
        g.stop()


def test_idle_timeout(tmp_path):
    g = Gateway(tmp_path, gateway="smtp_timeout = 1s\n",
                listeners={"relay": "role = relay\ntls = none\n"})
    try:
        r = Raw(g.ports["relay"])
        t0 = time.monotonic()
        assert r.reply() == "421 4.4.2 mx.local.test Error: timeout exceeded"
        assert 0.8 < time.monotonic() - t0 < 5
        assert r.closed()
    finally:
        g.stop()


def test_connection_limits(tmp_path):
    g = Gateway(tmp_path, gateway="max_connections_per_client = 2\n",
                listeners={"relay": "role = relay\ntls = none\n"})
    try:
        time.sleep(0.3)  # the start-up probe connection must be gone first
        a, b = Raw(g.ports["relay"]), Raw(g.ports["relay"])
        s = socket.create_connection(("127.0.0.1", g.ports["relay"]), timeout=10)
        assert s.recv(200).startswith(b"421 4.7.0 mx.local.test Error: too many connections from 127.0.0.1")
        s.close()
        a.close()
        time.sleep(0.2)
        c = Raw(g.ports["relay"])
        assert c.greeting.startswith("220")
    finally:
        g.stop()
    os.makedirs(tmp_path / "t")
    g = Gateway(tmp_path / "t", gateway="max_connections = 1\n",
                listeners={"relay": "role = relay\ntls = none\n"})
    try:
        time.sleep(0.3)  # the start-up probe connection must be gone first
        a = Raw(g.ports["relay"])
        s = socket.create_connection(("127.0.0.1", g.ports["relay"]), timeout=10)
        assert s.recv(200).startswith(b"421 4.7.0 mx.local.test Error: too many connections")
        s.close()
        a.close()
    finally:
        g.stop()


# ---- SMTP smuggling ----

SMUGGLE = ["\n.\r\n", "\r.\r\n", "\n.\n", "\r\n.\n", "\n.\r", "\r.\n", "\r.\r", "\r\n.\r",
           "\r\n.\r\r\n"]


@pytest.mark.parametrize("eod", SMUGGLE, ids=[repr(e) for e in SMUGGLE])
def test_smuggling_never_splits(gw, eod):
    r = Raw(gw.ports["relay"])
    r.send("EHLO c\r\nMAIL FROM:<a@local.test>\r\nRCPT TO:<x@local.test>\r\nDATA\r\n")
    assert [r.reply()[:3] for _ in range(4)] == ["250", "250", "250", "354"]
    r.send("Subject: one\r\n\r\nbody" + eod +
           "mail FROM:<evil@local.test>\r\nrcpt TO:<v@local.test>\r\ndata\r\n"
           "Subject: smuggled\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n")
    first = r.reply()
    assert first.startswith("550 5.5.2"), first
    assert r.reply().startswith("221")  # the smuggled commands never ran
    assert "reject=bare_newline" in gw.logtext()


def test_bare_lf_in_headers_refused(gw):
    r = Raw(gw.ports["relay"])
    r.send("EHLO c\r\nMAIL FROM:<a@local.test>\r\nRCPT TO:<x@local.test>\r\nDATA\r\n")
    [r.reply() for _ in range(4)]
    r.send("Subject: a\nBcc: x@far.test\r\n\r\nbody\r\n.\r\n")
    assert r.reply().startswith("550 5.5.2")
    assert r.code("NOOP") == 250


# ---- relay tests from outside ----

def relaytest(port):
    r = rg("relaytest", "--json", "127.0.0.1:%d" % port, timeout=120)
    return r


def nmap_relay(tmp_path, ports):
    """nmap's smtp-open-relay on these ports (named smtp in a private services file)."""
    d = tmp_path / "nmap"
    d.mkdir(exist_ok=True)
    (d / "nmap-services").write_text("".join("smtp\t%d/tcp\t0.9\n" % p for p in ports))
    p = subprocess.run(["nmap", "-Pn", "-n", "--datadir", str(d), "-p",
                        ",".join(str(p) for p in ports), "--script", "smtp-open-relay",
                        "127.0.0.1"],
                       capture_output=True, text=True, timeout=120)
    return p.stdout


def test_relaytest_and_nmap_find_no_open_relay(tmp_path, ca):
    # Every role, as a stranger sees it: loopback is not trusted here.
    g = Gateway(tmp_path, ca, gateway="trusted_networks = 192.0.2.0/24\n")
    try:
        for name in ("submission", "relay", "inbound"):
            r = relaytest(g.ports[name])
            assert r.rc == 0, (name, r.out, r.err)
            j = r.json()
            assert j["summary"]["relayed"] == 0, name
            assert j["summary"]["tests"] > 20, name
        out = nmap_relay(tmp_path, [g.ports[n] for n in ("submission", "relay", "inbound")])
        assert out.count("smtp-open-relay: Server isn't an open relay") + \
            out.count("smtp-open-relay: Server doesn't seem to be an open relay") == 3, out
        assert "Server is an open relay" not in out
    finally:
        g.stop()


def test_relaytest_and_nmap_see_an_open_relay(tmp_path):
    """The same probes against a deliberately open server do report relaying."""
    import socketserver
    import threading

    class Open(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 open.test ESMTP\r\n")
            while True:
                line = self.rfile.readline(4096)
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                self.wfile.write(b"250 ok\r\n")

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Open)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        r = relaytest(port)
        assert r.rc == 1
        assert r.json()["summary"]["relayed"] > 10
        assert "Server is an open relay" in nmap_relay(tmp_path, [port])
    finally:
        srv.shutdown()
        srv.server_close()


def test_relaytest_embedded_default_submission(tmp_path):
    """The embedded defaults' submission listener, moved to a free port."""
    g = Gateway(tmp_path, listeners={"submission": "role = submission\n"})
    try:
        r = relaytest(g.ports["submission"])
        assert r.rc == 0, r.out
    finally:
        g.stop()


def test_example_config_checks(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = rg("checkconf", "--config", os.path.join(root, "docs", "examples", "relayguard.conf"))
    assert r.rc == 0, r.err
    assert "listener inbound: role inbound" in r.out
