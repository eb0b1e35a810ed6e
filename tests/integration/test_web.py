"""The admin page and /api/ of `relayguard serve`: nothing without a login,
nothing changed without the CSRF token, cookies HttpOnly and SameSite=Strict
(Secure under TLS), logins limited by the policy engine's brute-force rules,
bearer tokens for the API, the same block list as the CLI, Resume lifting a
block, the pages' content, /metrics accepted by promtool with every metric
docs/metrics.md lists as registered. The browser test is test_web_browser.py."""
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import time

import pytest

from conftest import ROOT, free_port, rg
from webtools import (ADMIN, TOKEN, USER, USER_PW, Client, Policy, Server, compromise, eom)


@pytest.fixture
def srv(tmp_path):
    s = Server(tmp_path)
    yield s
    assert s.stop() == 0, (tmp_path / "serve.log").read_text()


def test_nothing_without_login(srv):
    rg("block", "--config", srv.conf, "add", "sam@corp.test", "--reason", "secret-reason-xyz")
    c = Client(srv.base)
    for path in ["/", "/blocks", "/audit", "/listings", "/holds", "/account?id=sam@corp.test"]:
        st, _, body = c.req(path)
        assert st == 401, path
        assert "secret-reason-xyz" not in body and "sam@corp.test" not in body
        assert 'action="/login"' in body
    for path in ["/api/status", "/api/blocks", "/api/holds"]:
        st, h, body = c.req(path)
        assert st == 401 and "secret-reason-xyz" not in body, path
        assert h["Content-Type"] == "application/json"
        assert "Bearer" in h["WWW-Authenticate"]
    st, _, _ = c.req("/resume", {"identity": "sam@corp.test", "reason": "x"})
    assert st == 401
    st, _, _ = c.req("/api/unblock", json.dumps({"identity": "sam@corp.test",
                                                  "reason": "x"}).encode(),
                     {"Content-Type": "application/json"})
    assert st == 401
    # A wrong bearer token is no login either.
    st, _, body = c.req("/api/blocks", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
    assert st == 401 and "secret-reason-xyz" not in body
    # Still blocked: none of the above changed anything.
    assert rg("block", "--config", srv.conf, "show", "sam@corp.test").rc == 0
    # /metrics and /healthz need no login.
    assert c.req("/healthz")[0] == 200 and c.req("/metrics")[0] == 200


def test_login_cookie_and_csrf(srv):
    rg("block", "--config", srv.conf, "add", "sam@corp.test", "--reason", "guessed")
    c = Client(srv.base)
    st, h, _ = c.login()
    assert st == 303 and h["Location"] == "/"
    cookie = [v for k, v in h.items() if k == "Set-Cookie" and v.startswith("rg_session=")][0]
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
    assert "Secure" not in attrs  # plain HTTP on loopback
    st, _, page = c.req("/blocks")
    assert st == 200 and "user:sam@corp.test" in page and "guessed" in page
    csrf = c.csrf_of(page)
    # POST without the token, or with another one: refused, nothing changes.
    for form in ({"identity": "sam@corp.test", "reason": "fixed"},
                 {"identity": "sam@corp.test", "reason": "fixed", "csrf": "0" * 64}):
        st, _, _ = c.req("/resume", form)
        assert st == 403
    st, _, _ = c.req("/api/unblock", json.dumps({"identity": "sam@corp.test",
                                                  "reason": "fixed"}).encode(),
                     {"Content-Type": "application/json"})
    assert st == 403
    assert rg("block", "--config", srv.conf, "show", "sam@corp.test").rc == 0
    # Resume needs a reason.
    st, _, page = c.req("/resume", {"identity": "sam@corp.test", "reason": " ", "csrf": csrf})
    assert st == 400 and "reason is required" in page
    # With the token and a reason: lifted, audited with the admin's name.
    st, h, _ = c.req("/resume", {"identity": "sam@corp.test", "reason": "password changed",
                                 "csrf": csrf})
    assert st == 303 and h["Location"].startswith("/blocks?resumed=")
    st, _, page = c.req(h["Location"])
    assert "Resumed user:sam@corp.test" in page
    assert rg("block", "--config", srv.conf, "show", "sam@corp.test").rc == 1
    audit = rg("block", "--config", srv.conf, "audit", "--json").json()["audit"]
    assert audit[-1]["action"] == "unblock" and audit[-1]["actor"] == "web:" + ADMIN
    assert audit[-1]["reason"] == "password changed"
    # The JSON API with the session needs X-CSRF-Token.
    rg("block", "--config", srv.conf, "add", "198.51.100.0/24", "--reason", "spam run")
    st, _, body = c.req("/api/unblock", json.dumps({"identity": "198.51.100.0/24",
                                                     "reason": "cleaned"}).encode(),
                        {"Content-Type": "application/json", "X-CSRF-Token": csrf})
    assert st == 200, body
    assert json.loads(body) == {"identity": "cidr:198.51.100.0/24", "result": "unblocked"}
    # Log out: the session is gone.
    st, _, _ = c.req("/logout", {"csrf": csrf})
    assert st == 303
    assert c.req("/blocks")[0] == 401


def test_login_form_needs_its_token(srv):
    c = Client(srv.base)
    st, _, page = c.req("/login", {"user": ADMIN, "password": "x"})
    assert st == 403 and "expired" in page


def test_api_same_as_cli_and_bearer(srv):
    p = Policy(srv.policy_port)
    compromise(p)
    rg("block", "--config", srv.conf, "add", "sam@corp.test", "--reason", "by hand")
    c = Client(srv.base)
    auth = {"Authorization": "Bearer " + TOKEN}
    st, _, body = c.req("/api/blocks", headers=auth)
    assert st == 200
    cli = rg("block", "--config", srv.conf, "list", "--json").json()
    assert json.loads(body) == cli
    ann = [b for b in cli["blocks"] if b["identity"] == "user:ann@corp.test"][0]
    assert ann["rule"] == "compromise" and "logins from 10 IPs" in ann["evidence"]
    st, _, body = c.req("/api/status", headers=auth)
    status = json.loads(body)
    assert status["blocks"]["active"] == 2 and status["blocks"]["by_kind"]["user"] == 2
    assert status["queue"]["active"] == 0 and status["holds"] == {"count": 0, "by_reason": {}}
    assert status["limits"]["msg_hour"] > 0 and status["auth"]["ip_failures"] == 5
    cli = rg("status", "--config", srv.conf, "--json")
    assert cli.rc == 0, cli.err
    cli = cli.json()
    del cli["time"], status["time"]
    assert cli == status
    st, _, body = c.req("/api/holds", headers=auth)
    assert st == 200 and json.loads(body) == {"holds": []}
    st, _, body = c.req("/api/holds/0123456789ABCDEF/release", b"", auth)
    assert st == 404 and "no such" in json.loads(body)["error"]
    # A bearer POST needs no CSRF token (no cookie is involved).
    st, _, body = c.req("/api/unblock", json.dumps({"identity": "ann@corp.test",
                                                     "reason": "password reset"}).encode(),
                        dict(auth, **{"Content-Type": "application/json"}))
    assert st == 200 and json.loads(body)["result"] == "unblocked"
    assert p.ask(**eom("ann@corp.test", "198.10.7.1", "x0@corp.test")) == "action=DUNNO"
    for bad in (b"{", b'{"identity": 5}', b'{"identity": "a b"}', b'{"identity": "x@y"}'):
        st, _, body = c.req("/api/unblock", bad, dict(auth, **{"Content-Type": "application/json"}))
        assert st == 400, (bad, body)
    assert c.req("/api/nothing", headers=auth)[0] == 404
    assert c.req("/api/blocks", b"{}", auth)[0] == 405
    p.close()


def test_holds_api_and_pages(tmp_path):
    from test_hold import qid
    a, b = qid(1), qid(2)
    s = Server(tmp_path, held=[(a, "compromise score 60", "alice@corp.test"),
                               (b, "null sender to 40 recipients", "")])
    try:
        c = Client(s.base)
        auth = {"Authorization": "Bearer " + TOKEN}
        assert c.req("/api/holds")[0] == 401
        metrics = c.req("/metrics")[2]
        assert 'relayguard_queue_messages{state="held"} 2' in metrics
        # (the test spool dates from 2027: its age is 0 now)
        assert re.search(r"^relayguard_queue_oldest_seconds 0$", metrics, re.M)
        st, _, body = c.req("/api/holds", headers=auth)
        holds = json.loads(body)["holds"]
        assert [h["id"] for h in holds] == [a, b] and holds[0]["auth_user"] == "alice"
        assert holds[0]["held"] is True and holds[0]["reason"] == "compromise score 60"
        assert c.req("/api/holds/%s/release" % a, b"", auth)[0] == 200
        assert c.req("/api/holds/%s/release" % a, b"", auth)[0] == 409  # not held now
        c.login()
        st, _, page = c.req("/holds")
        assert st == 200 and b in page and a not in page
        st, _, page = c.req("/hold?id=" + b)
        assert "Subject: test 1" in page and "null sender to 40 recipients" in page
        csrf = c.csrf_of(page)
        assert c.req("/holds/%s/delete" % b, {"reason": "backscatter"})[0] == 403
        st, h, _ = c.req("/holds/%s/delete" % b, {"reason": "backscatter", "csrf": csrf})
        assert st == 303 and h["Location"].startswith("/holds?done=Deleted")
        assert json.loads(c.req("/api/holds", headers=auth)[2]) == {"holds": []}
        # relayguard hold, beside serve, sees the same
        out = rg("hold", "--config", s.conf, "list", "--json")
        assert out.rc == 0 and out.json()["holds"] == [], out.out + out.err
    finally:
        assert s.stop() == 0


def test_login_attempts_limited(tmp_path):
    # [auth] ip_failures = 5: the failure that passes the limit locks the address out
    # of web logins: a lockout of the web's own, never an SMTP block (issue 16).
    srv = Server(tmp_path, extra="[web]\ntrusted_proxy = 127.0.0.1\n")
    try:
        c = Client(srv.base)
        guesser = {"X-Forwarded-For": "203.0.113.5"}  # through the reverse proxy
        for i in range(6):
            st, _, page = c.login(pw="wrong-%d" % i, headers=guesser)
            assert st == 401 and "Wrong user name or password" in page
        # The address is locked out now: even the right password is refused.
        st, _, page = c.login(headers=guesser)
        assert st == 429 and "Too many failed logins" in page
        assert c.req("/blocks")[0] == 401
        blocks = rg("block", "--config", srv.conf, "list", "--json").json()["blocks"]
        assert blocks == []
        metrics = Client(srv.base).req("/metrics")[2]
        assert 'relayguard_auth_failures_total{service="web"} 6' in metrics
        assert 'relayguard_web_logins_total{result="locked_out"} 1' in metrics
        # Another address (and the proxy itself) still gets in.
        assert c.login(headers={"X-Forwarded-For": "203.0.113.6"})[0] == 303
        assert Client(srv.base).login()[0] == 303
    finally:
        assert srv.stop() == 0


def test_failed_login_waits_without_stopping_the_server(tmp_path):
    # [auth] delay: a failed login is answered after 0.4 s, then 0.8 s (doubling, as for
    # SMTP AUTH); meanwhile the connection is suspended and everything else goes on.
    s = Server(tmp_path, extra="[auth]\ndelay = 400ms\n")
    try:
        c = Client(s.base)
        t0 = time.monotonic()
        assert c.login(pw="wrong-1")[0] == 401
        first = time.monotonic() - t0
        assert 0.35 <= first < 5, first
        result = {}

        def slow():
            t = time.monotonic()
            result["status"] = c.login(pw="wrong-2")[0]
            result["took"] = time.monotonic() - t

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.15)
        t0 = time.monotonic()
        assert Client(s.base).req("/healthz")[0] == 200
        assert time.monotonic() - t0 < 0.3
        th.join(10)
        assert result["status"] == 401 and result["took"] >= 0.75, result
        assert Client(s.base).login()[0] == 303  # the right password: no delay, a session
    finally:
        assert s.stop() == 0


