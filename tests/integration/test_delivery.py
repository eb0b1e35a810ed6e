"""Delivery end to end: relayguard serve takes mail on its relay listener and
delivers it to scripted MX hosts on 127.0.0.2-5 (mxsim.py), found through a
real unbound on loopback serving MX/A/AAAA for the test domains. Every path:
accept, defer then retry, reject with a DSN (or a held DSN for an unverified
sender), drop and stall with MX fallback, null MX, expiry, STARTTLS with
verification, relayhost with AUTH, connection reuse."""
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import RG_BIN, free_port
from mxsim import MXSim
from rbldnsd import build_query

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
MX1, MX2, MXY, MXGW = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"


class Unbound:
    """unbound on 127.0.0.1:port answering for *.test from local-data."""

    def __init__(self, tmp, records):
        # free_port() can race with another process taking the port before
        # unbound binds it: a bind failure gets a new port, three times at most.
        for attempt in range(3):
            try:
                self._start(tmp, records)
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise

    def _start(self, tmp, records):
        self.dir = tmp
        self.port = free_port(socket.AF_INET, socket.SOCK_DGRAM)
        conf = ["server:", "  interface: 127.0.0.1@%d" % self.port, "  port: %d" % self.port,
                "  do-daemonize: no", "  username: \"\"", "  chroot: \"\"",
                "  directory: \"%s\"" % tmp, "  pidfile: \"\"", "  use-syslog: no",
                "  logfile: \"\"", "  verbosity: 0", "  do-ip6: no", "  num-threads: 1",
                "  access-control: 127.0.0.0/8 allow", "  do-not-query-localhost: no",
                "  local-zone: \"test.\" static", "  module-config: \"iterator\""]
        # a record holding double quotes (TXT) goes in single ones
        conf += [("  local-data: '%s'" if '"' in r else "  local-data: \"%s\"") % r
                 for r in records]
        conf += ["remote-control:", "  control-enable: no"]
        self.conf = os.path.join(tmp, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(build_query("mx1.x.test", "A"), ("127.0.0.1", self.port))
                    if s.recv(512):
                        return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError("unbound: %s" % self.proc.stdout.read().decode())
        raise RuntimeError("unbound did not answer")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


RECORDS = [
    "x.test. MX 10 mx1.x.test.", "x.test. MX 20 mx2.x.test.",
    "mx1.x.test. A %s" % MX1, "mx2.x.test. A %s" % MX2,
    "y.test. A %s" % MXY,  # no MX: implicit MX
    "gw.test. MX 10 mx.gw.test.", "mx.gw.test. A %s" % MXGW,
    "null.test. MX 0 .",
    "v6only.test. MX 10 mx6.v6only.test.", "mx6.v6only.test. AAAA ::1",
    # clients' reverse DNS: 127.0.0.6 is named and confirmed, 127.0.0.7's name
    # points elsewhere, 127.0.0.9 has no PTR at all
    "6.0.0.127.in-addr.arpa. PTR desk6.corp.test.", "desk6.corp.test. A 127.0.0.6",
    "7.0.0.127.in-addr.arpa. PTR forged.corp.test.", "forged.corp.test. A 127.0.0.99",
]


@pytest.fixture
def dns(tmp_path):
    d = tmp_path / "unbound"
    d.mkdir()
    u = Unbound(str(d), RECORDS)
    yield u
    u.stop()


@pytest.fixture
def mx():
    sim = MXSim([MX1, MX2, MXY, MXGW, "::1"]).start()
    yield sim
    sim.stop()


class Gateway:
    def __init__(self, tmp, dns, mx, extra=""):
        self.tmp = tmp
        self.port = free_port()
        self.conf = os.path.join(tmp, "relayguard.conf")
        with open(self.conf, "w") as f:
            f.write(
                "[gateway]\nhostname = gw.test\nstate_dir = %s/var\nlocal_domains = gw.test\n"
                "trusted_networks = 127.0.0.0/8\n"
                "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
                "[policyd]\nlisten =\n[web]\nlisten =\n"
                "[delivery]\nresolver = 127.0.0.1:%d\nsmtp_port = %d\ntls = may\n"
                "poll_interval = 10ms\nconnect_timeout = 2s\ncommand_timeout = 2s\n"
                "idle_timeout = 1s\ndead_time = 0\nminimal_backoff = 1s\nmaximal_backoff = 2s\n"
                "%s\n" % (tmp, self.port, dns.port, mx.port, extra))
        self.log = open(os.path.join(tmp, "serve.log"), "w+")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.logtext())
                time.sleep(0.05)
        raise RuntimeError("relayguard did not listen: " + self.logtext())

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def lines(self, event=None):
        out = []
        for l in self.logtext().splitlines():
            m = re.search(r"delivery id=(\S+) event=(\S+)(.*)", l)
            if m and (event is None or m.group(2) == event):
                kv = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', m.group(3)))
                kv = {k: v.strip('"') for k, v in kv.items()}
                kv["id"], kv["event"] = m.group(1), m.group(2)
                out.append(kv)
        return out

    def send(self, sender, rcpts, body=None, subject="test"):
        body = body or ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@gw.test>\r\n"
                        "\r\nhello\r\n.leading dot\r\n" % (sender, rcpts[0], subject,
                                                            time.time()))
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("client.test")
            s.sendmail(sender, rcpts, body)

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc


