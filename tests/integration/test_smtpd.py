"""relayguard serve as an ESMTP server: every command, extension, limit and
error path, driven by Python smtplib, raw sockets and swaks; STARTTLS and
implicit TLS with a test CA made here with the openssl CLI; AUTH PLAIN and
LOGIN against the users file with its increasing failure delay; the relay
decision per listener role; SMTP smuggling vectors; relaytest and nmap's
smtp-open-relay against the gateway."""
import base64
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import RG_BIN, free_port, rg
from spool import read_spool

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

    def __init__(self, tmp_path, ca=None, gateway="", listeners=None, extra="",
                 auth_delay=("100ms", "400ms")):
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
        conf += "[auth]\ndelay = %s\ndelay_max = %s\n" % auth_delay
        # these tests look at what was queued: delivery waits a minute,
        # unless the caller configures delivery itself
        if "[delivery]" not in extra:
            conf += "[delivery]\npoll_interval = 60s\n"
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
        r = rg("user", "add", "--cost", "min", "--password-stdin", "--file", self.users, name,
               stdin=password + "\n")
        assert r.rc == 0, r.err

    def spool(self):
        return read_spool(str(self.dir / "var" / "spool"))

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


def test_message_queued_dot_unstuffed(gw):
    with smtplib.SMTP("127.0.0.1", gw.ports["relay"], timeout=10) as s:
        s.ehlo("c")
        body = b"Subject: x\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n"
        # smtplib dot-stuffs: ".leading" goes out as "..leading"
        assert s.sendmail("a@local.test", ["b@local.test"], body) == {}
    q = gw.spool()
    assert len(q) == 1
    (qid, m), = q.items()
    assert re.fullmatch(r"[0-9A-F]{16,}", qid)
    data = m["data"]
    assert data.startswith(b"Received: from c (unknown [127.0.0.1])\r\n\tby mx.local.test "
                           b"(relayguard) with ESMTP id " + qid.encode() +
                           b"\r\n\tfor <b@local.test>; ")
    assert data.endswith(b"\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n")
    assert m["env"]["sender"] == "a@local.test"
    assert m["env"]["protocol"] == "ESMTP"
    assert m["env"]["listener"] == "relay"
    assert m["env"]["client_ip"] == "127.0.0.1"
    assert [r["addr"] for r in m["rcpts"]] == ["b@local.test"]
    assert re.search(r"smtpd queue_id=%s sid=\w+ client=127\.0\.0\.1 queued from=<a@local\.test> "
                     r"nrcpt=1" % qid, gw.logtext())


def test_pipelining_in_one_write(gw):
    r = Raw(gw.ports["relay"])
    r.send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@local.test>\r\n"
           "RCPT TO:<y@far.test>\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    codes = [int(r.reply()[:3]) for _ in range(7)]
    assert codes == [250, 250, 250, 250, 250, 250, 221]


def test_dsn_and_smtputf8_params_kept(gw):
    r = Raw(gw.ports["relay"])
    r.cmd("EHLO c")
    assert r.code("MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ314159 SMTPUTF8 BODY=8BITMIME") == 250
    assert r.code("RCPT TO:<x@local.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@local.test") == 250
    assert r.code("RCPT TO:<ü@local.test>") == 250
    assert r.code("DATA") == 354
    assert r.cmd("Subject: ü\r\n\r\nhi\r\n.")[:3] == "250"
    (qid, m), = gw.spool().items()
    env = m["env"]
    assert env["envid"] == "QQ314159" and env["ret"] == "HDRS" and env["smtputf8"] == "1"
    assert env["body"] == "8BITMIME"
    assert env["protocol"] == "UTF8SMTP"
    assert m["rcpts"][0]["orcpt"] == "rfc822;x@local.test"
    assert m["rcpts"][0]["notify"] == "6"
    assert b"with UTF8SMTP id" in m["data"]
    assert r.code("MAIL FROM:<ü@b.test>") == 553