def test_password_check_does_not_stop_the_policy_service(srv):
    # A real-cost Argon2id check takes a few hundred ms; it runs on its own thread,
    # so Postfix's policy requests are answered meanwhile.
    users = srv.dir / "var" / "users"
    r = rg("user", "add", "--admin", "--cost", "t=4,m=256M", "--file", users,
           "--password-stdin", "slowboss", stdin="Slow-Admin-Pw-81!\n")
    assert r.rc == 0, r.err
    p = Policy(srv.policy_port)
    result = {}

    def login():
        t = time.monotonic()
        result["status"] = Client(srv.base).login("slowboss", "Slow-Admin-Pw-81!")[0]
        result["took"] = time.monotonic() - t

    th = threading.Thread(target=login)
    th.start()
    time.sleep(0.05)
    answered = []
    while th.is_alive() and len(answered) < 50:
        t = time.monotonic()
        assert p.ask(**eom("bob@corp.test", "192.0.2.44", "bob@corp.test")) == "action=DUNNO"
        answered.append(time.monotonic() - t)
    th.join(30)
    assert result["status"] == 303, result
    print("login took %.2f s; %d policy answers meanwhile, slowest %.4f s"
          % (result["took"], len(answered), max(answered or [0])))
    assert answered, "the login was faster than one policy request: %r" % result
    assert max(answered) < result["took"] / 2, (answered, result)
    p.close()


