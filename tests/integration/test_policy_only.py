"""relayguard beside a real Postfix as its only policy service (issue 15,
docs/deploy-postfix.md): `relayguard policyd` (or serve with [gateway]
listeners = none) opens no SMTP port of its own, only the policy service and
the web page. An account that logs in from ever more addresses is answered
HOLD, so Postfix keeps its mail in Postfix's hold queue; `relayguard hold
list` shows exactly those messages, `hold release` gives one back to
Postfix's delivery (it reaches the smarthost, an smtp-sink) and `hold
delete` removes one, each with an audit record. Postfix here is the one of
tests/integration/postfix.py with a relayhost instead of the discard
transport."""
import json
import os
import shutil
import tempfile
import time

import pytest

from conftest import free_port, rg
from postfix import POSTFIX, Postfix
from rgserve import Serve
from sink import Sink
from test_control_api import TOKEN, api
from test_postfix_policy import session

pytestmark = pytest.mark.skipif(not os.path.exists(POSTFIX) or os.geteuid() != 0,
                                reason="needs Postfix (apt-get install postfix) and root")

BODY = b"From: a@corp.test\r\nTo: b@example.net\r\nSubject: test\r\n\r\nhello\r\n"

# Held from the third client address of the day on, blocked never: the
# spraying account stays in the HOLD band the whole test.
POLICY = """[limits]
msg_minute = 1000
msg_hour = 1000
[signals]
ips_max = 3
ips_weight = 40
[actions]
score_warn = 10
score_hold = 30
score_block = 100000
"""


