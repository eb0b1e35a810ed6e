"""The one control API against a running serve: every kind of state change
(block, unblock, limit override, hold, release, delete, flush, users reload)
made through the CLI and through the web endpoint takes effect at once (no
timer: checked immediately, or in a loop of at most half a second for a
delivery attempt on loopback), and the queue tools against a destination
that defers: list shows deferred mail with its last reply and next attempt,
flush retries, delete removes, hold and release work, all audited."""
import json
import os
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request

import pytest

from conftest import Policy, free_port, rg
from mxsim import MXSim
from rgserve import Serve

TOKEN = "t0k3n-for-the-control-api-test"
MX = "127.0.0.4"
RCPT = dict(protocol_state="RCPT", protocol_name="ESMTP", client_address="192.0.2.10",
            sasl_username="sam@example.com", sender="sam@example.com",
            recipient="bob@example.net", size="0")


def eom(user):
    return dict(RCPT, protocol_state="END-OF-MESSAGE", recipient="", recipient_count="1",
                size="2048", sasl_username=user, sender=user)


def soon(cond, limit=0.5):
    """cond() true now or within limit seconds (a delivery attempt on loopback)."""
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            return cond()
        time.sleep(0.02)
    return True


@pytest.fixture
def sim():
    s = MXSim([MX]).start()
    s.mx[MX].mode = "defer"
    yield s
    s.stop()


@pytest.fixture
def srv(tmp_path, sim):
    relay = free_port()
    s = Serve(tmp_path, extra="[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
              "[delivery]\nrelayhost = [%s]:%d\nrelayhost_tls = none\nminimal_backoff = 1h\n"
              "maximal_backoff = 2h\n[web]\napi_token = %s\n" % (relay, MX, sim.port, TOKEN))
    s.relay = relay
    s.start()
    wait_port(relay)  # the SMTP listeners come after the self-signed certificate
    yield s
    assert s.stop() == 0, s.log()


