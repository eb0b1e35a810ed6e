"""Outbound content scanning against a real rspamd (docs/delivery.md "Content
scanning"): the test starts rspamd with its own configuration in a temp dir
(loopback only: every module that would ask DNS or Redis is off, and its
resolver is a closed loopback port), sends GTUBE messages through the
submission listener and reads the replies, the spool and /metrics.

GTUBE variants rspamd knows: "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-
UBE-TEST-EMAIL*C.34X" is reject (score 15), the same with "YJS" is add header
(score 6), "ZJS" rewrite subject."""
import base64
import http.server
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import free_port
from test_smtpd import Gateway

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_ADD_HEADER = "Y" + GTUBE[1:]
STARTUP_S = 300  # rspamd compiles its maps and rules at start; a loaded machine is slow

# Modules that would reach DNS, Redis or the network, or need state.
OFF = ("rbl surbl fuzzy_check neural reputation ratelimit greylist history_redis dkim dmarc "
       "spf asn mx_check url_redirector replies dcc phishing emails whitelist arc bimi "
       "dkim_signing multimap rspamd_update metric_exporter clickhouse elastic p0f antivirus "
       "external_services spamassassin maillist trie spamtrap milter_headers "
       "force_actions hfilter once_received chartable mid forged_recipients "
       "mime_types").split()


class Rspamd:
    def __init__(self, tmp):
        self.dir = str(tmp)
        self.port = free_port()
        local = os.path.join(self.dir, "local.d")
        for d in (local, os.path.join(self.dir, "db"), os.path.join(self.dir, "run")):
            os.makedirs(d, exist_ok=True)
        files = {
            # a closed loopback port as the resolver: no query leaves the machine
            "options.inc": 'dns { nameserver = ["127.0.0.1:%d"]; timeout = 0.2s; '
                           "retransmits = 0; }\nlocal_addrs = [];\n"
                           # the GTUBE variants other than reject, and GTUBE
                           # for authenticated users too
                           "enable_test_patterns = true;\n"
                           'gtube_patterns = "all";\ndisable_hyperscan = true;\n'
                           % free_port(),
            "worker-normal.inc": 'bind_socket = "127.0.0.1:%d";\ncount = 1;\n' % self.port,
            "worker-controller.inc": "enabled = false;\n",
            "worker-proxy.inc": "enabled = false;\n",
            "worker-fuzzy.inc": "enabled = false;\n",
            "logging.inc": 'type = "file";\nfilename = "%s/rspamd.log";\nlevel = "info";\n'
                           % self.dir,
            "redis.conf": "enabled = false;\n",
        }
        for m in OFF:
            files[m + ".conf"] = "enabled = false;\n"
        for name, text in files.items():
            with open(os.path.join(local, name), "w") as f:
                f.write(text)
        self.out = open(os.path.join(self.dir, "rspamd.out"), "w")
        self.proc = subprocess.Popen(
            [shutil.which("rspamd"), "-f", "-i", "-c", "/etc/rspamd/rspamd.conf",
             "--var", "LOCAL_CONFDIR=" + self.dir, "--var", "DBDIR=%s/db" % self.dir,
             "--var", "RUNDIR=%s/run" % self.dir, "--var", "LOGDIR=" + self.dir],
            stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ping" % self.port,
                                            timeout=2) as r:
                    if r.read().strip() == b"pong":
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("rspamd did not start: " + self.logtext())
            time.sleep(0.5)

    def logtext(self):
        p = os.path.join(self.dir, "rspamd.log")
        return open(p, errors="replace").read()[-3000:] if os.path.exists(p) else ""

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    r = Rspamd(tmp_path_factory.mktemp("rspamd"))
    yield r
    r.stop()


PASSWORD = "Tr0ub4dor&3-horse-battery"


def gateway(tmp_path, port, timeout="5s", extra=""):
    web = free_port()
    g = Gateway(tmp_path, listeners={
        "submission": "role = submission\ntls = none\nrequire_tls_for_auth = no\n",
        "relay": "role = relay\ntls = none\n"},
        extra="[scan]\nrspamd = 127.0.0.1:%d\ntimeout = %s\n[web]\nlisten = 127.0.0.1:%d\n%s"
        % (port, timeout, web, extra))
    g.web = web
    for u in ("alice@local.test", "bob@local.test"):
        g.add_user(u, PASSWORD)
    return g


