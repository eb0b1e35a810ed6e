"""MTA-STS (RFC 8461) for MX delivery, against unbound serving the MX, A and
_mta-sts TXT records, an HTTPS policy server (python http.server + ssl) with
a test CA made here with the openssl CLI, and mxsim's MX hosts offering
STARTTLS with certificates of that CA.

sts.test prefers evil.sts.test (127.0.0.2, MX 10), which has a valid
certificate but is not in the policy; mx.sts.test (127.0.0.3, MX 20) is. In
enforce mode the mail goes to mx.sts.test only; bad.test's only MX is not in
its policy, so its mail is deferred; the policy cache survives a restart."""
import datetime
import http.server
import json
import os
import ssl
import threading

import pytest

from mxsim import MXSim
from test_delivery import Gateway, Unbound, make_cert, wait

EVIL, GOOD = "127.0.0.2", "127.0.0.3"

POLICIES = {
    "mta-sts.sts.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\n"
                        "mx: *.backup.sts.test\r\nmax_age: 86400\r\n",
    "mta-sts.bad.test": "version: STSv1\nmode: enforce\nmx: mx.bad.test\nmax_age: 86400\n",
    "mta-sts.testing.test": "version: STSv1\nmode: testing\nmx: mx.testing.test\n"
                            "max_age: 600\n",
}

RECORDS = [
    "sts.test. MX 10 evil.sts.test.", "sts.test. MX 20 mx.sts.test.",
    "evil.sts.test. A %s" % EVIL, "mx.sts.test. A %s" % GOOD,
    "mta-sts.sts.test. A 127.0.0.1",
    '_mta-sts.sts.test. TXT "v=STSv1; id=20261206T0400;"',
    "bad.test. MX 10 evil.bad.test.", "evil.bad.test. A %s" % EVIL,
    "mta-sts.bad.test. A 127.0.0.1",
    '_mta-sts.bad.test. TXT "v=STSv1; id=b1;"',
    "testing.test. MX 10 evil.testing.test.", "evil.testing.test. A %s" % EVIL,
    "mta-sts.testing.test. A 127.0.0.1",
    '_mta-sts.testing.test. TXT "v=STSv1; id=t1;"',
    # TLS-RPT: sts.test's reports go to a mailbox of rpt.test (MX mx.sts.test)
    '_smtp._tls.sts.test. TXT "v=TLSRPTv1; rua=mailto:tls-reports@rpt.test,'
    'https://rpt.test/tlsrpt"',
    "rpt.test. MX 10 mx.sts.test.",
]