def test_only_admins(srv):
    c = Client(srv.base)
    st, _, page = c.login(USER, USER_PW)
    assert st == 403 and "not an administrator" in page
    assert c.req("/")[0] == 401


def test_pages(srv, tmp_path):
    p = Policy(srv.policy_port)
    compromise(p)
    for _ in range(3):
        p.ask(**eom("bob@corp.test", "192.0.2.44", "bob@corp.test"))
    state = tmp_path / "var" / "monitor-state.json"
    state.write_text(json.dumps({"version": 1, "updated": "2026-11-23T10:00:00Z", "listings": {
        "203.0.113.5 zen.spamhaus.org": {"since": "2026-11-22T08:00:00Z",
                                         "codes": ["127.0.0.2"], "meaning": ["SBL"]},
        "203.0.113.5 evil<script>.example": {"since": "2026-11-22T08:00:00Z",
                                              "codes": ["127.0.0.2"], "meaning": ["<b>x</b>"]}}}))
    c = Client(srv.base)
    c.login()
    st, _, page = c.req("/")
    assert st == 200
    assert 'id="tile-blocks"><b>1</b>' in page
    assert 'id="tile-listings"><b>2</b>' in page
    assert "<svg" in page and "Messages per hour" in page and "(total 15," in page
    assert "<script" not in page.lower()
    st, _, page = c.req("/account?id=ann@corp.test")
    assert st == 200 and "user:ann@corp.test" in page and "logins from 10 IPs" in page
    assert "198.43.7.12" in page  # the last client IP
    assert "no-holds" in page
    st, _, page = c.req("/account?id=bob@corp.test")
    assert "(total 3," in page and "not-blocked" in page
    st, _, page = c.req("/listings")
    assert "zen.spamhaus.org" in page and "Spamhaus" in page and "https://" in page
    assert "<script>" not in page and "evil&lt;script&gt;.example" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    st, _, page = c.req("/audit")
    assert "compromise score 90" in page
    assert c.req("/account?id=")[0] == 400
    assert c.req("/nothing")[0] == 404
    # Headers that keep the page from being framed or scripted.
    _, h, _ = c.req("/")
    assert "default-src 'none'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY"
    p.close()


