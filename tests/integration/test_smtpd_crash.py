"""kill -9 while receiving (DESIGN.md invariant 2): Postfix's smtp-source
sends thousands of messages over 20 sessions to `relayguard serve` while the
gateway is killed with SIGKILL and restarted again and again. Afterwards
every message that got "250 ... queued as ID" is in the spool, complete, and
no partial message is: every entry's content is a whole smtp-source message
behind our Received header. Bounded: 3000 messages or 10 kills, < 60 s."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import RG_BIN, free_port
from spool import read_spool

TARGET = 3000
KILLS = 10
DEADLINE_S = 60

LIMITS = "".join("%s = 100000000\n" % k for k in (
    "msg_minute", "msg_hour", "msg_day", "rcpt_hour", "rcpt_day", "uniq_rcpt_hour",
    "uniq_domain_hour")) + "bytes_hour = 100000000000\n"


def wait_port(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("serve exited %s" % proc.returncode)
            time.sleep(0.02)
    raise RuntimeError("serve did not listen")


@pytest.mark.skipif(not shutil.which("smtp-source"), reason="smtp-source (postfix) missing")
def test_kill9_loses_nothing_acknowledged(tmp_path):
    port = free_port()
    var = tmp_path / "var"
    conf = tmp_path / "rg.conf"
    conf.write_text("[gateway]\nstate_dir = %s\nspool_dir = %s\nlog_level = warn\n"
                    "[policyd]\nlisten =\n[web]\nlisten =\n"
                    "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
                    # nothing may leave the spool during the test: delivery to a
                    # relayhost that refuses every connection only defers
                    "[delivery]\nrelayhost = [127.0.0.1]:%d\n"
                    "[limits]\n%s" % (var, var / "spool", port, free_port(), LIMITS))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    log = open(tmp_path / "serve.log", "ab")

    def start():
        p = subprocess.Popen([RG_BIN, "serve", "--config", str(conf)], stdout=log,
                             stderr=log, env=env)
        wait_port(port, p)
        return p

    acked = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender():
        while not stop.is_set():
            with lock:
                if len(acked) >= TARGET:
                    return
            p = subprocess.run(["smtp-source", "-v", "-s", "20", "-m", "400", "-f",
                                "a@local.test", "-t", "b@far.test", "127.0.0.1:%d" % port],
                               capture_output=True, text=True, timeout=120)
            ids = re.findall(r"<<< 250 2\.0\.0 Ok: queued as ([0-9A-F]+)", p.stderr)
            with lock:
                acked.update(ids)
            if not ids:
                time.sleep(0.05)  # the gateway is down: try again shortly

    t0 = time.monotonic()
    proc = start()
    th = threading.Thread(target=sender)
    th.start()
    kills = 0
    try:
        while time.monotonic() - t0 < DEADLINE_S - 15:
            time.sleep(0.6 + 0.2 * (kills % 3))
            with lock:
                if len(acked) >= TARGET and kills >= KILLS:
                    break
            if kills < KILLS:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                proc = start()
        stop.set()
        th.join(60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    # One more start: recovery, then a clean stop.
    proc = start()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    elapsed = time.monotonic() - t0
    q = read_spool(str(var / "spool"))
    missing = acked - set(q)
    print("kill -9 test: %d kills, %d acknowledged, %d in the spool, %.1f s"
          % (kills, len(acked), len(q), elapsed))
    assert kills >= 3
    assert len(acked) >= 1000
    assert not missing, "acknowledged but lost: %s" % sorted(missing)[:10]
    body = re.compile(rb"\AReceived: from \S+ \(unknown \[127\.0\.0\.1\]\)\r\n\tby \S+ \(relayguard\)"
                      rb" with SMTP id [0-9A-F]+\r\n\tfor <b@far\.test>; [^\r\n]+\r\n"
                      rb"From: <a@local\.test>\r\nTo: <b@far\.test>\r\nDate: [^\r\n]+\r\n"
                      rb"Message-Id: <[^\r\n]+>\r\n\r\n(La de da de da \d+\.\r\n){4}\Z")
    for qid, m in q.items():
        assert body.match(m["data"]), (qid, m["data"][-200:])
        assert m["env"]["id"] == qid
        assert m["rcpts"][0]["addr"] == "b@far.test"
    assert elapsed < DEADLINE_S + 30