def test_envid_too_long_to_keep_whole_is_refused(gw):
    # valid (60 bytes decoded, RFC 3461 allows 100) but 180 as sent: more than
    # the queue's 100; refused at the end of data rather than queued cut
    r = Raw(gw.ports["relay"])
    r.cmd("EHLO c")
    before = len(gw.spool())
    assert r.code("MAIL FROM:<a@b.test> ENVID=" + "+2B" * 60) == 250
    assert r.code("RCPT TO:<x@local.test>") == 250
    assert r.code("DATA") == 354
    assert r.cmd("Subject: x\r\n\r\nhi\r\n.")[:3] == "501"
    assert len(gw.spool()) == before
    assert r.code("MAIL FROM:<a@b.test> ENVID=" + "+2B" * 30) == 250
    assert r.code("RCPT TO:<x@local.test>") == 250
    assert r.code("DATA") == 354
    assert r.cmd("Subject: x\r\n\r\nhi\r\n.")[:3] == "250"
    assert len(gw.spool()) == before + 1


def test_bdat(gw):
    r = Raw(gw.ports["relay"])
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<a@b.test>")
    r.cmd("RCPT TO:<x@local.test>")
    r.send("BDAT 12\r\nSubject: x\r\n")
    assert r.reply().startswith("250 2.0.0 Ok: 12 octets")
    r.send("BDAT 4 LAST\r\nhi\r\n")
    assert r.reply().startswith("250 2.0.0 Ok: queued as")
    (qid, m), = gw.spool().items()
    assert m["data"].endswith(b"\r\nSubject: x\r\nhi\r\n")
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
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as [0-9A-F]{16}", out), out


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
    assert "auth=ok mech=PLAIN user=sam@local.test delay_ms=0" in log
    assert "auth=ok mech=LOGIN user=sam@local.test delay_ms=0" in log


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


def test_auth_failures_delay_grows_then_421(tmp_path, ca):
    gw = Gateway(tmp_path, ca, auth_delay=("300ms", "1200ms"))
    try:
        gw.add_user("sam@local.test")
        with smtplib.SMTP("localhost", gw.ports["submission"], timeout=30) as s:
            s.starttls(context=tls_ctx(ca))
            s.ehlo("c")
            times = []
            for i in range(3):
                t0 = time.monotonic()
                code, msg = s.docmd("AUTH", "PLAIN AHNhbUBsb2NhbC50ZXN0AHdyb25nLXBhc3N3b3Jk")
                times.append(time.monotonic() - t0)
                assert code == 535
            # The third failure ended the session (auth_failure_limit = 3).
            assert s.getreply()[0] == 421
        log = gw.logtext()
        # 300 ms, 600 ms, 1200 ms: doubling per failure from this IP, each
        # waited on a timer before the 535 (on top of the password check).
        delays = [int(d) / 1000 for d in re.findall(r"auth=failed .* delay_ms=(\d+)", log)]
        assert delays == [0.3, 0.6, 1.2], delays
        # The timer starts from the loop's cached clock, which may be a few
        # tens of milliseconds old on a loaded machine.
        assert all(t >= d - 0.05 for t, d in zip(times, delays)), (times, delays)
        assert "reject=too_many_auth_failures" in log
        assert log.count("policy=") == 0 or "event=AUTH_FAIL" in log
    finally:
        gw.stop()


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


def test_received_header_read_by_trace(gw, ca, tmp_path):
    """The header the gateway wrote, read back from the spool by `relayguard trace`."""
    with smtplib.SMTP("localhost", gw.ports["submission"], timeout=10) as s:
        s.starttls(context=tls_ctx(ca))
        s.ehlo("pc1.local.test")
        s.login("sam@local.test", PASSWORD)
        s.sendmail("sam@local.test", ["x@far.test"], b"Subject: hi\r\n\r\nbody\r\n")
    (qid, m), = gw.spool().items()
    assert m["env"]["auth_user"] == "sam@local.test"
    assert m["env"]["protocol"] == "ESMTPSA"
    assert m["env"]["sender_verified"] == "1"
    msg = tmp_path / "m.eml"
    msg.write_bytes(m["data"])
    j = rg("trace", "--json", "--trusted", "192.0.2.0/24", msg).json()
    hop = j["hops"][0]
    assert hop["with"] == "ESMTPSA"
    assert hop["id"] == qid
    assert hop["authenticated"] is True
    assert j["authenticated"] is True
    assert j["auth_user"] == "sam@local.test"


