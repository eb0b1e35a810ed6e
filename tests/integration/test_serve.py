"""relayguard serve: the Postfix policy service over persistent connections
(block/unblock from the CLI take effect while it runs, rate limits at
END-OF-MESSAGE, bad requests close the connection), /metrics accepted by
promtool, checkconf, and a clean stop on SIGTERM."""
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import RG_BIN, Policy, free_port, policy_request, rg


@pytest.fixture
def server(tmp_path):
    pport, wport = free_port(), free_port()
    conf = tmp_path / "relayguard.conf"
    conf.write_text(
        "[gateway]\nstate_dir = %s\n[policyd]\nlisten = 127.0.0.1:%d\n"
        "[web]\nlisten = 127.0.0.1:%d\n[limits]\nmsg_hour = 5\nmsg_minute = 100\n"
        "[listener submission]\nlisten = 127.0.0.1:%d\n"
        % (tmp_path / "var", pport, wport, free_port()))
    p = subprocess.Popen([RG_BIN, "serve", "--config", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", pport), timeout=1).close()
            socket.create_connection(("127.0.0.1", wport), timeout=1).close()
            break
        except OSError:
            if p.poll() is not None:
                raise RuntimeError(p.stderr.read())
            time.sleep(0.05)
    srv = {"proc": p, "policy": pport, "web": wport, "conf": conf, "dir": tmp_path}
    yield srv
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


RCPT = dict(protocol_state="RCPT", protocol_name="ESMTP", client_address="192.0.2.10",
            sasl_username="sam@example.com", sender="sam@example.com",
            recipient="bob@example.net", size="0")


def eom(n_rcpt=1, **kw):
    d = dict(RCPT, protocol_state="END-OF-MESSAGE", recipient="", recipient_count=str(n_rcpt),
             size="2048")
    d.update(kw)
    return d


def test_policy_block_unblock_live(server):
    c = Policy(server["policy"])
    assert c.ask(**RCPT) == "action=DUNNO"
    r = rg("block", "--config", server["conf"], "add", "sam@example.com", "--reason",
           "password guessed")
    assert r.rc == 0, r.err
    # The same persistent connection sees the block at once.
    reply = c.ask(**RCPT)
    assert reply.startswith("action=REJECT relayguard block:manual: user:sam@example.com is "
                            "blocked: password guessed"), reply
    # Other users and IPs are untouched.
    assert c.ask(**dict(RCPT, sasl_username="ann@example.com")) == "action=DUNNO"
    r = rg("unblock", "--config", server["conf"], "sam@example.com", "--reason",
           "password changed")
    assert r.rc == 0 and "sending resumes" in r.out
    assert c.ask(**RCPT) == "action=DUNNO"
    # A range block (cached by the engine) is seen at once: the running
    # server made it (control API), no reload timer.
    assert rg("block", "--config", server["conf"], "add", "198.51.100.0/24").rc == 0
    q = dict(RCPT, sasl_username="", client_address="198.51.100.77")
    assert c.ask(**q).startswith("action=REJECT")
    audit = rg("block", "--config", server["conf"], "audit", "--json").json()["audit"]
    assert [a["action"] for a in audit] == ["block", "unblock", "block"]
    c.close()


def test_rate_limit_at_end_of_message(server):
    c = Policy(server["policy"])
    replies = [c.ask(**eom()) for _ in range(8)]
    assert replies[:5] == ["action=DUNNO"] * 5, replies
    assert all(r.startswith("action=DEFER relayguard rate_msg_hour") for r in replies[5:]), replies
    # RCPT requests do not count messages by default.
    for _ in range(20):
        assert c.ask(**dict(RCPT, sasl_username="ann@example.com")) == "action=DUNNO"
    c.close()


def test_bad_requests_close_the_connection(server):
    for bad in [b"garbage\n\n", b"request=smtpd_access_policy\nBad Name=x\n\n",
                b"request=other\n\n", b"x=" + b"a" * 5000 + b"\n\n"]:
        s = socket.create_connection(("127.0.0.1", server["policy"]), timeout=5)
        s.sendall(bad)
        assert s.recv(100) == b""
        s.close()
    # The service is still there.
    c = Policy(server["policy"])
    assert c.ask(**RCPT) == "action=DUNNO"
    c.close()


def test_many_requests_split_and_pipelined(server):
    s = socket.create_connection(("127.0.0.1", server["policy"]), timeout=10)
    data = policy_request(**RCPT).encode() * 200
    for i in range(0, len(data), 7):
        s.sendall(data[i:i + 7])
    got = b""
    while got.count(b"\n\n") < 200:
        chunk = s.recv(65536)
        assert chunk
        got += chunk
    assert got == b"action=DUNNO\n\n" * 200
    s.close()


def test_metrics(server):
    c = Policy(server["policy"])
    c.ask(**RCPT)
    c.ask(**eom())
    c.close()
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server["web"], timeout=5)
    assert body.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.read().decode()
    assert 'relayguard_policy_requests_total{state="RCPT"} 1' in text
    assert 'relayguard_policy_requests_total{state="END-OF-MESSAGE"} 1' in text
    assert 'relayguard_policy_decisions_total{action="allow"} 2' in text
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:%d/nope" % server["web"], timeout=5)
    assert e.value.code == 401  # everything but /metrics and /healthz needs a login
    assert urllib.request.urlopen("http://127.0.0.1:%d/healthz" % server["web"]).read() == b"ok\n"


def test_sigterm_stops_cleanly(server):
    p = server["proc"]
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0
    assert "serve: stopped" in err


def test_port_in_use(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    conf = tmp_path / "c.conf"
    conf.write_text("[gateway]\nstate_dir = %s\n[policyd]\nlisten = 127.0.0.1:%d\n[web]\nlisten =\n"
                    % (tmp_path / "var", port))
    r = rg("serve", "--config", conf, timeout=20)
    s.close()
    assert r.rc == 2
    assert "cannot listen on 127.0.0.1:%d" % port in r.err


def test_checkconf(tmp_path):
    r = rg("checkconf")
    assert r.rc == 0
    assert "configuration OK (embedded defaults)" in r.out
    assert "listener submission: role submission, tls starttls, on 127.0.0.1:2587" in r.out
    assert "listener relay: role relay" in r.out
    assert "policy service: 127.0.0.1:10040" in r.out
    conf = tmp_path / "c.conf"
    for body, msg in [
        ("[gateway]\nbogus = 1\n", "c.conf:2: unknown option 'bogus' in [gateway]"),
        ("[gateway]\ntrusted_networks = 10.0.0.0/33\n", "trusted_networks: not an IP address"),
        ("[listener x]\nlisten = 127.0.0.1\n", "c.conf:2: '127.0.0.1': no port"),
        ("[listener x]\nrole = boss\n", "role: expected submission, relay or inbound"),
        ("[gateway]\ntls_cert = /nonexistent.pem\n", "tls_cert and tls_key go together"),
        ("[policyd]\nlisten = nowhere:1\n", "[policyd] listen"),
        ("[policyd]\ncount_at = sometimes\n", "count_at"),
        ("[limits]\nmsg_hour = lots\n", "c.conf:2:"),
        ("[gateway]\nmax_message_size = 1\n", "c.conf:2: max_message_size"),
    ]:
        conf.write_text(body)
        r = rg("checkconf", "--config", conf)
        assert r.rc == 2, body
        assert r.err.startswith("relayguard: checkconf: "), r.err
        assert msg in r.err, (body, r.err)
    conf.write_text("[listener mx]\nlisten = *:2500 [::1]:2501\nrole = inbound\ntls = none\n"
                    "[policyd]\nlisten = unix:%s\n" % (tmp_path / "policy.sock"))
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
    assert "listener mx: role inbound, tls none, on *:2500 [::1]:2501" in r.out
    assert "policy service: unix:%s" % (tmp_path / "policy.sock") in r.out


def test_block_cli_errors(tmp_path):
    # No state there: said, exit 2, rather than "no blocks" (issue 19).
    r = rg("block", "--state", tmp_path / "var", "list")
    assert r.rc == 2 and "no state store in" in r.err  # never "no blocks"
    r = rg("block", "--state", tmp_path / "var", "frobnicate")
    assert r.rc == 2 and "unknown action" in r.err
    r = rg("unblock", "--state", tmp_path / "var")
    assert r.rc == 2 and "needs an identity" in r.err
    r = rg("block", "--state", tmp_path / "var", "add", "x y")
    assert r.rc == 2 and "is not an identity" in r.err
    r = rg("block", "--state", tmp_path / "var", "add", "192.0.2.1", "--expires", "soon")
    assert r.rc == 2
    r = rg("block", "--state", tmp_path / "var", "add", "2001:db8::1:2", "--expires", "1h",
           "--json")
    assert r.rc == 0 and r.json()["identity"] == "ip:2001:db8::/64"
    r = rg("block", "--state", tmp_path / "var", "show", "2001:db8::77", "--json")
    assert r.rc == 0 and r.json()["blocked"] is True and r.json()["expires"]
    r = rg("block", "--state", tmp_path / "var", "show", "192.0.2.99")
    assert r.rc == 1 and "no block for ip:192.0.2.99" in r.out
