"""Two gateway nodes (two `relayguard serve` processes) share one Redis
(state_store = redis): a user the engine blocks through node A's policy
service is refused at node B, the alert about it is sent once, counters are
shared, `relayguard unblock` through either node's configuration resumes on
both, and when Redis dies a node says so (log, /metrics) and goes on deciding
on its local state, then returns to the shared state when Redis is back."""
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import free_port, rg
from rgserve import Serve
from test_serve import Policy

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.path.exists(REDIS),
                                reason="redis-server is not installed (apt-get install redis-server)")


class Redis:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server does not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def eom(user, ip, sender=None, **kw):
    d = dict(request="smtpd_access_policy", protocol_state="END-OF-MESSAGE",
             protocol_name="ESMTP", client_address=ip, sasl_username=user,
             sender=sender or user, recipient="", recipient_count="1", size="2048")
    d.update(kw)
    return d


def rcpt(user, ip):
    return eom(user, ip, protocol_state="RCPT", recipient="bob@example.net", recipient_count="0")


def metrics(srv):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.web, timeout=10) as r:
        return r.read().decode()


@pytest.fixture
def nodes(tmp_path):
    redis = Redis()
    alert = tmp_path / "alert.sh"
    alerts = tmp_path / "alerts.jsonl"
    alert.write_text("#!/bin/sh\ncat >> %s\necho >> %s\n" % (alerts, alerts))
    alert.chmod(0o755)
    extra = ("[gateway]\nstate_store = redis\nredis = 127.0.0.1:%d\nredis_prefix = it:\n"
             "redis_timeout = 300ms\n[limits]\nmsg_hour = 4\nmsg_minute = 100\n"
             "[alert]\nexec = %s\nblock_digest = 60s\n" % (redis.port, alert))
    a = Serve(tmp_path, extra, name="a").start()
    b = Serve(tmp_path, extra, name="b").start()
    yield redis, a, b, alerts
    try:
        redis.stop()
    except Exception:
        pass
    ra, rb = a.stop(), b.stop()
    assert ra == 0, a.log()
    assert rb == 0, b.log()


def test_block_at_a_refused_at_b(nodes):
    redis, a, b, alerts = nodes
    pa, pb = Policy(a.policy), Policy(b.policy)
    # Node A sees eve log in from many networks with many sender addresses:
    # the engine blocks her (compromise: many IPs, many networks, many senders).
    replies = []
    for i in range(12):
        replies.append(pa.ask(**eom("eve@corp.test", "10.%d.0.1" % (i * 20),
                                    sender="x%d@spam%d.test" % (i, i))))
        if replies[-1].startswith("action=REJECT"):
            break
    assert replies[-1].startswith("action=REJECT relayguard compromise"), replies
    # Node B refuses her at RCPT, from her usual address.
    reply = pb.ask(**rcpt("eve@corp.test", "192.0.2.5"))
    assert reply.startswith("action=REJECT relayguard block:compromise: user:eve@corp.test"), reply
    # Others are untouched on B.
    assert pb.ask(**rcpt("ann@corp.test", "192.0.2.6")) == "action=DUNNO"
    # Either node's configuration lists the one shared block.
    listing = rg("block", "--config", b.conf, "list", "--json").json()["blocks"]
    assert [x["identity"] for x in listing] == ["user:eve@corp.test"]
    # One alert, from node A, with the evidence.
    deadline = time.monotonic() + 10
    while (not alerts.exists() or not alerts.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    import json
    docs = [json.loads(l) for l in alerts.read_text().splitlines() if l.strip()]
    assert len(docs) == 1, docs
    assert docs[0]["event"] == "block" and docs[0]["count"] == 1
    blk = docs[0]["blocks"][0]
    assert blk["identity"] == "user:eve@corp.test" and blk["rule"] == "compromise"
    assert any("IPs" in r for r in blk["reasons"]), blk
    # Unblock through B's configuration: A lets her send again.
    r = rg("unblock", "--config", b.conf, "eve@corp.test", "--reason", "password changed")
    assert r.rc == 0, r.err
    assert pa.ask(**rcpt("eve@corp.test", "192.0.2.5")) == "action=DUNNO"
    pa.close()
    pb.close()


def test_counters_are_shared(nodes):
    redis, a, b, alerts = nodes
    pa, pb = Policy(a.policy), Policy(b.policy)
    got = [pa.ask(**eom("fay@corp.test", "192.0.2.7")), pb.ask(**eom("fay@corp.test", "192.0.2.7")),
           pa.ask(**eom("fay@corp.test", "192.0.2.7")), pb.ask(**eom("fay@corp.test", "192.0.2.7")),
           pa.ask(**eom("fay@corp.test", "192.0.2.7")), pb.ask(**eom("fay@corp.test", "192.0.2.7"))]
    assert got[:4] == ["action=DUNNO"] * 4, got
    assert all(g.startswith("action=DEFER relayguard rate_msg_hour") for g in got[4:]), got
    pa.close()
    pb.close()


def test_redis_down_falls_back_and_returns(nodes):
    redis, a, b, alerts = nodes
    pb = Policy(b.policy)
    assert pb.ask(**rcpt("gil@corp.test", "192.0.2.8")) == "action=DUNNO"
    assert "relayguard_state_store_fallback 0" in metrics(b)
    port = redis.port
    redis.stop()
    # B keeps answering, on its local state, and says so.
    assert pb.ask(**eom("gil@corp.test", "192.0.2.8")) == "action=DUNNO"
    m = metrics(b)
    assert "relayguard_state_store_fallback 1" in m, m
    assert "relayguard_state_store_failovers_total 1" in m, m
    assert "does not answer" in b.log() and "local state" in b.log()
    # A block made on local state meanwhile (a person's, through B's engine
    # is not possible from the CLI: that needs Redis) is refused by B's rules
    # as before: the local limits apply.
    for _ in range(4):
        pb.ask(**eom("gil@corp.test", "192.0.2.8"))
    assert pb.ask(**eom("gil@corp.test", "192.0.2.8")).startswith("action=DEFER")
    # The CLI refuses to act on one node's local state.
    r = rg("block", "--config", b.conf, "add", "hal@corp.test")
    assert r.rc == 2 and "Redis" in r.err, r.err
    # Redis is back: within the retry interval B uses shared state again.
    redis2 = Redis(port)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pb.ask(**rcpt("gil@corp.test", "192.0.2.8"))
            if "relayguard_state_store_fallback 0" in metrics(b):
                break
            time.sleep(0.5)
        assert "relayguard_state_store_fallback 0" in metrics(b), b.log()
        assert "is back" in b.log()
    finally:
        redis2.stop()
    pb.close()