def test_policy_verdicts(tmp_path):
    """defer 451 (rate limit), hold (null sender to many), block 554 at MAIL."""
    g = Gateway(tmp_path, listeners={"relay": "role = relay\ntls = none\n"},
                extra="[limits]\nmsg_hour = 3\n")
    try:
        with smtplib.SMTP("127.0.0.1", g.ports["relay"], timeout=10) as s:
            s.ehlo("c")
            s.sendmail("", ["a@local.test", "b@local.test"], b"Subject: bounce?\r\n\r\nx\r\n")
            s.sendmail("a@local.test", ["b@local.test"], b"Subject: 2\r\n\r\nx\r\n")
            with pytest.raises(smtplib.SMTPDataError) as e:
                for i in range(3):
                    s.sendmail("a@local.test", ["b@local.test"], b"Subject: n\r\n\r\nx\r\n")
            assert e.value.smtp_code == 451
            assert b"relayguard" in e.value.smtp_error
        q = g.spool()
        held = [m for m in q.values() if m["env"].get("hold_reason")]
        assert len(held) == 1 and "null_sender_rcpts" in held[0]["env"]["hold_reason"]
        assert len(q) >= 2
        r = rg("block", "add", "--state", tmp_path / "var", "127.0.0.1", "--reason", "test")
        assert r.rc == 0, r.err
        c = Raw(g.ports["relay"])
        c.cmd("EHLO c")
        assert c.cmd("MAIL FROM:<a@local.test>").startswith("554 5.7.1 relayguard:")
        assert "policy=block event=MAIL" in g.logtext()
    finally:
        g.stop()


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
        time.sleep(0.5)  # the start-up probe's connection is gone
        a, b = Raw(g.ports["relay"]), Raw(g.ports["relay"])
        assert a.greeting.startswith("220") and b.greeting.startswith("220")
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
        time.sleep(0.5)
        a = Raw(g.ports["relay"])
        for _ in range(50):  # the start-up probe's connection may still count, under load
            if a.greeting.startswith("220"):
                break
            a.close()
            time.sleep(0.1)
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
    assert gw.spool() == {}  # neither message, certainly not two


def test_smuggling_with_swaks_one_message(gw):
    """A good message whose body holds a fake end: exactly one message, intact."""
    body = "Subject: one\r\n\r\nline\r\n..\r\nmail FROM:<evil@local.test>\r\n"
    r = Raw(gw.ports["relay"])
    r.send("EHLO c\r\nMAIL FROM:<a@local.test>\r\nRCPT TO:<x@local.test>\r\nDATA\r\n")
    [r.reply() for _ in range(4)]
    r.send(body + ".\r\nQUIT\r\n")
    assert r.reply().startswith("250 2.0.0 Ok: queued")
    assert r.reply().startswith("221")
    (qid, m), = gw.spool().items()
    assert m["data"].endswith(b"line\r\n.\r\nmail FROM:<evil@local.test>\r\n")


def test_bare_lf_in_headers_refused(gw):
    r = Raw(gw.ports["relay"])
    r.send("EHLO c\r\nMAIL FROM:<a@local.test>\r\nRCPT TO:<x@local.test>\r\nDATA\r\n")
    [r.reply() for _ in range(4)]
    r.send("Subject: a\nBcc: x@far.test\r\n\r\nbody\r\n.\r\n")
    assert r.reply().startswith("550 5.5.2")
    assert r.code("NOOP") == 250
    assert gw.spool() == {}


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


