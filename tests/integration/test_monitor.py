"""relayguard monitor against a real rbldnsd on loopback: state on disk,
alerts only on change (exec with JSON on stdin, webhook POST), errors are not
changes, configuration errors, and the long-running mode stopping on SIGTERM."""
import http.server
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import RG_BIN, free_port, rg
from rbldnsd import Rbldnsd

LISTED = [":127.0.0.2:Listed, see http://traps.test/$", "127.0.0.2", "192.0.2.5"]
CLEAN = [":127.0.0.2:Listed", "127.0.0.2"]


class Hook(http.server.BaseHTTPRequestHandler):
    bodies = []
    status = 204

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Hook.bodies.append((self.headers.get("Content-Type"), self.rfile.read(n)))
        self.send_response(Hook.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.bodies = []
    Hook.status = 204
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/hook" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def bl(tmp_path):
    d = tmp_path / "zones"
    d.mkdir()
    srv = Rbldnsd(d, ipv6=False)
    srv.zone("traps.test", "ip4set", LISTED)
    srv.start()
    yield srv
    srv.stop()


def set_zone(srv, lines):
    """Rewrites the zone file and makes rbldnsd reload it."""
    fname = srv.specs[0].split(":")[2]
    path = os.path.join(srv.dir, fname)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    mt = os.stat(path).st_mtime + 2
    os.utime(path, (mt, mt))
    srv.proc.send_signal(signal.SIGHUP)
    for _ in range(100):
        r = srv.query("5.2.0.192.traps.test")
        want = "NOERROR" if "192.0.2.5" in lines else "NXDOMAIN"
        if r and r[1] == want:
            return
        time.sleep(0.05)
    raise AssertionError("rbldnsd did not reload")


def write_conf(tmp_path, resolver, webhook=None, extra=""):
    alerts = tmp_path / "alerts.jsonl"
    hook_prog = tmp_path / "alert.py"
    hook_prog.write_text("import sys\nopen(sys.argv[1], 'a').write(sys.stdin.read() + '\\n')\n")
    conf = tmp_path / "monitor.conf"
    text = ("[monitor]\ntargets = 192.0.2.5 192.0.2.6\nzones = traps.test\n"
            "resolver = %s\ntimeout = 300\ntries = 1\ninterval = 10s\nstate = %s\n%s"
            "[alert]\nexec = %s %s %s\n" % (resolver, tmp_path / "var" / "state.json", extra,
                                            sys.executable, hook_prog, alerts))
    if webhook:
        text += "webhook = %s\nwebhook_retries = 1\nwebhook_timeout = 2s\n" % webhook
    conf.write_text(text)
    return conf, alerts


def alerts_of(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def test_first_round_alerts_then_only_changes(tmp_path, bl, webhook):
    conf, alerts = write_conf(tmp_path, bl.resolver, webhook)
    r = rg("monitor", "--config", conf, "--once", "--json")
    assert r.rc == 1, r.err
    doc = r.json()
    assert doc["summary"]["listed"] == 1
    assert [(c["change"], c["target"], c["zone"]) for c in doc["changes"]] == [
        ("listed", "192.0.2.5", "traps.test")]
    got = alerts_of(alerts)
    assert len(got) == 1
    assert got[0]["event"] == "dnsbl_change"
    assert got[0]["changes"][0]["txt"] == "Listed, see http://traps.test/192.0.2.5"
    assert got[0]["listed_now"] == 1
    assert len(Hook.bodies) == 1
    assert Hook.bodies[0][0] == "application/json"
    assert json.loads(Hook.bodies[0][1]) == got[0]
    state = tmp_path / "var" / "state.json"
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o640
    assert "192.0.2.5 traps.test" in json.loads(state.read_text())["listings"]

    # Nothing changed: no alert.
    r = rg("monitor", "--config", conf, "--once", "--json")
    assert r.rc == 1
    assert r.json()["changes"] == []
    assert len(alerts_of(alerts)) == 1
    assert len(Hook.bodies) == 1

    # Delisted: one alert saying so, with the time it was listed since.
    set_zone(bl, CLEAN)
    r = rg("monitor", "--config", conf, "--once", "--json")
    assert r.rc == 0, r.err
    ch = r.json()["changes"]
    assert [(c["change"], c["target"]) for c in ch] == [("delisted", "192.0.2.5")]
    assert ch[0]["since"] == got[0]["changes"][0]["since"]
    assert len(alerts_of(alerts)) == 2
    assert alerts_of(alerts)[1]["changes"][0]["change"] == "delisted"
    assert json.loads(state.read_text())["listings"] == {}


def test_errors_are_not_changes(tmp_path, bl):
    conf, alerts = write_conf(tmp_path, bl.resolver)
    assert rg("monitor", "--config", conf, "--once").rc == 1
    assert len(alerts_of(alerts)) == 1
    # The resolver goes away: every lookup fails, the listing stands, nobody is told.
    dead = "127.0.0.1:%d" % free_port(kind=__import__("socket").SOCK_DGRAM)
    conf2, _ = write_conf(tmp_path, dead)
    r = rg("monitor", "--config", conf2, "--once", "--json")
    assert r.rc == 3, r.out
    assert r.json()["changes"] == []
    assert len(alerts_of(alerts)) == 1
    state = json.loads((tmp_path / "var" / "state.json").read_text())
    assert "192.0.2.5 traps.test" in state["listings"]


def test_human_output(tmp_path, bl):
    conf, _ = write_conf(tmp_path, bl.resolver)
    r = rg("monitor", "--config", conf, "--once")
    assert r.rc == 1
    assert "2 targets x 1 zones: 1 listed, 0 errors, 1 changes" in r.out
    assert "listed    192.0.2.5" in r.out


def test_failing_alerts_are_reported(tmp_path, bl, webhook):
    Hook.status = 500
    conf, _ = write_conf(tmp_path, bl.resolver, webhook)
    conf.write_text(conf.read_text() + "exec = /nonexistent/notify\n")
    r = rg("monitor", "--config", conf, "--once")
    assert r.rc == 1  # the listing is still the answer
    assert "could not be delivered" in r.err
    assert "/nonexistent/notify" in r.err
    assert "HTTP 500" in r.err
    assert len(Hook.bodies) == 2  # first try and one retry


@pytest.mark.parametrize("body,msg", [
    ("[monitor]\ntargets = 192.0.2.1\nbogus = 1\n", "monitor.conf:3: unknown option 'bogus' in [monitor]"),
    ("[monitor]\ninterval = 1s\n", "monitor.conf:2: interval: expected a duration"),
    ("[monitor]\nzones = x.test\n", "no targets configured"),
    ("[monitor]\ntargets = 192.0.2.0/8\n", "more than the limit"),
    ("[monitor]\ntargets = 192.0.2.1\n[alert]\nwebhook = ftp://x/\n", "monitor.conf:4: webhook URL must start with http"),
    ("[monitor]\ntargets = 192.0.2.1\nzones = dnsbl.sorbs.net\n", "defunct list"),
    ("[monitor]\ntargets = 192.0.2.1\nresolver = nonsense\n", "bad resolver"),
    ("garbage\n", "monitor.conf:1: syntax error"),
])
def test_config_errors(tmp_path, body, msg):
    conf = tmp_path / "monitor.conf"
    conf.write_text(body)
    r = rg("monitor", "--config", conf, "--once")
    assert r.rc == 2
    assert r.out == ""
    assert r.err.startswith("relayguard: monitor: ")
    assert msg in r.err
    assert not (tmp_path / "var").exists()


def test_missing_config(tmp_path):
    r = rg("monitor", "--config", tmp_path / "nope.conf", "--once")
    assert r.rc == 2
    assert "nope.conf: No such file or directory" in r.err


def test_daemon_runs_a_round_and_stops_on_sigterm(tmp_path, bl):
    conf, alerts = write_conf(tmp_path, bl.resolver)
    p = subprocess.Popen([RG_BIN, "monitor", "--config", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if alerts_of(alerts):
                break
            time.sleep(0.05)
        assert len(alerts_of(alerts)) == 1
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode in (0, 1)
    assert "monitor started" in err
    assert "monitor stopped" in err


def test_help():
    r = rg("monitor", "--help")
    assert r.rc == 0
    assert "usage: relayguard monitor" in r.out
    assert "webhook" in r.out


def ip_cert(tmp_path, ip):
    """A CA and a certificate naming the IP address ip (an IP SAN only)."""
    from test_delivery import make_cert
    d = tmp_path / ("ca-" + ip)
    d.mkdir()
    ca, crt, key = make_cert(str(d), "webhook.test")
    ext = d / "ip.cnf"
    ext.write_text("subjectAltName=IP:%s\n" % ip)
    subprocess.run(["openssl", "x509", "-req", "-in", crt.replace(".pem", ".csr"), "-CA", ca,
                    "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile",
                    str(ext), "-out", crt], check=True, capture_output=True)
    return ca, crt, key


@pytest.mark.parametrize("named,delivered", [("127.0.0.1", True), ("127.0.0.2", False)])
def test_https_webhook_verifies_the_ip_literal(tmp_path, bl, named, delivered):
    # https://127.0.0.1/ is checked against the certificate's IP addresses
    # (net/tls's client setup): the right address is trusted through
    # webhook_ca, another address is refused and the POST never arrives
    import ssl
    ca, crt, key = ip_cert(tmp_path, named)
    Hook.bodies = []
    Hook.status = 204
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "https://127.0.0.1:%d/hook" % srv.server_address[1]
        conf, _ = write_conf(tmp_path, bl.resolver, url)
        conf.write_text(conf.read_text() + "webhook_ca = %s\n" % ca)
        r = rg("monitor", "--config", conf, "--once")
        assert r.rc == 1, r.err
        if delivered:
            assert len(Hook.bodies) == 1, r.err
            assert "could not be delivered" not in r.err
        else:
            assert Hook.bodies == []
            assert "could not be delivered" in r.err
    finally:
        srv.shutdown()
        srv.server_close()
