"""Canonical identities (docs/policy.md "The canonical form"): a block on
sam@corp.test and on domain:evil.test holds every other spelling of them
(case, a trailing dot, IDN U-labels against A-labels) through SMTP AUTH,
through the Postfix policy service and on the web page, where the blocks
list shows one object and Resume under another spelling lifts it; a limit
override set under one spelling applies to all; a spray under random
capitalisations of one account counts on one key and is stopped as one
account (the same message as under one spelling), over SMTP and over the
policy service; replay and logscan key an account in any case or IDN form as
one."""
import json
import random
import signal
import smtplib
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import RG_BIN, Policy, free_port, rg
from webtools import Client

PW = "Canon-test-Pw-81!horse"
ADMIN, ADMIN_PW = "boss", "Admin-Pw-horse-42!"
TOKEN = "t0k3n-for-the-canon-test-0123456789"
BODY = b"From: a@corp.test\r\nTo: b@example.net\r\nSubject: t\r\n\r\nhello\r\n"
BUECHER = "b\u00fccher.test"


class Gateway:
    def __init__(self, tmp, extra=""):
        self.dir = tmp
        self.users = tmp / "var" / "users"
        for name, pw, admin in ((ADMIN, ADMIN_PW, True), ("Sam@corp.test", PW, False),
                                ("bob@corp.test", PW, False), ("spray@corp.test", PW, False)):
            args = ["user", "add", "--cost", "min", "--file", self.users, "--password-stdin"]
            if admin:
                args.append("--admin")
            r = rg(*args, name, stdin=pw + "\n")
            assert r.rc == 0, r.err
        self.smtp, self.policy, self.web = free_port(), free_port(), free_port()
        self.conf = tmp / "relayguard.conf"
        self.conf.write_text(
            "[gateway]\nhostname = mx.corp.test\nstate_dir = %s\nspool_dir = %s\nusers = %s\n"
            "local_domains = corp.test\nerror_sleep_time = 0\n"
            "[policyd]\nlisten = 127.0.0.1:%d\n[web]\nlisten = 127.0.0.1:%d\napi_token = %s\n"
            "[listener submission]\nlisten = 127.0.0.1:%d\nrole = submission\ntls = none\n"
            "require_tls_for_auth = no\n"
            "[auth]\ndelay = 10ms\ndelay_max = 50ms\n[delivery]\npoll_interval = 60s\n%s"
            % (tmp / "var", tmp / "var" / "spool", self.users, self.policy, self.web, TOKEN,
               self.smtp, extra))
        self.log = open(tmp / "serve.log", "w")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", str(self.conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        for port in (self.policy, self.web, self.smtp):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("serve did not start: " + self.logtext())
                    time.sleep(0.05)
        self.base = "http://127.0.0.1:%d" % self.web

    def logtext(self):
        self.log.flush()
        return (self.dir / "serve.log").read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def api(self, path, doc=None):
        req = urllib.request.Request(self.base + path,
                                     data=None if doc is None else json.dumps(doc).encode(),
                                     headers={"Authorization": "Bearer " + TOKEN,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@pytest.fixture
def gw(tmp_path):
    g = Gateway(tmp_path, "[limits]\nmsg_minute = 1000\n[user SPRAY@Corp.Test.]\nmsg_hour = 8\n")
    yield g
    assert g.stop() == 0, g.logtext()


def smtp_send(gw, user, sender):
    """AUTH as user (as typed), one message from sender: the code of the first
    refusal (MAIL, RCPT or DATA), or 250 when it was queued."""
    with smtplib.SMTP("127.0.0.1", gw.smtp, timeout=60) as s:
        s.ehlo("client.corp.test")
        assert s.login(user, PW)[0] == 235
        code, msg = s.docmd("MAIL", "FROM:<%s>" % sender)
        if code != 250:
            return code, msg.decode()
        code, msg = s.docmd("RCPT", "TO:<b@example.net>")
        if code != 250:
            return code, msg.decode()
        try:
            code, msg = s.data(BODY)
        except smtplib.SMTPDataError as e:
            code, msg = e.smtp_code, e.smtp_error
        return code, msg.decode() if isinstance(msg, bytes) else msg


def rcpt_req(user, sender, ip="192.0.2.10"):
    return dict(protocol_state="RCPT", protocol_name="ESMTPA" if user else "ESMTP",
                client_address=ip, sasl_username=user, sender=sender,
                recipient="b@example.net", size="0")


def eom_req(user, sender, ip="192.0.2.10"):
    return dict(rcpt_req(user, sender, ip), protocol_state="END-OF-MESSAGE", recipient="",
                recipient_count="1", size="2048")


def blocks(gw):
    r = rg("block", "--config", gw.conf, "list", "--json")
    assert r.rc == 0, r.err
    return [b["identity"] for b in r.json()["blocks"]]


def test_a_block_holds_every_spelling(gw):
    assert rg("block", "--config", gw.conf, "add", "sam@corp.test", "--reason", "guessed").rc == 0
    assert rg("block", "--config", gw.conf, "add", "domain:evil.test", "--reason", "spam").rc == 0
    r = rg("block", "--config", gw.conf, "add", "domain:" + BUECHER.upper(), "--reason", "idn")
    assert r.rc == 0, r.err
    assert sorted(blocks(gw)) == ["domain:evil.test", "domain:xn--bcher-kva.test",
                                  "user:sam@corp.test"]

    # SMTP: the account under any spelling, the domains in any form
    for user in ("SaM@Corp.TEST", "sam@corp.test", "SAM@CORP.TEST"):
        code, msg = smtp_send(gw, user, "sam@corp.test")
        assert 500 <= code < 600 and "guessed" in msg, (user, code, msg)
    for sender in ("x@EVIL.test", "x@evil.TEST.", "x@xn--bcher-kva.test", "x@XN--BCHER-KVA.test"):
        code, msg = smtp_send(gw, "bob@corp.test", sender)
        assert 500 <= code < 600, (sender, code, msg)
    assert smtp_send(gw, "bob@corp.test", "bob@corp.test")[0] == 250
    assert smtp_send(gw, "bob@corp.test", "x@sub.evil.test")[0] == 250
    log = gw.logtext()
    # the session is the user store's own name for the account, however typed
    assert "auth=ok mech=PLAIN user=SaM@Corp.TEST delay_ms=0 backend=file " \
        "identity=Sam@corp.test" in log
    assert "proto=ESMTPA user=SaM@Corp.TEST" not in log

    # the policy service, as Postfix asks
    p = Policy(gw.policy)
    for user in ("SaM@Corp.TEST", "sam@CORP.test."):
        assert p.ask(**rcpt_req(user, "sam@corp.test")).startswith("action=REJECT"), user
    for sender in ("x@EVIL.test", "x@evil.TEST.", "x@Evil.Test", "x@" + BUECHER,
                   "x@" + BUECHER.upper(), "x@xn--bcher-kva.test"):
        assert p.ask(**rcpt_req("", sender)).startswith("action=REJECT"), sender
        assert p.ask(**eom_req("", sender)).startswith("action=REJECT"), sender
    assert p.ask(**rcpt_req("bob@corp.test", "bob@corp.test")) == "action=DUNNO"

    # a block under another spelling is the same object: still three
    assert rg("block", "--config", gw.conf, "add", "SAM@Corp.Test", "--reason", "again").rc == 0
    assert rg("block", "--config", gw.conf, "add", "domain:EVIL.test.").rc == 0
    st, doc = gw.api("/api/control", {"type": "block", "identity": "user:sAm@corp.TEST",
                                      "reason": "web", "request_id": 1})
    assert st == 200 and doc["identity"] == "user:sam@corp.test", doc
    assert len(blocks(gw)) == 3, blocks(gw)

    # the web page: one object; Resume under another spelling lifts it
    c = Client(gw.base)
    assert c.login(ADMIN, ADMIN_PW)[0] == 303
    st, _, page = c.req("/blocks")
    assert st == 200 and page.count("user:sam@corp.test") >= 1
    assert "SAM@" not in page and "sAm@" not in page and "EVIL" not in page
    st, _, page = c.req("/account?id=SAM@CORP.TEST")
    assert st == 200 and "user:sam@corp.test" in page
    csrf = c.csrf_of(page)
    st, h, _ = c.req("/resume", {"identity": "Sam@CORP.test.", "reason": "password changed",
                                 "csrf": csrf})
    assert st == 303, h
    st, h, _ = c.req("/resume", {"identity": "domain:Evil.TEST", "reason": "cleaned",
                                 "csrf": csrf})
    assert st == 303
    assert blocks(gw) == ["domain:xn--bcher-kva.test"]
    trail = rg("block", "--config", gw.conf, "audit", "--json").json()["audit"]
    assert [(a["action"], a["identity"]) for a in trail[-2:]] == [
        ("unblock", "user:sam@corp.test"), ("unblock", "domain:evil.test")]
    assert smtp_send(gw, "SAM@corp.test", "sam@corp.test")[0] == 250
    assert p.ask(**rcpt_req("", "x@evil.test")) == "action=DUNNO"
    # the CLI unblock of the U-label spelling lifts the A-label block
    assert rg("unblock", "--config", gw.conf, "domain:" + BUECHER, "--reason", "ok").rc == 0
    assert blocks(gw) == []
    p.close()


def test_limit_override_any_spelling(gw):
    p = Policy(gw.policy)
    assert [p.ask(**eom_req("bob@corp.test", "bob@corp.test")) for _ in range(2)] == \
        ["action=DUNNO"] * 2
    st, doc = gw.api("/api/control", {"type": "limit", "target": "user:BOB@Corp.Test.",
                                      "limit": "msg_hour", "value": "2", "request_id": 2})
    assert st == 200 and doc["target"] == "user:bob@corp.test", doc
    r = p.ask(**eom_req("Bob@CORP.test", "bob@corp.test"))
    assert r.startswith("action=DEFER relayguard rate_msg_hour"), r
    st, doc = gw.api("/api/control", {"type": "limit", "target": "user:@x", "limit": "msg_hour",
                                      "value": "2", "request_id": 3})
    assert st == 400, doc
    p.close()


def spellings(name, n, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        s = "".join(ch.upper() if rnd.random() < 0.5 else ch for ch in name)
        out.append(s)
    return out


def test_spray_under_random_capitalisations_is_one_account(gw):
    # SMTP AUTH: [user SPRAY@Corp.Test.] allows 8 an hour, whatever the spelling
    codes = [smtp_send(gw, u, "spray@corp.test")[0]
             for u in spellings("spray@corp.test", 12, 1)]
    assert codes[:8] == [250] * 8 and all(400 <= c < 500 for c in codes[8:]), codes
    log = gw.logtext()
    assert "identity=user:spray@corp.test" in log
    assert log.count("backend=file identity=spray@corp.test") == 12
    assert log.count("proto=ESMTPA user=spray@corp.test") == 8

    # the policy service: a hijacked account (logins from many networks, many
    # senders) sprayed under random spellings is blocked as one account, at
    # the same message as the same traffic under one spelling
    p = Policy(gw.policy)

    def run(names):
        for i, user in enumerate(names):
            ip = "198.%d.7.%d" % (10 + 3 * i, i + 1)
            r = p.ask(**eom_req(user, "x%d@corp.test" % (i % 7), ip))
            if r.startswith("action=REJECT"):
                return i
        return None

    random_at = run(spellings("ann@corp.test", 30, 2))
    same_at = run(["carl@corp.test"] * 30)
    assert same_at is not None and random_at == same_at, (random_at, same_at)
    assert sorted(b for b in blocks(gw) if b.startswith("user:")) == [
        "user:ann@corp.test", "user:carl@corp.test"]
    p.close()


def test_replay_keys_every_spelling_as_one_account(tmp_path):
    """replay (and logscan's per-account table) key an account in IDN U-label,
    A-label or any case as one: one account tried, the block on the A-labels."""
    names = ["sam@b\u00fccher.test", "SAM@B\u00dcCHER.TEST", "sam@xn--bcher-kva.test",
             "Sam@XN--BCHER-KVA.test"]
    lines = []
    for i in range(17):
        lines.append("2026-12-31T10:00:%02d+00:00 mx postfix/smtpd[%d]: warning: unknown"
                     "[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, "
                     "sasl_username=%s" % (i, 100 + i, names[i % 4]))
    p = tmp_path / "brute.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = rg("replay", p)
    assert r.rc == 1, r.err
    out = r.out.splitlines()
    assert out[0].startswith("2026-12-31T10:00:15Z %s:16 block ip:198.51.100.9 "
                             "rule=auth_ip_lockout" % p), out
    assert "accounts tried" not in out[0], out[0]
    assert " block user:sam@xn--bcher-kva.test rule=block:auth_ip_lockout" in out[1], out
    r = rg("logscan", "--json", p)
    brute = [x for x in r.json()["suspects"] if x["kind"] == "brute_force"]
    assert len(brute) == 1 and brute[0]["accounts_tried"] == 1, r.out