def metrics(g):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % g.web, timeout=10) as r:
        return r.read().decode()


def message(subject, body, sender="alice@local.test"):
    return ("From: %s\r\nTo: carol@example.net\r\nSubject: %s\r\n"
            "Message-ID: <%s.%d@local.test>\r\n\r\n%s\r\n"
            % (sender, subject, subject.replace(" ", "."), time.monotonic_ns(), body)).encode()


def submit(g, user, msgs, rcpt="carol@example.net"):
    """Sends msgs as user on one session; the reply (code, text) of each."""
    out = []
    with smtplib.SMTP("127.0.0.1", g.ports["submission"], timeout=30) as s:
        s.ehlo("pc.local.test")
        s.login(user, PASSWORD)
        for m in msgs:
            try:
                s.sendmail(user, [rcpt], m)
                out.append((250, ""))
            except smtplib.SMTPDataError as e:
                out.append((e.smtp_code, e.smtp_error.decode()))
                s.rset()
    return out


def test_gtube_rejected_with_rspamd_reply(tmp_path, rspamd):
    """GTUBE through the submission listener: 550 5.7.1 with rspamd's own
    message, nothing queued; a clean message is queued unmarked; the add
    header variant is queued with X-Spam: Yes."""
    g = gateway(tmp_path, rspamd.port)
    try:
        r = submit(g, "alice@local.test", [message("gtube", GTUBE),
                                            message("hello", "lunch at noon?"),
                                            message("maybe", GTUBE_ADD_HEADER)])
        assert r[0][0] == 550 and "5.7.1" in r[0][1] and "Gtube pattern" in r[0][1], r
        assert r[1][0] == 250 and r[2][0] == 250, r
        q = g.spool()
        assert len(q) == 2, q
        by_subject = {m["data"].split(b"Subject: ")[1].split(b"\r\n")[0]: m["data"]
                      for m in q.values()}
        assert b"X-Spam:" not in by_subject[b"hello"]
        assert by_subject[b"maybe"].startswith(b"X-Spam: Yes\r\nX-Spam-Score: 6.00"), \
            by_subject[b"maybe"][:200]
        text = metrics(g)
        assert 'relayguard_scan_total{result="reject"} 1' in text, text
        assert 'relayguard_scan_total{result="no_action"} 1' in text, text
        assert 'relayguard_scan_total{result="add_header"} 1' in text, text
        assert 'relayguard_smtp_messages_total{result="scan_rejected"} 1' in text, text
        assert "scan=reject score=15.00" in g.logtext()
    finally:
        g.stop()


def test_every_message_of_a_session_scanned(tmp_path, rspamd):
    """After a rejected DATA the next transaction (no RSET in between) is
    scanned again."""
    g = gateway(tmp_path, rspamd.port)
    try:
        with smtplib.SMTP("127.0.0.1", g.ports["submission"], timeout=30) as s:
            s.ehlo("pc.local.test")
            s.login("alice@local.test", PASSWORD)
            for _ in range(2):
                assert s.mail("alice@local.test")[0] == 250
                assert s.rcpt("carol@example.net")[0] == 250
                code, text = s.data(message("gtube", GTUBE))
                assert code == 550 and b"Gtube pattern" in text, (code, text)
        assert len(g.spool()) == 0
        assert 'relayguard_scan_total{result="reject"} 2' in metrics(g)
    finally:
        g.stop()


def test_relay_listener_scanned(tmp_path, rspamd):
    """The relay listener (trusted network, no AUTH) is scanned as well."""
    g = gateway(tmp_path, rspamd.port)
    try:
        with smtplib.SMTP("127.0.0.1", g.ports["relay"], timeout=30) as s:
            s.ehlo("exchange.local.test")
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("a@local.test", ["x@example.net"], message("g", GTUBE, "a@local.test"))
            assert e.value.smtp_code == 550
        assert len(g.spool()) == 0
    finally:
        g.stop()