def wait_port(port):
    end = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def api(s, path, doc=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (s.web, path),
                                 data=None if doc is None else json.dumps(doc).encode(),
                                 headers={"Authorization": "Bearer " + TOKEN,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def web(s, type_, **payload):
    return api(s, "/api/control", dict(payload, type=type_, request_id=42))


def send(s, n=1):
    with smtplib.SMTP("127.0.0.1", s.relay, timeout=10) as c:
        for i in range(n):
            c.sendmail("alice@corp.test", ["bob@far.example"],
                       b"Subject: %d\r\n\r\nhello\r\n" % i)


def queue(s):
    r = rg("queue", "--config", s.conf, "list", "--json")
    assert r.rc == 0, r.err
    return r.json()


def deferred_ids(s):
    return sorted(e["id"] for e in queue(s)["deferred"])


def audit(s):
    with open(os.path.join(s.dir, "var", "spool", "audit.log")) as f:
        return [json.loads(line) for line in f]


def test_policy_state_through_cli_and_web(srv):
    c = Policy(srv.policy)
    q = dict(RCPT, sasl_username="", client_address="198.51.100.77")
    assert c.ask(**q) == "action=DUNNO"
    # block and unblock, CLI: a range block (cached by the engine) at once
    r = rg("block", "--config", srv.conf, "add", "198.51.100.0/24", "--reason", "nat", "--json")
    assert r.rc == 0 and r.json()["via"] == "server", r.err
    assert c.ask(**q).startswith("action=REJECT relayguard block:manual")
    assert rg("unblock", "--config", srv.conf, "198.51.100.0/24").rc == 0
    assert c.ask(**q) == "action=DUNNO"
    # the same through the web endpoint: the same table, the same answers
    st, doc = web(srv, "block", identity="198.51.100.0/24", reason="nat again")
    assert st == 200 and doc["ok"] is True and doc["request_id"] == 42, doc
    assert doc["identity"] == "cidr:198.51.100.0/24" and doc["result"] == "blocked"
    assert c.ask(**q).startswith("action=REJECT")
    st, doc = web(srv, "unblock", identity="198.51.100.0/24", reason="fixed")
    assert st == 200 and doc["result"] == "unblocked"
    assert c.ask(**q) == "action=DUNNO"
    st, doc = api(srv, "/api/unblock", {"identity": "198.51.100.0/24", "reason": "again"})
    assert st == 200 and doc == {"identity": "cidr:198.51.100.0/24",
                                 "result": "not blocked; counters reset"}
    # one vocabulary for errors
    st, doc = web(srv, "block", identity="not an identity!")
    assert st == 400 and doc["code"] == "bad_request" and "is not an identity" in doc["error"]
    r = rg("block", "--config", srv.conf, "add", "not an identity!")
    assert r.rc == 2 and doc["error"] in r.err
    st, doc = web(srv, "explode")
    assert st == 400 and doc["code"] == "unknown_type"
    # limit override, CLI: two messages pass under the default limit; with
    # the account's limit lowered to one an hour, the next is deferred at once
    for user in ("sam@example.com", "ann@example.com"):
        assert [c.ask(**eom(user)) for _ in range(2)] == ["action=DUNNO"] * 2
    r = rg("control", "--config", srv.conf, "--reason", "suspicious", "limit",
           "target=user:sam@example.com", "limit=msg_hour", "value=1")
    assert r.rc == 0 and r.json()["result"] == "set", r.out + r.err
    assert c.ask(**eom("sam@example.com")).startswith("action=DEFER relayguard rate_msg_hour")
    assert c.ask(**eom("ann@example.com")) == "action=DUNNO"
    # and through the web endpoint
    st, doc = web(srv, "limit", target="user:ann@example.com", limit="msg_hour", value="1")
    assert st == 200 and doc["result"] == "set"
    assert c.ask(**eom("ann@example.com")).startswith("action=DEFER relayguard rate_msg_hour")
    st, doc = web(srv, "limit", target="user:ann@example.com", limit="msg_hour", value="lots")
    assert st == 400 and doc["code"] == "bad_request"
    # every change is in the audit trail, with who made it
    trail = rg("block", "--config", srv.conf, "audit", "--json").json()["audit"]
    assert [(a["action"], a["actor"]) for a in trail][-3:] == [
        ("unblock", "web:api-token"), ("limit", os.environ.get("SUDO_USER") or
                                       os.environ.get("USER") or "admin"),
        ("limit", "web:api-token")]
    c.close()


def test_users_reload(srv, tmp_path):
    ctx = ssl._create_unverified_context()

    def login(user, pw):
        # a loaded machine and an ASan build: the Argon2id check may take a while
        with smtplib.SMTP("127.0.0.1", srv_submission(srv), timeout=120) as s:
            s.starttls(context=ctx)
            try:
                s.login(user, pw)
                return True
            except smtplib.SMTPAuthenticationError:
                return False

    assert not login("kim@corp.test", "Vq7#tLp2!xRw9zK")
    r = rg("user", "add", "kim@corp.test", "--file", os.path.join(srv.dir, "var", "users"),
           "--password-stdin", stdin="Vq7#tLp2!xRw9zK\n")
    assert r.rc == 0, r.err
    r = rg("control", "--config", srv.conf, "users_reload")
    assert r.rc == 0 and r.json()["result"] == "reloaded", r.out + r.err
    assert login("kim@corp.test", "Vq7#tLp2!xRw9zK")
    st, doc = web(srv, "users_reload")
    assert st == 200 and doc["result"] == "reloaded"
    st, doc = web(srv, "reload")
    assert st == 200 and doc["result"] == "reloaded"
    assert "accounts reloaded" in srv.log()


def srv_submission(s):
    with open(s.conf) as f:
        lines = f.read().split("\n")
    i = lines.index("[listener submission]")
    return int(lines[i + 1].rsplit(":", 1)[1])


def test_queue_tools_against_a_deferring_destination(srv, sim):
    send(srv, 3)
    assert soon(lambda: len(deferred_ids(srv)) == 3, 5)  # the first attempts
    doc = queue(srv)
    assert doc["active"] == [] and doc["held"] == []
    d = doc["deferred"][0]
    assert d["attempts"] == 1 and d["next_attempt"] and "451" in d["last_reply"], d
    assert d["rcpts"][0]["address"] == "bob@far.example"
    a, b, c = deferred_ids(srv)
    text = rg("queue", "--config", srv.conf, "list")
    assert text.rc == 0 and "0 active, 3 deferred, 0 held" in text.out
    assert "next attempt" in text.out and "451" in text.out
    # flush, CLI: one message retried at once (a second 451)
    r = rg("queue", "--config", srv.conf, "flush", a, "--json")
    assert r.rc == 0 and r.json()["count"] == 1, r.err
    assert soon(lambda: [e["attempts"] for e in queue(srv)["deferred"] if e["id"] == a] == [2])
    # hold and release, CLI
    r = rg("queue", "--config", srv.conf, "hold", b, "--reason", "look first")
    assert r.rc == 0 and "held " + b in r.out, r.err
    assert [e["id"] for e in queue(srv)["held"]] == [b]
    r = rg("queue", "--config", srv.conf, "hold", b)
    assert r.rc == 2 and "already held" in r.err
    assert rg("queue", "--config", srv.conf, "release", b, "--reason", "fine").rc == 0
    assert soon(lambda: b in deferred_ids(srv) and
                [e["attempts"] for e in queue(srv)["deferred"] if e["id"] == b] == [2])
    # the same through the web endpoint
    st, doc = web(srv, "hold", id=c, reason="web hold")
    assert st == 200 and doc["result"] == "held"
    assert [e["id"] for e in queue(srv)["held"]] == [c]
    st, doc = api(srv, "/api/holds/%s/release" % c, {"reason": "web release"})
    assert st == 200 and doc["result"] == "released" and doc["id"] == c
    st, doc = web(srv, "release", id=c)
    assert st == 409 and doc["code"] == "conflict"
    assert soon(lambda: [e["attempts"] for e in queue(srv)["deferred"] if e["id"] == c] == [2])
    # relayguard hold goes through the same requests
    r = rg("hold", "--config", srv.conf, "add", c, "--json")
    assert r.rc == 0 and r.json()["result"] == "held" and r.json()["via"] == "server", r.err
    r = rg("hold", "--config", srv.conf, "release", c, "--reason", "ok")
    assert r.rc == 0 and "released " + c in r.out, r.err
    assert soon(lambda: [e["attempts"] for e in queue(srv)["deferred"] if e["id"] == c] == [3])
    # flush everything, web: every deferred message retried at once
    st, doc = web(srv, "flush")
    assert st == 200 and doc["count"] == 3
    assert soon(lambda: sorted(e["attempts"] for e in queue(srv)["deferred"]) == [3, 3, 4])
    # the destination takes mail again: a flush delivers at once
    sim.mx[MX].mode = "accept"
    assert rg("queue", "--config", srv.conf, "flush", c).rc == 0
    assert soon(lambda: c not in deferred_ids(srv) and len(sim.mx[MX].messages) == 1)
    sim.mx[MX].mode = "defer"
    # delete: one by the web, the rest with --all-deferred by the CLI
    st, doc = web(srv, "delete", id=a, reason="spam")
    assert st == 200 and doc["result"] == "deleted"
    assert deferred_ids(srv) == [b]
    st, doc = web(srv, "delete", id=a)
    assert st == 404 and doc["code"] == "not_found"
    r = rg("queue", "--config", srv.conf, "delete", "--all-deferred", "--reason", "old", "--json")
    assert r.rc == 0 and r.json()["ids"] == [b], r.out + r.err
    assert queue(srv) == {"active": [], "deferred": [], "held": []}
    # each change audited, with the actor
    acts = [(x["action"], x["id"]) for x in audit(srv)]
    for want in [("flush", a), ("hold", b), ("release", b), ("hold", c), ("release", c),
                 ("delete", a), ("delete", b)]:
        assert want in acts, (want, acts)
    assert [x["actor"] for x in audit(srv) if x["id"] == c and x["action"] == "hold"][0] == \
        "web:api-token"


def test_queue_without_a_server(tmp_path):
    srv = Serve(tmp_path)
    r = rg("queue", "--config", srv.conf, "list")
    assert r.rc == 2 and "no spool in" in r.err  # never an empty world
    srv.start()
    assert srv.stop() == 0, srv.log()
    # no server: the same requests on the spool here
    r = rg("queue", "--config", srv.conf, "list", "--json")
    assert r.rc == 0 and r.json() == {"active": [], "deferred": [], "held": []}, r.err
    r = rg("queue", "--config", srv.conf, "release", "0123456789ABCDEF")
    assert r.rc == 2 and "no such entry" in r.err
    r = rg("control", "--config", srv.conf, "users_reload")
    assert r.rc == 2 and r.json()["code"] == "unavailable"
    assert rg("queue", "--config", srv.conf, "delete").rc == 2
    assert rg("queue", "--config", srv.conf, "frobnicate").rc == 2
