"""The admin page in policy-only mode ([policyd] postfix_queue,
docs/deploy-postfix.md) runs Postfix's programs on the server's worker
(admin/ctlasync), never in its loop: while the holds page, a release from it
or /api/holds waits for a slow postqueue or postsuper (fakes written here
that take DELAY seconds, then answer as Postfix's would), Postfix's policy
requests are answered at once, and the page then shows the right content.
The control socket's requests share the worker's one queue and get their
own answers. A full queue is a 503 "try again"; a client or a session that
goes away while its request waits costs nothing (the answer is dropped), and
a control connection whose request was refused goes on serving."""
import http.client
import json
import os
import signal
import socket
import threading
import time

import pytest

from test_policy_only import POLICY  # held from the third client address of the day on
from webtools import TOKEN, Client, Policy, Server, eom, rg

DELAY = 1.5   # seconds each slow postqueue -j and postsuper takes (policy answers: PROMPT)
PROMPT = 0.5  # the longest a policy answer may take meanwhile
QUEUE_MAX = 32  # requests waiting for the worker at once (ctlasync.c CTLASYNC_MAX)

# postqueue -j prints the queue file (after the delay, and not while the gate
# file is there); -i ID schedules nothing and answers at once.
FAKE_POSTQUEUE = r"""#!/bin/sh
d='%s'
echo "postqueue $*" >> "$d/calls"
case "$1" in
-j) sleep "$(cat "$d/delay")"
    n=0  # at most 30 s, should the test stop with the gate closed
    while [ -e "$d/gate" ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
    cat "$d/queue" ;;
-i) ;;
*) exit 1 ;;
esac
"""

# postsuper -H moves a message to the deferred queue, -d removes it.
FAKE_POSTSUPER = r"""#!/bin/sh
d='%s'
echo "postsuper $*" >> "$d/calls"
sleep "$(cat "$d/delay")"
case "$1" in
-H) sed -i "/\"$2\"/s/\"hold\"/\"deferred\"/" "$d/queue"
    echo "postsuper: $2: released from hold" >&2 ;;
-d) grep -v "\"$2\"" "$d/queue" > "$d/queue.new"
    mv "$d/queue.new" "$d/queue"
    echo "postsuper: $2: removed" >&2 ;;
*) exit 1 ;;
esac
"""

# a colleague's request: answered DUNNO, whatever the web page is doing
ASK = dict(protocol_state="RCPT", protocol_name="ESMTPA", client_address="192.0.2.200",
           sasl_username="ann@corp.test", sender="ann@corp.test",
           recipient="friend@example.net")