def test_spam_account_held_clean_account_not(tmp_path, rspamd):
    """alice sends ten messages rspamd scores as spam (add header, 6 points,
    below any rate limit); the engine's spam signal holds the tenth. bob
    sends ten clean ones in the same hour: none is held."""
    g = gateway(tmp_path, rspamd.port)
    try:
        ra = submit(g, "alice@local.test",
                    [message("offer %d" % i, GTUBE_ADD_HEADER) for i in range(10)])
        rb = submit(g, "bob@local.test",
                    [message("notes %d" % i, "minutes of meeting %d" % i, "bob@local.test")
                     for i in range(10)])
        assert all(code == 250 for code, _ in ra + rb), (ra, rb)
        q = g.spool()
        held = {m["env"]["sender"]: m["env"]["hold_reason"] for m in q.values()
                if m["env"].get("hold_reason")}
        assert list(held) == ["alice@local.test"], held
        assert "spam messages in 1 h" in held["alice@local.test"], held
        assert sum(1 for m in q.values() if m["env"].get("hold_reason")) == 1
        assert len(q) == 20
    finally:
        g.stop()


class Silent:
    """A TCP server that accepts and reads but never answers (rspamd hung)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_rspamd_slow_passes_after_timeout(tmp_path):
    """rspamd accepts but never answers: after [scan] timeout the message
    passes, the log and relayguard_scan_total{result="timeout"} say so."""
    srv = Silent()
    g = gateway(tmp_path, srv.port, timeout="1s")
    try:
        t0 = time.monotonic()
        r = submit(g, "alice@local.test", [message("slow", GTUBE)])
        took = time.monotonic() - t0
        assert r == [(250, "")], r
        assert 0.9 <= took < 10, took
        assert len(g.spool()) == 1
        assert 'relayguard_scan_total{result="timeout"} 1' in metrics(g)
        assert "scan=timeout" in g.logtext() and "passed unscanned" in g.logtext()
    finally:
        g.stop()
        srv.close()


def test_rspamd_stopped_mid_test_loses_no_mail(tmp_path, rspamd):
    """rspamd answers the first message, then stops: every later message is
    accepted and queued unscanned, and /metrics counts the errors. (Stops
    the module's rspamd: the last test of this file to use it.)"""
    g = gateway(tmp_path, rspamd.port)
    try:
        assert submit(g, "alice@local.test", [message("before", "plain")]) == [(250, "")]
        rspamd.stop()
        r = submit(g, "alice@local.test", [message("after %d" % i, GTUBE) for i in range(3)])
        assert r == [(250, "")] * 3, r
        assert len(g.spool()) == 4
        text = metrics(g)
        assert 'relayguard_scan_total{result="no_action"} 1' in text, text
        assert 'relayguard_scan_total{result="error"} 3' in text, text
        assert g.logtext().count("passed unscanned") == 3
    finally:
        g.stop()


class FakeRspamd:
    """An HTTP server answering every /checkv2 with one fixed JSON reply (a
    scanner that is broken or not rspamd at all)."""

    def __init__(self, reply):
        body = reply.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_rspamd_reply_with_absurd_score_is_a_scan_error(tmp_path):
    """An "add header" reply whose score has hundreds of digits as %.2f (the
    header X-Spam-Score is written from it) is a scan error: the message
    passes unscanned and the gateway lives on (it used to panic())."""
    srv = FakeRspamd('{"action":"add header","score":1e300,"required_score":-1e300}')
    g = gateway(tmp_path, srv.port)
    try:
        r = submit(g, "alice@local.test", [message("huge", "hello"), message("again", "hi")])
        assert r == [(250, "")] * 2, r
        q = g.spool()
        assert len(q) == 2, q
        assert all(b"X-Spam" not in m["data"] for m in q.values())
        assert 'relayguard_scan_total{result="error"} 2' in metrics(g)
        assert g.logtext().count("passed unscanned") == 2
    finally:
        g.stop()
        srv.close()