@pytest.fixture
def gateway(tmp_path, dns, mx):
    made = []

    def make(extra=""):
        g = Gateway(str(tmp_path), dns, mx, extra)
        made.append(g)
        return g
    yield make
    for g in made:
        rc = g.stop()
        text = g.logtext()
        assert "ERROR: AddressSanitizer" not in text and "runtime error" not in text, text
        assert rc == 0, text


def wait(cond, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_accept_two_domains_implicit_mx(gateway, mx):
    g = gateway()
    g.send("sam@gw.test", ["a@x.test", "b@x.test", "c@y.test"])
    assert wait(lambda: mx.mx[MX1].messages and mx.mx[MXY].messages), g.logtext()
    m = mx.mx[MX1].messages[0]
    assert m["mail_from"].startswith("<sam@gw.test>")
    assert sorted(m["rcpts"]) == ["a@x.test", "b@x.test"]
    assert b"\r\n.leading dot\r\n" in m["data"]
    assert b"Subject: test\r\n" in m["data"]
    assert mx.mx[MXY].messages[0]["rcpts"] == ["c@y.test"]
    assert not mx.mx[MX2].messages
    assert wait(lambda: len(g.lines("done")) == 1)
    rc = g.lines("rcpt")
    assert {l["status"] for l in rc} == {"sent"}
    assert rc[0]["relay"].startswith(("mx1.x.test[127.0.0.2]", "y.test[127.0.0.4]"))


def test_ipv6_only_mx(gateway, mx):
    """A domain whose only MX host has only an AAAA record goes out over IPv6 (::1)."""
    g = gateway()
    g.send("sam@gw.test", ["v@v6only.test"])
    assert wait(lambda: mx.mx["::1"].messages), g.logtext()
    m = mx.mx["::1"].messages[0]
    assert m["rcpts"] == ["v@v6only.test"] and b"Subject: test\r\n" in m["data"]
    assert wait(lambda: len(g.lines("done")) == 1), g.logtext()
    rc = g.lines("rcpt")
    assert rc[0]["status"] == "sent" and "[::1]" in rc[0]["relay"], rc


def test_received_names_verified_client(gateway, mx):
    """[gateway] reverse_dns: our Received header names a client whose PTR name
    gives its IP back, and says "unknown" for a PTR that does not (anyone can
    put any name in their PTR) and for no PTR at all."""
    g = gateway("[gateway]\nreverse_dns = yes\n")
    for src, rcpt in (("127.0.0.6", "a@x.test"), ("127.0.0.7", "b@x.test"),
                      ("127.0.0.9", "c@x.test")):
        with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=(src, 0)) as s:
            time.sleep(0.5)  # the lookups run while the client talks; let them end
            s.ehlo("pc.corp.test")
            s.sendmail("sam@gw.test", [rcpt], "Subject: rdns\r\n\r\nhi\r\n")
    assert wait(lambda: len(mx.mx[MX1].messages) == 3, 15), g.logtext()
    got = {m["rcpts"][0]: m["data"].split(b"\r\n")[0] for m in mx.mx[MX1].messages}
    assert got["a@x.test"] == b"Received: from pc.corp.test (desk6.corp.test [127.0.0.6])"
    assert got["b@x.test"] == b"Received: from pc.corp.test (unknown [127.0.0.7])"
    assert got["c@x.test"] == b"Received: from pc.corp.test (unknown [127.0.0.9])"