def test_non_loopback_needs_tls(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[web]\nlisten = 0.0.0.0:%d\n" % free_port())
    r = rg("checkconf", "--config", conf)
    assert r.rc == 2 and "not a loopback address" in r.err and "tls_cert" in r.err
    conf.write_text("[web]\nlisten = [::1]:%d\n" % free_port())
    assert rg("checkconf", "--config", conf).rc == 0


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl command not installed")
def test_tls_beyond_loopback(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    s = Server(tmp_path, web_host="0.0.0.0",
               web_extra="tls_cert = %s\ntls_key = %s\n" % (cert, key))
    try:
        c = Client(s.base, ssl.create_default_context(cafile=str(cert)))
        st, h, _ = c.login()
        assert st == 303
        cookie = [v for k, v in h.items() if k == "Set-Cookie" and "rg_session=" in v][0]
        assert "Secure" in [a.strip() for a in cookie.split(";")]
        assert "max-age" in h["Strict-Transport-Security"]
        assert c.req("/blocks")[0] == 200
        # Plain HTTP on the TLS port gets no page.
        with pytest.raises(Exception):
            Client("http://127.0.0.1:%d" % s.web_port).req("/login")
    finally:
        assert s.stop() == 0


DOC = os.path.join(ROOT, "docs", "metrics.md")


def documented_metrics():
    """Names in docs/metrics.md's table rows marked registered (`yes`)."""
    names = []
    for line in open(DOC):
        m = re.match(r"\|\s*`(relayguard_[a-z_]+)`\s*\|.*\|\s*yes\s*\|\s*$", line)
        if m:
            names.append(m.group(1))
    return names


def test_metrics_promtool_and_documented(srv, tmp_path):
    p = Policy(srv.policy_port)
    compromise(p)
    p.ask(protocol_state="RCPT", client_address="192.0.2.1", sasl_username="ann@corp.test",
          sender="a@corp.test", recipient="b@example.net")
    (tmp_path / "var" / "monitor-state.json").write_text(json.dumps({"listings": {
        "203.0.113.5 zen.spamhaus.org": {"since": "2026-11-22T08:00:00Z"}}}))
    c = Client(srv.base)
    c.login(pw="wrong")
    c.login()
    text = c.req("/metrics")[2]
    if shutil.which("promtool"):
        pr = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=60)
        assert pr.returncode == 0, pr.stdout + pr.stderr
    names = documented_metrics()
    assert len(names) >= 8, names
    for n in names:
        assert re.search(r"^%s(_bucket|_count|_sum)?[{ ]" % n, text, re.M), n
    assert 'relayguard_policy_decisions_total{action="block"}' in text
    assert 'relayguard_blocks_active{kind="user"} 1' in text
    assert 'relayguard_blocklist_listed{target="203.0.113.5",zone="zen.spamhaus.org"} 1' in text
    assert "relayguard_policy_decision_seconds_count 13" in text
    assert 'relayguard_queue_messages{state="held"} 0' in text
    p.close()