def test_example_config_no_open_relay(tmp_path):
    """docs/examples/relayguard.conf as shipped, on free ports, probed by a
    stranger (loopback taken out of its trusted networks for the probe)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "docs", "examples", "relayguard.conf")).read()
    ports = {}

    def listen(m):
        section = text[:m.start()].rsplit("\n[", 1)[1].split("]", 1)[0]
        if not section.startswith("listener "):
            return "listen ="  # [policyd], [web]: off for the probe
        ports[section[9:]] = free_port()
        return "listen = 127.0.0.1:%d" % ports[section[9:]]

    text = re.sub(r"(?m)^listen = .*$", listen, text)
    text = re.sub(r"(?m)^(state_dir|spool_dir|users) = \./var", lambda m: "%s = %s/var" % (
        m.group(1), tmp_path), text)
    text = re.sub(r"(?m)^trusted_networks = .*$", "trusted_networks = 192.0.2.0/28", text)
    # The probe makes errors on purpose: no tarpit delay for it.
    text = text.replace("[gateway]\n", "[gateway]\nerror_sleep_time = 0\n", 1)
    conf = tmp_path / "example.conf"
    conf.write_text(text)
    p = subprocess.Popen([RG_BIN, "serve", "--config", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for name in ("submission", "relay", "inbound"):
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", ports[name]), timeout=1).close()
                    break
                except OSError:
                    assert p.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
            r = relaytest(ports[name])
            assert r.rc == 0, (name, r.out)
            assert r.json()["summary"]["relayed"] == 0
        out = nmap_relay(tmp_path, [ports[n] for n in ("submission", "relay", "inbound")])
        assert "Server is an open relay" not in out, out
        assert out.count("smtp-open-relay: Server") == 3, out
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(15)


def test_auto_submitted_counts_as_automatic(tmp_path):
    """Auto-Submitted: auto-replied (RFC 3834) goes to the engine's null_hour
    limit; Auto-Submitted: no does not. (Each auto-reply goes to a different
    recipient: a second one to the same recipient is held by the auto-reply
    rule, docs/inbound.md.)"""
    g = Gateway(tmp_path, listeners={"relay": "role = relay\ntls = none\n"},
                extra="[limits]\nnull_hour = 3\n")
    try:
        with smtplib.SMTP("127.0.0.1", g.ports["relay"], timeout=10) as s:
            s.ehlo("c")
            for i in range(4):
                s.sendmail("a@local.test", ["b@local.test"],
                           b"Auto-Submitted: no\r\nSubject: human\r\n\r\nx\r\n")
            s.sendmail("a@local.test", ["c1@local.test"],
                       b"Subject: away\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n")
            s.sendmail("a@local.test", ["c2@local.test"],
                       b"Subject: away\r\nauto-submitted:auto-generated\r\n\r\nx\r\n")
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("a@local.test", ["c3@local.test"],
                           b"Subject: away\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n")
            assert e.value.smtp_code == 451
        assert len(g.spool()) == 6
    finally:
        g.stop()


def test_held_message_counted_by_rule(tmp_path):
    """A second auto-reply to the same recipient is held by the auto-reply
    rule (docs/inbound.md): /metrics counts it in
    relayguard_messages_held_total{reason=RULE} and `relayguard status --json`
    has it in holds.by_reason."""
    web = free_port()
    g = Gateway(tmp_path, listeners={"relay": "role = relay\ntls = none\n"},
                extra="[web]\nlisten = 127.0.0.1:%d\n" % web)
    try:
        with smtplib.SMTP("127.0.0.1", g.ports["relay"], timeout=10) as s:
            s.ehlo("c")
            for _ in range(2):
                s.sendmail("a@local.test", ["probe@example.net"],
                           b"Subject: away\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n")
        reasons = [m["env"]["hold_reason"] for m in g.spool().values()
                   if m["env"].get("hold_reason")]
        assert len(reasons) == 1 and reasons[0].startswith("policy autoreply_repeat:"), reasons
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % web, timeout=10)
        text = body.read().decode()
        assert 'relayguard_messages_held_total{reason="autoreply_repeat"} 1' in text, text
        st = rg("status", "--config", g.conf, "--json")
        assert st.rc == 0, st.err
        holds = st.json()["holds"]
        assert holds["count"] == 1 and holds["by_reason"] == {"autoreply_repeat": 1}
        st = rg("status", "--config", g.conf)
        assert "holds:   1 (1 autoreply_repeat)" in st.out
    finally:
        g.stop()


# ---- AUTH password checks off the event loop ----

# AUTH PLAIN for sam@local.test with the right and a wrong password
PLAIN_OK = base64.b64encode(b"\0sam@local.test\0" + PASSWORD.encode()).decode()
PLAIN_BAD = base64.b64encode(b"\0sam@local.test\0wrong-password").decode()


def slow_auth_gateway(tmp_path, gateway="", **kw):
    """A plaintext submission listener and sam@local.test hashed at the
    "moderate" cost (t=3, 256 MiB): one check takes a few hundred ms."""
    g = Gateway(tmp_path, listeners={
        "sub": "role = submission\ntls = none\nrequire_tls_for_auth = no\n"},
        gateway=gateway, **kw)
    r = rg("user", "add", "--password-stdin", "--cost", "moderate", "--file", g.users,
           "sam@local.test", stdin=PASSWORD + "\n")
    assert r.rc == 0, r.err
    return g


def stopped_cleanly(g):
    g.stop()
    log = g.logtext() if not g.log.closed else (g.dir / "serve.log").read_text()
    assert g.proc.returncode == 0, log
    assert "AddressSanitizer" not in log and "runtime error" not in log, log
    return log


def test_auth_check_does_not_stall_other_sessions(tmp_path):
    g = slow_auth_gateway(tmp_path)
    try:
        port = g.ports["sub"]
        # How long one check takes here (a success waits no policy delay;
        # the first AUTH also loads the users file and makes the dummy hash).
        for _ in range(2):
            c = Raw(port)
            c.cmd("EHLO c")
            t0 = time.monotonic()
            assert c.cmd("AUTH PLAIN " + PLAIN_OK).startswith("235")
            check = time.monotonic() - t0
            c.close()
        assert check > 0.1, "the check took %.3f s: too fast to test with" % check
        b = Raw(port)
        assert b.cmd("EHLO b").startswith("250")
        a = Raw(port)
        a.cmd("EHLO a")
        ta = time.monotonic()
        a.send("AUTH PLAIN %s\r\n" % PLAIN_BAD)
        time.sleep(0.03)  # the check has started
        waits = []
        for i in range(3):
            t0 = time.monotonic()
            assert b.cmd("NOOP").startswith("250")
            waits.append(time.monotonic() - t0)
        noop_done = time.monotonic()
        assert a.reply().startswith("535")
        # The NOOPs were answered while A's check ran, not after it.
        assert noop_done < ta + check * 0.8, (check, waits)
        assert max(waits) < 0.05, (check, waits)
        a.close()
        b.close()
        log = g.logtext()
        assert re.search(r"auth=failed mech=PLAIN user=sam@local.test delay_ms=\d+ "
                         r"why=bad password", log), log
    finally:
        g.stop()


def test_auth_many_at_once_and_client_gone(tmp_path):
    """Four AUTHs at once on two workers all get their answer; clients that
    leave (or a server that stops) with a check running are not touched."""
    g = slow_auth_gateway(tmp_path, gateway="auth_workers = 2\n",
                          auth_delay=("0", "0"))
    try:
        port = g.ports["sub"]
        cs = [Raw(port) for _ in range(4)]
        for i, c in enumerate(cs):
            c.cmd("EHLO c%d" % i)
        for i, c in enumerate(cs):
            c.send("AUTH PLAIN %s\r\n" % (PLAIN_OK if i % 2 == 0 else PLAIN_BAD))
        codes = sorted(int(c.reply()[:3]) for c in cs)
        assert codes == [235, 235, 535, 535], codes
        for c in cs:
            c.close()
        # Gone while checked: the check is dropped, the gateway goes on.
        for _ in range(3):
            gone = Raw(port)
            gone.cmd("EHLO gone")
            gone.send("AUTH PLAIN %s\r\n" % PLAIN_OK)
            gone.close()
        time.sleep(0.05)
        n = Raw(port)
        assert n.cmd("NOOP").startswith("250")
        n.cmd("EHLO n")
        assert n.cmd("AUTH PLAIN " + PLAIN_OK).startswith("235")
        # And a stop with a check running: joined, nothing leaks (ASan).
        last = Raw(port)
        last.cmd("EHLO last")
        last.send("AUTH PLAIN %s\r\n" % PLAIN_OK)
        time.sleep(0.03)
    finally:
        log = stopped_cleanly(g)
    assert log.count("auth=ok") >= 3, log


def test_auth_from_blocked_ip_skips_the_check(tmp_path):
    g = slow_auth_gateway(tmp_path)
    try:
        port = g.ports["sub"]
        r = rg("block", "add", "--state", tmp_path / "var", "127.0.0.1", "--reason", "test")
        assert r.rc == 0, r.err
        c = Raw(port)
        c.cmd("EHLO c")
        t0 = time.monotonic()
        # The right password: the block refuses it all the same, as before,
        # only without the few hundred ms of Argon2.
        assert c.cmd("AUTH PLAIN " + PLAIN_OK).startswith("535 5.7.8")
        assert time.monotonic() - t0 < 0.1
        log = g.logtext()
        assert "policy=block event=AUTH_FAIL" in log, log
        assert re.search(r"auth=failed mech=PLAIN user=sam@local.test delay_ms=0 "
                         r"why=not checked \(client blocked\)", log), log
    finally:
        stopped_cleanly(g)