class PolicyServer:
    """HTTPS on 127.0.0.1, the policy by Host header."""

    def __init__(self, cert, key):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                body = POLICIES.get(host)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                self.server.fetches.append(host)
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.fetches = []
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def cert_for(tmp_path, names):
    """A CA and one certificate for every name in names (first as CN)."""
    d = tmp_path / ("ca-" + names[0])
    d.mkdir()
    ca, crt, key = make_cert(str(d), names[0])
    if len(names) > 1:  # re-sign with every name as a SAN
        import subprocess
        ext = os.path.join(str(d), "ext2.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n")
        subprocess.run(["openssl", "x509", "-req", "-in", crt.replace(".pem", ".csr"),
                        "-CA", ca, "-CAkey", os.path.join(str(d), "ca.key"),
                        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
                       check=True, capture_output=True)
    return ca, crt, key


@pytest.fixture
def env(tmp_path):
    d = tmp_path / "unbound"
    d.mkdir()
    dns = Unbound(str(d), RECORDS)
    mx = MXSim([EVIL, GOOD]).start()
    web_ca, web_crt, web_key = cert_for(
        tmp_path, ["mta-sts.sts.test", "mta-sts.bad.test", "mta-sts.testing.test"])
    srv = PolicyServer(web_crt, web_key)
    mx_ca, mx_crt, mx_key = cert_for(tmp_path, ["mx.sts.test", "evil.sts.test",
                                                "evil.bad.test", "evil.testing.test"])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(mx_crt, mx_key)
    for ip in (EVIL, GOOD):
        mx.mx[ip].starttls = ctx
    extra = ("idle_timeout = 0\ntls_ca_file = %s\nmta_sts_ca_file = %s\nmta_sts_port = %d\n"
             % (mx_ca, web_ca, srv.port))
    made = []

    def gateway(more=""):
        g = Gateway(str(tmp_path), dns, mx, extra + more)
        made.append(g)
        return g
    yield {"gateway": gateway, "mx": mx, "srv": srv, "tmp": tmp_path}
    for g in made:
        rc = g.stop()
        text = g.logtext()
        assert "ERROR: AddressSanitizer" not in text and "runtime error" not in text, text
        assert rc == 0, text
    srv.stop()
    mx.stop()
    dns.stop()


def test_enforce_refuses_mismatched_mx_and_delivers_to_right_one(env):
    mx, g = env["mx"], env["gateway"]()
    g.send("sam@gw.test", ["a@sts.test"])
    assert wait(lambda: mx.mx[GOOD].messages), g.logtext()
    assert mx.mx[GOOD].messages[0]["tls"]
    assert mx.mx[EVIL].connections == 0 and not mx.mx[EVIL].messages
    skipped = [l for l in g.lines("mta-sts") if l.get("relay") == "evil.sts.test"]
    assert skipped and skipped[0]["status"] == "skipped" and skipped[0]["mode"] == "enforce"
    assert wait(lambda: g.lines("rcpt")), g.logtext()
    assert g.lines("rcpt")[0]["status"] == "sent"
    assert env["srv"].httpd.fetches == ["mta-sts.sts.test"]
    # the policy is cached in the state directory by its id
    cache = os.path.join(str(env["tmp"]), "var", "mta-sts", "sts.test")
    assert open(cache).read().startswith("rgsts1 20261206T0400 ")


def test_tls_rpt_daily_report(env):
    """Our TLS results under sts.test's policy, as RFC 8460 §4's JSON in the
    state directory: the TLS session to mx.sts.test a success, the refused
    evil.sts.test a validation-failure."""
    mx, g = env["mx"], env["gateway"]()
    g.send("sam@gw.test", ["a@sts.test"])
    assert wait(lambda: mx.mx[GOOD].messages), g.logtext()
    assert g.stop() == 0  # the report is written at shutdown at the latest
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    path = os.path.join(str(env["tmp"]), "var", "tls-rpt", day, "sts.test.json")
    with open(path) as f:
        rep = json.load(f)
    assert rep["organization-name"] == "gw.test"
    assert rep["contact-info"] == "postmaster@gw.test"
    assert rep["date-range"] == {"start-datetime": day + "T00:00:00Z",
                                 "end-datetime": day + "T23:59:59Z"}
    assert rep["report-id"]
    (pol,) = rep["policies"]
    assert pol["policy"] == {
        "policy-type": "sts",
        "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.sts.test",
                          "mx: *.backup.sts.test", "max_age: 86400"],
        "policy-domain": "sts.test", "mx-host": ["mx.sts.test", "*.backup.sts.test"]}
    assert pol["summary"] == {"total-successful-session-count": 1,
                              "total-failure-session-count": 1}
    assert pol["failure-details"] == [{"result-type": "validation-failure",
                                       "receiving-mx-hostname": "evil.sts.test",
                                       "failed-session-count": 1, "receiving-ip": EVIL}]