class FakePostfix:
    def __init__(self, d):
        self.dir = d
        os.makedirs(d)
        for name, text in (("postqueue", FAKE_POSTQUEUE), ("postsuper", FAKE_POSTSUPER)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text % d)
            os.chmod(os.path.join(d, name), 0o755)
        self.delay(0)
        self.hold([])

    def path(self, name):
        return os.path.join(self.dir, name)

    def delay(self, seconds):
        with open(self.path("delay"), "w") as f:
            f.write("%s\n" % seconds)

    def gate(self, closed):
        if closed:
            open(self.path("gate"), "w").close()
        else:
            os.unlink(self.path("gate"))

    def hold(self, ids):
        """Postfix's queue: these messages in the hold queue, as postqueue -j prints them."""
        with open(self.path("queue"), "w") as f:
            for i, qid in enumerate(ids):
                f.write(json.dumps({
                    "queue_name": "hold", "queue_id": qid, "arrival_time": int(time.time()),
                    "message_size": 346, "forced_expire": False, "sender": "spray@corp.test",
                    "recipients": [{"address": "v%d@example.net" % i}]}) + "\n")

    def queue(self):
        with open(self.path("queue")) as f:
            return {m["queue_id"]: m["queue_name"] for m in map(json.loads, f)}

    def calls(self):
        try:
            with open(self.path("calls")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


@pytest.fixture
def held(tmp_path):
    """serve with Postfix's hold queue (the fakes), and the policy's HOLD
    answers to a spraying account recorded for the messages Postfix holds."""
    pf = FakePostfix(str(tmp_path / "fakepf"))
    s = Server(tmp_path, extra=POLICY + "[gateway]\nuser = root\n[policyd]\npostfix_queue = yes\n"
               "postqueue = %s\npostsuper = %s\npostfix_timeout = 60s\n"
               % (pf.path("postqueue"), pf.path("postsuper")))
    pol = Policy(s.policy_port)
    ids = []
    for i in range(1, 7):
        qid = "4F2A51C0A%02X" % i
        a = pol.ask(**eom("spray@corp.test", "192.0.2.%d" % i, "spray@corp.test", 1),
                    queue_id=qid, instance="spray.%d" % i)
        if a.startswith("action=HOLD"):
            ids.append(qid)
    assert len(ids) >= 3, (ids, (tmp_path / "serve.log").read_text())
    pf.hold(ids)
    yield s, pf, ids, pol
    if os.path.exists(pf.path("gate")):  # the test stopped with it closed
        pf.gate(False)
    pol.close()
    assert s.stop() == 0, (tmp_path / "serve.log").read_text()


def in_thread(fn, *args):
    out = {}

    def run():
        t0 = time.monotonic()
        out["result"] = fn(*args)
        out["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    return t, out


def policy_latencies(pol, busy):
    """Asks the policy service every 0.1 s while busy() is true; each answer's time."""
    times = []
    while busy():
        t0 = time.monotonic()
        a = pol.ask(**ASK)
        times.append(time.monotonic() - t0)
        assert a == "action=DUNNO", a
        time.sleep(0.1)
    return times


def test_holds_page_and_release_wait_on_the_worker_not_the_loop(held):
    s, pf, ids, pol = held
    c = Client(s.base)
    assert c.login()[0] == 303
    pf.delay(DELAY)

    # the holds page: made once postqueue -j answered, meanwhile Postfix is answered
    t, page = in_thread(c.req, "/holds")
    lat = policy_latencies(pol, t.is_alive)
    t.join()
    st, _, html = page["result"]
    assert st == 200, html
    assert all('href="/hold?id=%s"' % i in html for i in ids), html
    assert 'id="postfix-holds"' in html
    assert page["seconds"] >= DELAY - 0.2, page  # it did wait for postqueue
    assert len(lat) >= 5 and max(lat) < PROMPT, lat

    # release from the page: postqueue -j, postsuper -H, postqueue -i, all on the worker
    rel = ids[0]
    t, done = in_thread(c.req, "/holds/%s/release" % rel,
                        {"reason": "checked with the user", "csrf": c.csrf_of(html)})
    lat = policy_latencies(pol, t.is_alive)
    t.join()
    st, h, body = done["result"]
    assert st == 303 and h["Location"].startswith("/holds?done=Released"), (st, body)
    assert done["seconds"] >= 2 * DELAY - 0.2, done
    assert len(lat) >= 10 and max(lat) < PROMPT, lat
    assert pf.queue()[rel] == "deferred"
    assert ["postqueue -j", "postsuper -H %s" % rel, "postqueue -i %s" % rel] == \
        pf.calls()[-3:], pf.calls()

    # the page after the release: the flash, the others still held, the released gone
    t, after = in_thread(c.req, h["Location"])
    lat = policy_latencies(pol, t.is_alive)
    t.join()
    st, _, html = after["result"]
    assert st == 200 and ("Released %s." % rel) in html, html
    assert 'href="/hold?id=%s"' % rel not in html
    assert all('href="/hold?id=%s"' % i in html for i in ids[1:]), html
    assert len(lat) >= 5 and max(lat) < PROMPT, lat

    # a release the worker refuses (no HOLD of the policy has that ID) shows the
    # list again with the error: two waits in one request, each asked once
    pf.delay(1)
    before = pf.calls()
    t, bad = in_thread(c.req, "/holds/4F2A51C0AFF/release",
                       {"reason": "typo", "csrf": c.csrf_of(html)})
    lat = policy_latencies(pol, t.is_alive)
    t.join()
    st, _, html = bad["result"]
    assert st == 409 and "no message the policy held has this queue ID" in html, (st, html)
    assert all('href="/hold?id=%s"' % i in html for i in ids[1:]), html
    assert pf.calls()[len(before):] == ["postqueue -j"] * 2, pf.calls()
    assert max(lat) < PROMPT, lat
    pf.delay(DELAY)

    # /api/holds, and the CLI on the control socket beside it: one worker, one
    # queue, each answer on its own connection
    def api_holds():
        conn = http.client.HTTPConnection("127.0.0.1", s.web_port, timeout=30)
        conn.request("GET", "/api/holds", headers={"Authorization": "Bearer " + TOKEN})
        r = conn.getresponse()
        return r.status, json.loads(r.read())

    t, api = in_thread(api_holds)
    t2, cli = in_thread(rg, "hold", "--config", s.conf, "list", "--json")
    lat = policy_latencies(pol, lambda: t.is_alive() or t2.is_alive())
    t.join()
    t2.join()
    st, doc = api["result"]
    assert st == 200 and sorted(x["id"] for x in doc["holds"]) == ids[1:], doc
    r = cli["result"]
    assert r.rc == 0 and r.json()["via"] == "server", r.err
    assert sorted(x["id"] for x in r.json()["holds"]) == ids[1:], r.out
    assert max(api["seconds"], cli["seconds"]) >= 2 * DELAY - 1, (api, cli)  # one after the other
    assert len(lat) >= 10 and max(lat) < PROMPT, lat

    with open(os.path.join(str(s.dir), "var", "spool", "audit.log")) as f:
        audit = [json.loads(line) for line in f]
    assert [(a["action"], a["id"], a["actor"], a["queue"]) for a in audit] == [
        ("release", rel, "web:boss", "postfix")], audit


def get(port, path, source="127.0.0.1", headers=None):
    """One HTTP request from source; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60,
                                      source_address=(source, 0))
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, body


def test_full_queue_and_clients_that_go_away(held):
    s, pf, ids, pol = held
    bearer = {"Authorization": "Bearer " + TOKEN}
    pf.gate(True)  # postqueue -j waits until the test opens the gate

    # a client that goes away while its request waits, and a session that ends
    raw = socket.create_connection(("127.0.0.1", s.web_port))
    raw.sendall(b"GET /api/holds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + TOKEN.encode() + b"\r\n\r\n")
    c = Client(s.base)
    assert c.login()[0] == 303
    st, _, home = c.req("/")
    assert st == 200
    t, page = in_thread(c.req, "/holds")
    deadline = time.monotonic() + 10
    while "postqueue -j" not in pf.calls():
        assert time.monotonic() < deadline, pf.calls()
        time.sleep(0.05)
    time.sleep(0.5)
    raw.close()
    st, h, _ = c.req("/logout", {"csrf": c.csrf_of(home)})
    assert st == 303
    pf.gate(False)
    t.join()
    st, _, html = page["result"]
    assert st == 401 and 'action="/login"' in html and "4F2A51C0A" not in html, (st, html)
    # both had reached the worker: the page was answered after its wait
    assert pf.calls().count("postqueue -j") == 2, pf.calls()
    assert get(s.web_port, "/api/holds", headers=bearer)[0] == 200

    # a full queue: QUEUE_MAX wait, the one more is refused at once (whichever
    # it is), and so is everything after it until the queue drains
    pf.gate(True)
    threads = []
    for i in range(QUEUE_MAX + 1):
        threads.append(in_thread(get, s.web_port, "/api/holds",
                                 "127.0.0.%d" % (1 + i % 2), bearer))
    deadline = time.monotonic() + 20
    while not any(out.get("result", (0,))[0] == 503 for _, out in threads):
        assert time.monotonic() < deadline, [out for _, out in threads]
        time.sleep(0.05)
    refused = [out for _, out in threads if "result" in out]
    assert len(refused) == 1 and "try again" in refused[0]["result"][1], refused
    # the holds page and a release say so too, and Postfix is answered meanwhile
    c = Client(s.base)
    assert c.login()[0] == 303
    st, _, html = c.req("/holds")
    assert st == 503 and 'id="holds-busy"' in html and "try again" in html, (st, html)
    st, _, body = c.req("/holds/%s/release" % ids[0],
                         {"reason": "now", "csrf": c.csrf_of(html)})
    assert st == 503 and "try again" in body, (st, body)
    # the control socket says the same, and its connection goes on serving
    ctl = socket.socket(socket.AF_UNIX)
    ctl.settimeout(10)
    ctl.connect(os.path.join(str(s.dir), "var", "control.sock"))
    f = ctl.makefile("rwb")
    f.write(b'{"type": "postfix_holds", "request_id": 1}\n')
    f.flush()
    r1 = json.loads(f.readline())
    assert r1["ok"] is False and r1["code"] == "unavailable" and "try again" in r1["error"], r1
    f.write(b'{"type": "ping", "request_id": 2}\n')
    f.flush()
    r2 = json.loads(f.readline())
    assert r2["ok"] is True and r2["request_id"] == 2, r2
    f.close()
    ctl.close()
    asked = []
    lat = policy_latencies(pol, lambda: len(asked) < 10 and not asked.append(1))
    assert len(lat) == 10 and max(lat) < PROMPT, lat
    pf.gate(False)
    for th, _ in threads:
        th.join()
    statuses = sorted(out["result"][0] for _, out in threads)
    assert statuses == [200] * QUEUE_MAX + [503], statuses
    st, body = get(s.web_port, "/api/holds", headers=bearer)
    assert st == 200 and sorted(x["id"] for x in json.loads(body)["holds"]) == ids, body
    # /api/control's requests of that kind take the same way
    conn = http.client.HTTPConnection("127.0.0.1", s.web_port, timeout=30)
    conn.request("POST", "/api/control", json.dumps({"type": "postfix_holds", "request_id": 7}),
                 dict(bearer, **{"Content-Type": "application/json"}))
    r = conn.getresponse()
    doc = json.loads(r.read())
    assert r.status == 200 and doc["request_id"] == 7 and doc["via"] == "server", doc
    assert sorted(x["id"] for x in doc["holds"]) == ids, doc

    # a stop while two requests wait (one on the worker, one in its queue):
    # their answers are dropped, and nothing leaks (a clean exit under ASan)
    pf.gate(True)
    ran = pf.calls().count("postqueue -j")
    waiting = []
    for _ in range(2):
        w = socket.create_connection(("127.0.0.1", s.web_port))
        w.sendall(b"GET /api/holds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + TOKEN.encode() + b"\r\n\r\n")
        waiting.append(w)
    deadline = time.monotonic() + 10
    while pf.calls().count("postqueue -j") == ran:
        assert time.monotonic() < deadline, pf.calls()
        time.sleep(0.05)
    time.sleep(0.5)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    pf.gate(False)  # the worker ends the run it is in, then stops
    assert s.proc.wait(30) == 0
    assert pf.calls().count("postqueue -j") == ran + 1, pf.calls()
    for w in waiting:
        w.close()