def test_received_without_reverse_dns(gateway, mx):
    """The default asks no PTR: the Received header says "unknown"."""
    g = gateway()
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=("127.0.0.6", 0)) as s:
        time.sleep(0.3)
        s.ehlo("pc.corp.test")
        s.sendmail("sam@gw.test", ["a@x.test"], "Subject: rdns\r\n\r\nhi\r\n")
    assert wait(lambda: mx.mx[MX1].messages, 15), g.logtext()
    assert mx.mx[MX1].messages[0]["data"].startswith(
        b"Received: from pc.corp.test (unknown [127.0.0.6])")


def test_defer_then_retry(gateway, mx):
    mx.mx[MX1].defer_first = 1
    g = gateway()
    g.send("sam@gw.test", ["a@x.test"])
    assert wait(lambda: mx.mx[MX1].messages, 15), g.logtext()
    # The MX keeps the message before it answers 250; the gateway logs "sent"
    # only once it has read that answer.
    assert wait(lambda: len(g.lines("rcpt")) >= 2 and g.lines("done")), g.logtext()
    st = [l["status"] for l in g.lines("rcpt")]
    assert st == ["deferred", "sent"]
    assert [l["event"] for l in g.lines() if l["event"] in ("deferred", "done")] == [
        "deferred", "done"]


def test_reject_sends_dsn_to_verified_sender(gateway, mx):
    mx.mx[MX1].mode = "reject_bad"
    g = gateway()
    g.send("sam@gw.test", ["bad@x.test", "good@x.test"])
    assert wait(lambda: mx.mx[MXGW].messages), g.logtext()
    dsn = mx.mx[MXGW].messages[0]
    assert dsn["mail_from"].startswith("<>")
    assert dsn["rcpts"] == ["sam@gw.test"]
    d = dsn["data"].decode()
    assert "report-type=delivery-status" in d
    assert "Final-Recipient: rfc822; bad@x.test" in d
    assert "Status: 5.1.1" in d
    assert "Remote-MTA: dns; mx1.x.test" in d
    assert "Auto-Submitted: auto-replied" in d
    assert mx.mx[MX1].messages[0]["rcpts"] == ["good@x.test"]


def test_unverified_sender_gets_no_backscatter(gateway, mx):
    mx.mx[MX1].mode = "reject_bad"
    g = gateway()
    # not a local domain: the sender is not verified, whatever the network
    g.send("someone@elsewhere.test", ["bad@x.test"])
    assert wait(lambda: g.lines("dsn")), g.logtext()
    assert g.lines("dsn")[0]["status"] == "held"
    time.sleep(0.5)
    assert not mx.mx[MXGW].messages


def test_stall_and_drop_fall_back_to_next_mx(gateway, mx):
    mx.mx[MX1].mode = "stall"
    g = gateway()
    g.send("sam@gw.test", ["a@x.test"])
    assert wait(lambda: mx.mx[MX2].messages), g.logtext()
    # a connection lost in the middle of the data: deferred, then delivered
    mx.mx[MX1].mode = "drop_data"
    mx.mx[MX2].mode = "drop_data"
    g.send("sam@gw.test", ["b@x.test"])
    assert wait(lambda: any(l["status"] == "deferred" for l in g.lines("rcpt")))
    mx.mx[MX1].mode = "accept"
    assert wait(lambda: mx.mx[MX1].messages, 15), g.logtext()
    assert mx.mx[MX1].messages[0]["rcpts"] == ["b@x.test"]


def test_greeting_421_and_refused_fall_back(gateway, mx):
    mx.mx[MX1].mode = "greet421"
    g = gateway()
    g.send("sam@gw.test", ["a@x.test"])
    assert wait(lambda: mx.mx[MX2].messages), g.logtext()


def test_null_mx_and_nxdomain_bounce_at_once(gateway, mx):
    g = gateway()
    g.send("sam@gw.test", ["a@null.test", "b@nonexistent.test"])
    assert wait(lambda: mx.mx[MXGW].messages), g.logtext()
    d = mx.mx[MXGW].messages[0]["data"].decode()
    assert "Status: 5.1.10" in d
    assert "Status: 5.1.2" in d


def test_expiry_returns_mail(gateway, mx):
    mx.mx[MX1].mode = "defer"
    mx.mx[MX2].mode = "defer"
    g = gateway("queue_lifetime = 3s")
    g.send("sam@gw.test", ["a@x.test"])
    assert wait(lambda: mx.mx[MXGW].messages, 20), g.logtext()
    d = mx.mx[MXGW].messages[0]["data"].decode()
    assert "Status: 4.4.7" in d
    assert "try again later" in d
    assert any(l["status"] == "expired" for l in g.lines("rcpt"))