def test_tls_rpt_report_sent_to_rua(env):
    """With tlsrpt_send, a finished day's report goes once to the mailto:
    rua of _smtp._tls.sts.test, through our queue, as RFC 8460 §5.3 says:
    multipart/report with the JSON gzip-compressed. The day is made over by
    moving today's report to yesterday's directory."""
    import email
    import email.policy
    import gzip
    send = "tlsrpt_send = yes\ntlsrpt_from = tlsrpt@gw.test\n"
    mx, g = env["mx"], env["gateway"](send)
    g.send("sam@gw.test", ["a@sts.test"])
    assert wait(lambda: mx.mx[GOOD].messages), g.logtext()
    assert g.stop() == 0
    assert len(mx.mx[GOOD].messages) == 1  # today's report is not due yet
    now = datetime.datetime.now(datetime.timezone.utc)
    today = now.strftime("%Y-%m-%d")
    yesterday = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    base = os.path.join(str(env["tmp"]), "var", "tls-rpt")
    os.rename(os.path.join(base, today), os.path.join(base, yesterday))
    with open(os.path.join(base, yesterday, "sts.test.json")) as f:
        rep = json.load(f)
    # a report of a domain without a _smtp._tls record is not sent, but marked
    with open(os.path.join(base, yesterday, "bad.test.json"), "w") as f:
        json.dump(rep, f)
    g2 = env["gateway"](send)
    assert wait(lambda: len(mx.mx[GOOD].messages) == 2), g2.logtext()
    m = mx.mx[GOOD].messages[1]
    assert m["mail_from"] == "<tlsrpt@gw.test>", m
    assert [r.strip("<>") for r in m["rcpts"]] == ["tls-reports@rpt.test"], m
    msg = email.message_from_bytes(m["data"], policy=email.policy.default)
    assert msg["TLS-Report-Domain"] == "sts.test"
    assert msg["TLS-Report-Submitter"] == "gw.test"
    assert msg["Subject"] == ("Report Domain: sts.test Submitter: gw.test Report-ID: <%s>"
                              % rep["report-id"])
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    (att,) = [p for p in msg.iter_parts() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert att.get_filename().startswith("gw.test!sts.test!")
    assert json.loads(gzip.decompress(att.get_content())) == rep
    assert os.path.exists(os.path.join(base, yesterday, "sts.test.sent"))
    nosend = os.path.join(base, yesterday, "bad.test.sent")
    assert wait(lambda: os.path.exists(nosend)), g2.logtext()
    assert open(nosend).read() == "no valid record\n"
    assert "_smtp._tls.bad.test: no record; the report of %s is not sent" % yesterday \
        in g2.logtext()
    assert "https: reporting is not supported" in g2.logtext()
    # sent once: a restart does not send it again
    assert g2.stop() == 0
    g3 = env["gateway"](send)
    g3.send("sam@gw.test", ["b@sts.test"])
    assert wait(lambda: len(mx.mx[GOOD].messages) == 3), g3.logtext()
    assert g3.stop() == 0
    assert len(mx.mx[GOOD].messages) == 3
    assert [r.strip("<>") for r in mx.mx[GOOD].messages[2]["rcpts"]] == ["b@sts.test"]


def test_tls_rpt_send_needs_from(tmp_path):
    """checkconf: tlsrpt_send = yes without tlsrpt_from (or with a bad one)
    is refused; with it the file is fine."""
    from conftest import rg
    conf = tmp_path / "c.conf"
    for body, msg in [
        ("[delivery]\ntlsrpt_send = yes\n", "tlsrpt_send = yes needs tlsrpt_from"),
        ("[delivery]\ntlsrpt_send = yes\ntlsrpt_from = nobody\n",
         "tlsrpt_from: \"nobody\": not an address"),
    ]:
        conf.write_text(body)
        r = rg("checkconf", "--config", conf)
        assert r.rc == 2 and msg in r.err, (body, r.err)
    conf.write_text("[delivery]\ntlsrpt_send = yes\ntlsrpt_from = tlsrpt@gw.example.org\n")
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err


def test_enforce_without_matching_mx_defers(env):
    mx, g = env["mx"], env["gateway"]()
    g.send("sam@gw.test", ["a@bad.test"])
    assert wait(lambda: any(l["status"] == "deferred" for l in g.lines("rcpt"))), g.logtext()
    assert mx.mx[EVIL].connections == 0
    l = [l for l in g.lines("rcpt") if l["status"] == "deferred"][0]
    assert "4.7.5" in l["reply"] and "MTA-STS" in l["reply"], l


def test_testing_mode_delivers_and_records(env):
    mx, g = env["mx"], env["gateway"]()
    g.send("sam@gw.test", ["a@testing.test"])
    assert wait(lambda: mx.mx[EVIL].messages), g.logtext()
    l = [l for l in g.lines("mta-sts") if l.get("relay") == "evil.testing.test"]
    assert l and l[0]["status"] == "mismatch" and l[0]["mode"] == "testing"


def test_cached_policy_survives_restart_without_server(env):
    mx = env["mx"]
    g = env["gateway"]()
    g.send("sam@gw.test", ["a@sts.test"])
    assert wait(lambda: mx.mx[GOOD].messages), g.logtext()
    assert g.stop() == 0
    env["srv"].stop()  # the policy server is gone: the cached copy still holds
    g2 = env["gateway"]()
    g2.send("sam@gw.test", ["b@sts.test"])
    assert wait(lambda: len(mx.mx[GOOD].messages) == 2), g2.logtext()
    assert mx.mx[EVIL].connections == 0
    env["srv"].stop = lambda: None
