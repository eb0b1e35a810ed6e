"""Limits that bound what one client can make the gateway keep (issue 16):
a full state store fails closed for AUTH; mail loops are refused; the
smaller per-client caps. Each test here fails on the code before the fix."""
import base64
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time

import pytest

from conftest import RG_BIN
from test_smtpd import PASSWORD, Gateway, ca, tls_ctx  # noqa: F401 (ca is a fixture)


def plain(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def test_full_state_store_fails_auth_closed(tmp_path, ca, monkeypatch):  # noqa: F811
    # Unknown names are checked at the configured cost: keep it cheap here.
    monkeypatch.setenv("RELAYGUARD_ARGON2", "min")
    gw = Gateway(tmp_path, ca, auth_delay=("0", "0"),
                 gateway=("state_map_size = 262144\nauth_failure_limit = 100\n"
                          "soft_error_limit = 1000\nhard_error_limit = 1000\n"),
                 extra="[auth]\nip_failures = 1000000\naccount_failures = 1000000\n")
    try:
        gw.add_user("sam@local.test")
        codes = []
        n = 0
        # Every new name is a record of ~2.4 KB: 256 KiB fill up quickly.
        for _ in range(6):
            with smtplib.SMTP("localhost", gw.ports["submission"], timeout=30) as s:
                s.starttls(context=tls_ctx(ca))
                s.ehlo("c")
                for _ in range(90):
                    code, _ = s.docmd("AUTH", "PLAIN " + plain("x%d@far.test" % n, "wrong"))
                    n += 1
                    codes.append(code)
                    if code == 454:
                        break
                if codes[-1] == 454:
                    # A right password is not let through uncounted either.
                    code, msg = s.docmd("AUTH", "PLAIN " + plain("sam@local.test", PASSWORD))
                    assert code == 454, msg
                    assert b"4.7.0" in msg
                    break
        assert codes[-1] == 454, codes
        assert set(codes[:-1]) == {535}, codes
        log = gw.logtext()
        assert re.search(r"\[error\]: smtpd .*policy=store_error event=AUTH_OK "
                         r"\(refused: AUTH fails closed\)", log), log[-3000:]
        assert "auth=refused" in log
        assert "auth=ok" not in log
        # The 80% alert: a log line at error level from the periodic check.
        deadline = time.monotonic() + 10
        while "the state store is" not in gw.logtext() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert re.search(r"state store is \d+\.\d% full \(alert at 80%\)", gw.logtext())
    finally:
        gw.stop()


# ---- mail loops (item 8) ----

def test_hop_count_50_received_refused_49_accepted(tmp_path, ca):  # noqa: F811
    gw = Gateway(tmp_path, ca)
    try:
        def send(hops):
            hdr = "".join("Received: from hop%d.far.test by hop%d.far.test; "
                          "Sun, 6 Dec 2026 04:00:00 +0000\r\n" % (i, i + 1)
                          for i in range(hops))
            msg = hdr + "From: <a@far.test>\r\nSubject: hops\r\n\r\nbody\r\n"
            with smtplib.SMTP("127.0.0.1", gw.ports["inbound"], timeout=10) as s:
                s.ehlo("far.test")
                s.mail("a@far.test")
                s.rcpt("bob@local.test")
                return s.data(msg)
        code, msg = send(49)
        assert code == 250, msg
        code, msg = send(50)
        assert code == 554 and msg.startswith(b"5.4.6"), (code, msg)
        # a long header section is still counted (the field, not the line)
        code, msg = send(80)
        assert code == 554, (code, msg)
        log = gw.logtext()
        assert "reject=mail_loop received=50 limit=50" in log
        assert len(gw.spool()) == 1
    finally:
        gw.stop()


def test_mx_pointing_to_ourselves_defers(tmp_path):
    from test_delivery import Unbound
    from mxsim import MXSim
    records = [
        # we are the only MX
        "loop.test. MX 10 mx.loop.test.", "mx.loop.test. A 127.0.0.1",
        # we are a backup MX: only the better one is tried
        "backup.test. MX 10 mx1.backup.test.", "backup.test. MX 20 mx.loop.test.",
        "mx1.backup.test. A 127.0.0.2",
        # we are the best MX: never hand it to a worse one, never to us
        "best.test. MX 5 mx.loop.test.", "best.test. MX 20 mx1.backup.test.",
    ]
    udir = tmp_path / "unbound"
    udir.mkdir()
    dns = Unbound(str(udir), records)
    sim = None
    gw = None
    try:
        # the other MX and our own listener on one port (delivery's smtp_port)
        for _ in range(20):
            sim = MXSim(["127.0.0.2"])
            try:
                with socket.socket() as t:
                    t.bind(("127.0.0.1", sim.port))
                break
            except OSError:
                sim = None
        assert sim is not None
        sim.start()
        port = sim.port
        conf = tmp_path / "relayguard.conf"
        conf.write_text(
            "[gateway]\nhostname = gw.test\nstate_dir = %s/var\nlocal_domains = gw.test\n"
            "trusted_networks = 127.0.0.0/8\n"
            "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
            "[policyd]\nlisten =\n[web]\nlisten =\n"
            "[delivery]\nresolver = 127.0.0.1:%d\nsmtp_port = %d\ntls = none\n"
            "poll_interval = 10ms\nconnect_timeout = 2s\ncommand_timeout = 2s\n"
            "idle_timeout = 1s\ndead_time = 0\nminimal_backoff = 60s\nmaximal_backoff = 60s\n"
            % (tmp_path, port, dns.port, port))
        log = open(tmp_path / "serve.log", "w+")
        proc = subprocess.Popen([RG_BIN, "serve", "--config", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT)
        gw = (proc, log)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)

        def text():
            log.flush()
            return (tmp_path / "serve.log").read_text()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("client.test")
            for dom in ("loop.test", "backup.test", "best.test"):
                s.sendmail("a@gw.test", ["u@" + dom],
                           "From: <a@gw.test>\r\nSubject: %s\r\n\r\nhi\r\n" % dom)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            t = text()
            if (t.count("event=loop") >= 2 and sim.mx["127.0.0.2"].messages):
                break
            time.sleep(0.1)
        t = text()
        loops = [l for l in t.splitlines() if "event=loop" in l]
        assert any("domain=loop.test" in l and "relay=mx.loop.test[127.0.0.1]:%d" % port in l
                   and "status=deferred" in l and "loops back to myself" in l
                   for l in loops), t[-4000:]
        assert any("domain=best.test" in l for l in loops), t[-4000:]
        assert not any("domain=backup.test" in l for l in loops)
        got = sim.mx["127.0.0.2"].messages
        assert [m["rcpts"] for m in got] == [["u@backup.test"]], got
        # Nothing came back to us: one "queued" per message sent, no more.
        assert t.count(" queued from=") == 3, t[-4000:]
        assert all("[error]" in l for l in loops)  # loud: a configuration error
    finally:
        if gw:
            gw[0].terminate()
            try:
                gw[0].wait(15)
            except subprocess.TimeoutExpired:
                gw[0].kill()
                gw[0].wait()
            gw[1].close()
        if sim:
            sim.stop()
        dns.stop()


# ---- blocks and the audit trail survive (item 3) ----

def run(*args):
    r = subprocess.run([RG_BIN] + list(args), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_store_verify_rebuilds_blocks_from_the_audit_trail(tmp_path):
    state = str(tmp_path / "var")
    assert run("block", "--state", state, "add", "a@x.test", "--reason", "stolen password",
               "--expires", "2h")[0] == 0
    assert run("block", "--state", state, "add", "192.0.2.7", "--reason", "spam run")[0] == 0
    assert run("unblock", "--state", state, "192.0.2.7", "--reason", "cleaned")[0] == 0
    rc, out, err = run("store", "verify", "--state", state)
    assert rc == 0 and out.strip().endswith("ok"), (out, err)
    policy = tmp_path / "var" / "policy"
    shown = json.loads(run("block", "--state", state, "show", "a@x.test", "--json")[1])

    # the block database is gone: found, then rebuilt from the trail
    shutil.rmtree(policy / "blocks")
    rc, out, err = run("store", "verify", "--state", state, "--json")
    doc = json.loads(out)
    assert rc == 1 and doc["missing_blocks"] == 1 and not doc["ok"], doc
    assert "user:a@x.test" in doc["problem"]
    rc, out, err = run("store", "verify", "--state", state, "--repair", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["rebuilt_blocks"] == 1 and doc["repaired"], doc
    again = json.loads(run("block", "--state", state, "show", "a@x.test", "--json")[1])
    for k in ("identity", "rule", "reason", "created", "expires", "blocked"):
        assert again[k] == shown[k], (k, again, shown)
    # the lifted one stays lifted
    assert run("block", "--state", state, "show", "192.0.2.7")[0] != 0

    # the block environment is garbage: detected, set aside, rebuilt
    (policy / "blocks" / "data.mdb").write_bytes(os.urandom(8192))
    rc, out, err = run("store", "verify", "--state", state, "--json")
    doc = json.loads(out)
    assert rc == 1 and doc["blocks_env"]["broken"], doc
    rc, out, err = run("store", "verify", "--state", state, "--repair", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["blocks_env"]["reset"] and doc["rebuilt_blocks"] == 1, doc
    assert any(p.name.startswith("blocks.broken-") for p in policy.iterdir())
    assert json.loads(run("block", "--state", state, "show", "a@x.test",
                          "--json")[1])["reason"] == "stolen password"

    # the counters are lossy: a broken counters file is started afresh
    (policy / "data.mdb").write_bytes(os.urandom(8192))
    rc, out, err = run("store", "verify", "--state", state, "--json")
    assert rc == 1 and json.loads(out)["counters"]["broken"], out
    rc, out, err = run("store", "verify", "--state", state, "--repair", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["counters"]["reset"] and doc["blocks"] == 1, doc


def test_block_survives_kill_9(tmp_path, ca):  # noqa: F811
    gw = Gateway(tmp_path, ca)
    try:
        state = str(tmp_path / "var")
        # through the running server's control socket: its engine writes it
        rc, out, err = run("block", "--state", state, "add", "kim@local.test",
                           "--reason", "phished")
        assert rc == 0, err
        gw.proc.kill()  # no clean shutdown, no final sync
        gw.proc.wait()
        rc, out, err = run("block", "--state", state, "show", "kim@local.test", "--json")
        assert rc == 0 and json.loads(out)["reason"] == "phished", (out, err)
        rc, out, err = run("store", "verify", "--state", state)
        assert rc == 0, out
    finally:
        gw.stop()


# ---- smaller ones (item 10) ----

def namespaces_ok():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not namespaces_ok(), reason="needs root, unshare and ip")
def test_connection_limit_counts_ipv6_per_prefix(tmp_path):
    # Three addresses of one /64 are one client (ipv6_prefix = 64): the third
    # connection is refused; another /64 is another client.
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["unshare", "--net", "--fork", sys.executable,
                        os.path.join(here, "percl_ns.py"), RG_BIN, str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + (tmp_path / "serve.log").read_text()
    assert json.loads(r.stdout) == [220, 220, 421, 220], r.stdout
    log = (tmp_path / "serve.log").read_text()
    assert "refused=too_many_connections_from_client count=2" in log


def test_max_recipients_capped_at_the_queue_limit(tmp_path):
    conf = tmp_path / "relayguard.conf"
    conf.write_text("[gateway]\nstate_dir = %s\nmax_recipients = 1001\n" % tmp_path)
    rc, out, err = run("checkconf", "--config", str(conf))
    assert rc == 2 and "max_recipients" in err and "1000" in err, (rc, out, err)
    conf.write_text("[gateway]\nstate_dir = %s\nmax_recipients = 1000\n" % tmp_path)
    rc, out, err = run("checkconf", "--config", str(conf))
    assert rc == 0, (out, err)


def test_admin_session_rechecks_the_account(tmp_path):
    from webtools import ADMIN, Client, Server
    srv = Server(tmp_path)
    try:
        users = tmp_path / "var" / "users"
        c = Client(srv.base)
        assert c.login()[0] == 303
        assert c.req("/blocks")[0] == 200
        # the admin flag taken away (by editing the file): the session ends
        text = users.read_text()
        users.write_text(text.replace(":admin\n", "\n"))
        assert c.req("/blocks")[0] == 401
        # given back: a new login works; then the account is deleted
        users.write_text(text)
        assert c.login()[0] == 303
        assert c.req("/blocks")[0] == 200
        rc, out, err = run("user", "del", "--file", str(users), ADMIN)
        assert rc == 0, err
        assert c.req("/blocks")[0] == 401
        assert c.req("/api/status")[0] == 401
        log = (tmp_path / "serve.log").read_text()
        assert "session of %s ended: the account is no longer an administrator" % ADMIN in log
        assert "session of %s ended: the account is gone" % ADMIN in log
    finally:
        assert srv.stop() == 0