def test_connection_reuse(gateway, mx):
    g = gateway("destination_concurrency = 1")
    for i in range(5):
        g.send("sam@gw.test", ["r%d@x.test" % i])
    assert wait(lambda: len(mx.mx[MX1].messages) == 5), g.logtext()
    assert mx.mx[MX1].connections <= 2


def make_cert(tmp, name):
    """A CA and a certificate for name signed by it; returns (ca, cert, key)."""
    ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, crt = (os.path.join(tmp, name + s) for s in (".key", ".csr", ".pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=test CA", "-keyout", ca_key, "-out", ca],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                    "-keyout", key, "-out", csr], check=True, capture_output=True)
    ext = os.path.join(tmp, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\n" % name)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    return ca, crt, key


def test_starttls_verify(gateway, mx, tmp_path):
    ca, crt, key = make_cert(str(tmp_path), "mx1.x.test")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    mx.mx[MX1].starttls = ctx
    mx.mx[MX2].starttls = ctx  # same certificate: wrong name for mx2
    g = gateway("idle_timeout = 0\ntls_ca_file = %s\n[delivery_tls]\nx.test = verify\n" % ca)
    g.send("sam@gw.test", ["a@x.test"])
    assert wait(lambda: mx.mx[MX1].messages), g.logtext()
    assert mx.mx[MX1].messages[0]["tls"]
    assert wait(lambda: g.lines("rcpt")), g.logtext()
    l = g.lines("rcpt")[0]
    assert l["tls"].startswith("TLSv1.")
    # mx1 gone: mx2's certificate does not name it, so no delivery
    mx.mx[MX1].mode = "greet421"
    g.send("sam@gw.test", ["b@x.test"])
    assert wait(lambda: any(l["status"] == "deferred" for l in g.lines("rcpt")))
    assert len(mx.mx[MX2].messages) == 0


def test_relayhost_with_auth(gateway, mx, tmp_path):
    # credentials go only to a relayhost whose certificate is verified
    # (relayhost_tls = verify is required with relayhost_auth)
    ca, crt, key = make_cert(str(tmp_path), "mx2.x.test")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    mx.mx[MX2].starttls = ctx
    mx.mx[MX2].auth = ("gwuser", "s3cret pass")
    g = gateway("relayhost = [mx2.x.test]:%d\nrelayhost_auth = gwuser:s3cret pass\n"
                "relayhost_tls = verify\ntls_ca_file = %s\n" % (mx.port, ca))
    g.send("sam@gw.test", ["a@x.test", "b@elsewhere.test"])
    assert wait(lambda: mx.mx[MX2].messages), g.logtext()
    m = mx.mx[MX2].messages[0]
    assert m["auth"] == "gwuser" and m["tls"]
    assert sorted(m["rcpts"]) == ["a@x.test", "b@elsewhere.test"]
    assert not mx.mx[MX1].messages


def test_source_address_per_sender_domain_and_listener(gateway, mx):
    g = gateway("source_address = 127.0.0.7\nsource_by_sender_domain = gw.test=127.0.0.8\n"
                "[listener relay]\nsource_address = 127.0.0.9\n")
    g.send("sam@gw.test", ["a@x.test"])
    g.send("other@elsewhere.test", ["b@y.test"])
    assert wait(lambda: mx.mx[MX1].messages and mx.mx[MXY].messages), g.logtext()
    assert mx.mx[MX1].messages[0]["peer"] == "127.0.0.8"  # by sender domain
    assert mx.mx[MXY].messages[0]["peer"] == "127.0.0.9"  # by listener


def test_remote_rejections_feed_the_policy_engine(gateway, mx):
    # unknown users at the remote end are the strongest compromise signal:
    # enough of them and the client's identity is blocked for its next message
    mx.mx[MX1].mode = "reject_bad"
    g = gateway("[signals]\nrejected_min = 3\nrejected_pct = 30\nrejected_weight = 95\n"
                "[actions]\nscore_block = 90\n")
    g.send("someone@elsewhere.test", ["bad1@x.test", "bad2@x.test", "bad3@x.test",
                                      "bad4@x.test"])
    assert wait(lambda: g.lines("done")), g.logtext()
    # the engine counted the remote rejections: the next message is refused
    with pytest.raises(smtplib.SMTPException):
        g.send("someone@elsewhere.test", ["good@x.test"])
    assert "rejected" in g.logtext()
    assert not any("good@x.test" in m["rcpts"] for m in mx.mx[MX1].messages)