def listening_ports(pid):
    """The TCP ports the process pid listens on (from /proc: its socket inodes
    against the LISTEN sockets of /proc/net/tcp and tcp6)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class PolicyOnly(Serve):
    """relayguard started as `relayguard policyd` (or serve with listeners =
    none) on a configuration that names no SMTP listener."""

    def __init__(self, tmp, pf_dir, command="policyd", extra="", policy=None):
        self.dir = os.path.join(str(tmp), "rg")
        os.makedirs(self.dir, exist_ok=True)
        self.policy = policy or free_port()
        self.web = free_port()
        self.conf = os.path.join(self.dir, "relayguard.conf")
        with open(self.conf, "w") as f:
            f.write("[gateway]\nstate_dir = %s\n%s[policyd]\nlisten = 127.0.0.1:%d\n"
                    "%s[web]\nlisten = 127.0.0.1:%d\napi_token = %s\n%s"
                    % (os.path.join(self.dir, "var"),
                       "listeners = none\n" if command == "serve" else "", self.policy,
                       "postfix_config_dir = %s\n" % pf_dir if pf_dir else "", self.web,
                       TOKEN, extra))
        self.command = command
        self.proc = None
        self.errfile = os.path.join(self.dir, "err")


@pytest.fixture
def stack(tmp_path, request):
    """Postfix delegating at RCPT and end of data; with the parameter
    "rcpt_only", at RCPT only (the postfwd setup) and relayguard counting there."""
    rcpt_only = getattr(request, "param", None) == "rcpt_only"
    # smtp-sink runs as nobody: its directory outside pytest's, which pytest
    # runs beside us may close to others (0700) at any time
    sink_dir = tempfile.mkdtemp(prefix="rg-sink-", dir="/tmp")
    sink = Sink(sink_dir).start()
    SINKS[:] = [sink]
    policy = free_port()
    pf = Postfix(policy)
    rgp = PolicyOnly(tmp_path, pf.dir, policy=policy,
                     extra=POLICY + ("[policyd]\ncount_at = rcpt\n" if rcpt_only else ""))
    # Postfix delivers to the sink (its smarthost) instead of discarding.
    main_cf = os.path.join(pf.dir, "main.cf")
    with open(main_cf) as f:
        text = f.read()
    text = text.replace("default_transport = discard",
                        "default_transport = smtp\nrelayhost = [127.0.0.1]:%d" % sink.port)
    if rcpt_only:
        text = text.replace("smtpd_end_of_data_restrictions = ", "#")
    with open(main_cf, "w") as f:
        f.write(text)
    try:
        rgp.start()
        pf.start()
    except Exception:
        pf.stop()
        rgp.stop()
        sink.stop()
        shutil.rmtree(sink_dir, ignore_errors=True)
        raise
    yield rgp, pf, sink
    pf.stop()
    rc = rgp.stop()
    sink.stop()
    shutil.rmtree(sink_dir, ignore_errors=True)
    assert rc == 0, rgp.log()


def send(pf, user, addr, rcpt):
    """One message from user logged in at client address addr (XCLIENT);
    returns the end-of-data reply code."""
    s = session(pf, user, addr)
    code, msg = s.mail(user)
    assert code == 250, (code, msg)
    code, msg = s.rcpt(rcpt)
    assert code == 250, (code, msg)
    code, msg = s.data(BODY)
    s.quit()
    return code


SINKS = []


def wait_for(cond, what, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    dead = [s.proc.returncode for s in SINKS if s.proc.poll() is not None]
    raise AssertionError("timed out waiting for %s (sink exited: %s %s)" % (
        what, dead, [s.proc.stderr.read().decode() for s in SINKS if s.proc.poll() is not None]))


def sink_bodies(sink):
    return [m for _, m in sink.messages()]


def test_policy_only_holds_in_postfix_and_releases(stack):
    rgp, pf, sink = stack
    # No SMTP listener of ours: the process listens on the policy and web ports only.
    assert listening_ports(rgp.proc.pid) == {rgp.policy, rgp.web}, rgp.log()
    assert "policy service only: no SMTP listener" in rgp.log()

    # A colleague sends from one address: delivered through Postfix to the smarthost.
    assert send(pf, "ann@corp.test", "192.0.2.50", "friend@example.net") == 250
    wait_for(lambda: sink.count() >= 1, "ann's message at the sink\n" + pf.log())

    # The spraying account, from a new address each time: held from the third on.
    for i in range(1, 7):
        assert send(pf, "spray@corp.test", "192.0.2.%d" % i, "v%d@example.net" % i) == 250
    held = wait_for(lambda: len(pf.held()) == 4 and pf.held(), "4 held messages\n" + pf.log())
    wait_for(lambda: sink.count() >= 3, "the two messages before the hold\n" + pf.log())
    assert "action=hold" in rgp.log(), rgp.log()

    # relayguard hold list: exactly Postfix's held messages, with the policy's reasons.
    r = rg("hold", "--config", rgp.conf, "list", "--json")
    assert r.rc == 0, r.err + rgp.log()
    doc = r.json()
    assert doc.get("queue") == "postfix" and doc.get("via") == "server", (doc, rgp.log())
    assert sorted(h["id"] for h in doc["holds"]) == held, (doc, held)
    for h in doc["holds"]:
        assert h["auth_user"] == "spray@corp.test" and h["sender"] == "spray@corp.test", h
        assert h["held"] is True and h["identity"] and "IPs" in h["reason"], h
        assert len(h["recipients"]) == 1 and h["recipients"][0].startswith("v"), h
    text = rg("hold", "--config", rgp.conf, "list")
    assert text.rc == 0 and "4 held messages in Postfix's hold queue" in text.out, text.out
    one = rg("hold", "--config", rgp.conf, "show", held[0])
    assert one.rc == 0 and "spray@corp.test" in one.out, one.out + one.err

    # release: out of the hold queue, into Postfix's delivery, to the smarthost
    before = sink.count()
    rel = doc["holds"][0]
    r = rg("hold", "--config", rgp.conf, "release", rel["id"], "--reason", "checked: legitimate",
           "--actor", "ops")
    assert r.rc == 0, r.err + rgp.log()
    assert "released" in r.out, r.out
    wait_for(lambda: rel["id"] not in pf.held(), "the release\n" + pf.log())
    wait_for(lambda: sink.count() == before + 1, "the released message at the sink\n" + pf.log())
    assert any(rel["recipients"][0].encode() in m for m in sink_bodies(sink))

    # delete: gone from Postfix, never delivered
    gone = doc["holds"][1]
    r = rg("hold", "--config", rgp.conf, "delete", gone["id"], "--reason", "spam",
           "--actor", "ops", "--json")
    assert r.rc == 0, r.err
    assert r.json()["result"] == "deleted" and r.json()["queue"] == "postfix", r.out
    wait_for(lambda: gone["id"] not in pf.held(), "the delete\n" + pf.log())
    left = rg("hold", "--config", rgp.conf, "list", "--json").json()["holds"]
    assert sorted(h["id"] for h in left) == sorted(set(held) - {rel["id"], gone["id"]}), left
    time.sleep(1)
    assert not any(gone["recipients"][0].encode() in m for m in sink_bodies(sink))

    # the web page's API: the same list, and the same actions
    status, web = api(rgp, "/api/holds")
    assert status == 200 and sorted(h["id"] for h in web["holds"]) == sorted(
        h["id"] for h in left), web
    web_gone = left[0]["id"]
    status, done = api(rgp, "/api/holds/%s/delete" % web_gone, {"reason": "spam too"})
    assert status == 200 and done["result"] == "deleted", done
    wait_for(lambda: web_gone not in pf.held(), "the delete from the web\n" + pf.log())
    status, web = api(rgp, "/api/holds")
    assert [h["id"] for h in web["holds"]] == [left[1]["id"]], web

    # a queue ID that is not one the policy held is refused, and changes nothing
    r = rg("hold", "--config", rgp.conf, "release", "ABCDEF123")
    assert r.rc == 2 and "no message the policy held" in r.err, (r.rc, r.err)
    r = rg("hold", "--config", rgp.conf, "release", gone["id"])
    assert r.rc == 2, (r.rc, r.out)

    # every change is an audit record
    with open(os.path.join(rgp.dir, "var", "spool", "audit.log")) as f:
        audit = [json.loads(line) for line in f]
    assert [(a["action"], a["id"], a["actor"], a["queue"], a["reason"]) for a in audit] == [
        ("release", rel["id"], "ops", "postfix", "checked: legitimate"),
        ("delete", gone["id"], "ops", "postfix", "spam"),
        ("delete", web_gone, "web:api-token", "postfix", "spam too")], audit


@pytest.mark.parametrize("stack", ["rcpt_only"], indirect=True)
def test_hold_at_rcpt_before_postfix_has_a_queue_id(stack):
    """Postfix delegating at RCPT only: the HOLD comes at the first RCPT,
    before Postfix has a queue ID; the record finds its message in the hold
    queue by sender, recipient and time, and release works the same."""
    rgp, pf, sink = stack
    for i in range(1, 5):
        assert send(pf, "spray@corp.test", "192.0.2.%d" % (40 + i), "r%d@example.net" % i) == 250
    held = wait_for(lambda: len(pf.held()) == 2 and pf.held(), "2 held\n" + pf.log())
    assert "queue_id=- " in rgp.log() and "state=RCPT action=hold" in rgp.log(), rgp.log()
    r = rg("hold", "--config", rgp.conf, "list", "--json")
    assert r.rc == 0, r.err
    holds = r.json()["holds"]
    assert sorted(h["id"] for h in holds) == held, (holds, rgp.log())
    assert sorted(h["recipients"][0] for h in holds) == ["r3@example.net", "r4@example.net"]
    before = sink.count()
    r = rg("hold", "--config", rgp.conf, "release", held[0], "--reason", "ok")
    assert r.rc == 0, r.err
    wait_for(lambda: sink.count() == before + 1, "the release\n" + pf.log())


def test_records_survive_a_restart_and_the_offline_cli(stack):
    """The policy's records are state: after a restart, and with no server
    running at all (the CLI then runs postqueue itself), hold list still shows
    the held messages."""
    rgp, pf, sink = stack
    for i in range(1, 5):
        assert send(pf, "spray@corp.test", "192.0.2.%d" % (20 + i), "w%d@example.net" % i) == 250
    held = wait_for(lambda: len(pf.held()) == 2 and pf.held(), "2 held\n" + pf.log())
    assert rgp.stop() == 0, rgp.log()
    # with no server to ask, the file must say where held mail is: relayguard
    # policyd alone does not (serve with listeners = none does)
    r = rg("hold", "--config", rgp.conf, "list", "--json")
    assert r.rc == 0 and r.json()["holds"] == [] and "queue" not in r.json(), r.out + r.err
    with open(rgp.conf) as f:
        conf = f.read().replace("[policyd]\n", "[policyd]\npostfix_queue = yes\n")
    with open(rgp.conf, "w") as f:
        f.write(conf)
    r = rg("hold", "--config", rgp.conf, "list", "--json")
    assert r.rc == 0, r.err
    assert sorted(h["id"] for h in r.json()["holds"]) == held and "via" not in r.json(), r.out
    rgp.start()
    r = rg("hold", "--config", rgp.conf, "list", "--json")
    assert r.rc == 0 and sorted(h["id"] for h in r.json()["holds"]) == held, r.out + r.err


def test_listeners_none_opens_no_smtp_port(tmp_path):
    """serve with only [policyd] and listeners = none: no SMTP listener, not
    even the default relay on 127.0.0.1:2525; a [listener] beside it is refused."""
    rgp = PolicyOnly(tmp_path, "", command="serve")
    r = rg("checkconf", "--config", rgp.conf)
    assert r.rc == 0 and "SMTP listeners: none" in r.out and "listener relay" not in r.out, r.out
    rgp.start()
    try:
        assert listening_ports(rgp.proc.pid) == {rgp.policy, rgp.web}, rgp.log()
    finally:
        assert rgp.stop() == 0, rgp.log()
    with open(rgp.conf, "a") as f:
        f.write("[listener relay]\nlisten = 127.0.0.1:%d\n" % free_port())
    r = rg("checkconf", "--config", rgp.conf)
    assert r.rc == 2 and "listeners = none" in r.err, r.err
