"""The admin page in a real browser (Debian's Chromium, headless, driven by
chromedriver over the W3C WebDriver protocol): log in, see a blocked account
with its evidence, press Resume with a reason, and the account sends again
(the policy service answers DUNNO, and the same serve's submission listener
takes the account's mail again: before Resume its login is refused, after it
the message gets 250 and is in the spool). Screenshots at 1280 and 390 px wide go
to build/web-screenshots/ (printed); at both widths no page scrolls sideways.
Held mail is viewed and released the same way. Skipped, with the reason, when
chromium or chromedriver is not installed."""
import json
import os
import smtplib
import socket
import time

import pytest

from conftest import ROOT, free_port, rg
from spool import read_spool
from webtools import ADMIN, ADMIN_PW, Policy, Server, WebDriver, compromise, eom

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = os.path.join(ROOT, "build", "web-screenshots")

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)),
    reason="chromium and chromium-driver (Debian packages) are not installed")

NO_OVERFLOW = ("return [document.documentElement.scrollWidth, "
               "document.documentElement.clientWidth, window.innerWidth];")


def no_horizontal_overflow(d, what):
    scroll, client, inner = d.js(NO_OVERFLOW)
    assert scroll <= client, "%s: content %d px wide in a %d px viewport" % (what, scroll, client)
    return inner


ANN_PW = "Kx7#wrenfold-2026"
MSG = b"From: <ann@corp.test>\r\nTo: <friend@example.net>\r\nSubject: after resume\r\n\r\nhi\r\n"


def smtp_send(port):
    """One message from ann through the submission listener: (stage, code)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("ws.corp.test")
        try:
            s.login("ann@corp.test", ANN_PW)
        except smtplib.SMTPAuthenticationError as e:
            return "auth", e.smtp_code
        try:
            s.sendmail("ann@corp.test", ["friend@example.net"], MSG)
        except smtplib.SMTPSenderRefused as e:
            return "mail", e.smtp_code
        except smtplib.SMTPRecipientsRefused as e:
            return "rcpt", list(e.recipients.values())[0][0]
        except smtplib.SMTPDataError as e:
            return "data", e.smtp_code
        return "sent", 250


def ann_in_spool(tmp_path):
    return [m for m in read_spool(str(tmp_path / "var" / "spool")).values()
            if m["env"].get("auth_user") == "ann@corp.test"]


def test_resume_in_the_browser(tmp_path):
    started = time.monotonic()
    os.makedirs(SHOTS, exist_ok=True)
    print("screenshots: %s" % SHOTS)
    from test_hold import qid
    held = [(qid(1), "compromise score 60", "alice@corp.test"),
            (qid(2), "null sender to 40 recipients", "")]
    # The same serve takes submissions (no TLS on loopback); its delivery goes
    # to a closed port, so an accepted message stays in the spool.
    smtp_port, dead_port = free_port(), free_port()
    os.makedirs(tmp_path / "var")
    r = rg("user", "add", "--cost", "min", "--file", tmp_path / "var" / "users",
           "--password-stdin", "ann@corp.test", stdin=ANN_PW + "\n")
    assert r.rc == 0, r.err
    srv = Server(tmp_path, held=held, extra=(
        "[listener sub]\nlisten = 127.0.0.1:%d\nrole = submission\ntls = none\n"
        "require_tls_for_auth = no\n[delivery]\nrelayhost = [127.0.0.1]:%d\n"
        % (smtp_port, dead_port)))
    pol = Policy(srv.policy_port)
    d = None
    try:
        deadline = time.monotonic() + 10
        while True:  # the SMTP listener opens just after the web one
            try:
                socket.create_connection(("127.0.0.1", smtp_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.05)
        (tmp_path / "var" / "monitor-state.json").write_text(json.dumps({
            "version": 1, "updated": "2026-11-23T10:00:00Z", "listings": {
                "203.0.113.5 zen.spamhaus.org": {"since": "2026-11-22T08:00:00Z",
                                                 "codes": ["127.0.0.3"], "meaning": ["CSS"]},
                "203.0.113.5 bl.spamcop.net": {"since": "2026-11-23T07:00:00Z",
                                               "codes": ["127.0.0.2"], "meaning": []}}}))
        replies = compromise(pol)
        assert any(r.startswith("action=REJECT relayguard block:compromise") for r in replies)
        d = WebDriver(1280, 900)
        d.get(srv.base + "/")
        assert "Log in" in d.js("return document.title;")
        d.type("#user", ADMIN)
        d.type("#password", ADMIN_PW)
        d.click_nav("#login")
        assert d.js("return location.pathname;") == "/"
        # The session cookie is out of reach of scripts (HttpOnly).
        assert "rg_session" not in d.js("return document.cookie;")
        d.screenshot(os.path.join(SHOTS, "overview-1280.png"))
        no_horizontal_overflow(d, "overview at 1280")
        d.get(srv.base + "/blocks")
        page = d.source()
        assert "user:ann@corp.test" in page
        for ev in ("logins from 10 IPs", "logins from 10 networks", "7 envelope senders"):
            assert ev in page
        d.screenshot(os.path.join(SHOTS, "blocks-1280.png"))
        no_horizontal_overflow(d, "blocks at 1280")
        # The account's own page: its chart and its last verdicts.
        d.get(srv.base + "/account?id=ann@corp.test")
        assert d.js("return document.querySelectorAll('svg.chart rect.bar').length;") >= 1
        d.screenshot(os.path.join(SHOTS, "account-1280.png"))
        no_horizontal_overflow(d, "account at 1280")
        # Phone width: every page readable without sideways scrolling.
        d.resize(390, 844)
        for path, name in (("/", "overview"), ("/blocks", "blocks"),
                           ("/account?id=ann@corp.test", "account"), ("/audit", "audit"),
                           ("/listings", "listings"), ("/holds", "holds"),
                           ("/hold?id=" + qid(1), "hold")):
            d.get(srv.base + path)
            if name == "listings":
                links = d.js("return Array.from(document.querySelectorAll('#listings a'))"
                             ".map(a => a.href);")
                assert any(u.startswith("https://") for u in links), links
            inner = no_horizontal_overflow(d, "%s at 390" % name)
            assert inner <= 400, inner
            d.screenshot(os.path.join(SHOTS, "%s-390.png" % name))
        d.resize(1280, 900)
        # Resume without a reason: the browser itself refuses (required field), the
        # block stays.
        d.get(srv.base + "/blocks")
        d.click("button.resume-btn")
        assert d.js("return location.pathname;") == "/blocks"
        assert "user:ann@corp.test" in d.source()
        assert pol.ask(**eom("ann@corp.test", "198.10.7.1", "x0@corp.test")).startswith(
            "action=REJECT")
        # Blocked through SMTP too: the login is refused, nothing is queued.
        stage, code = smtp_send(smtp_port)
        print("blocked account over SMTP: refused at %s with %d" % (stage, code))
        assert stage in ("auth", "mail", "rcpt") and 500 <= code < 600, (stage, code)
        assert not ann_in_spool(tmp_path)
        d.type("form.resume input[name=reason]", "password reset, machine cleaned")
        d.click_nav("button.resume-btn")
        assert d.js("return location.pathname;") == "/blocks"
        flash = d.js("return document.getElementById('flash').textContent;")
        assert "Resumed user:ann@corp.test" in flash
        assert "user:ann@corp.test" not in d.js(
            "var t = document.getElementById('blocks'); return t ? t.textContent : '';")
        d.screenshot(os.path.join(SHOTS, "resumed-1280.png"))
        # The account sends again.
        assert pol.ask(**eom("ann@corp.test", "198.10.7.1", "x0@corp.test")) == "action=DUNNO"
        assert smtp_send(smtp_port) == ("sent", 250), (tmp_path / "serve.log").read_text()
        queued = ann_in_spool(tmp_path)
        assert len(queued) == 1 and b"Subject: after resume" in queued[0]["data"]
        d.get(srv.base + "/audit")
        assert "web:%s" % ADMIN in d.source() and "password reset" in d.source()
        # Held mail: view one, release it with a reason.
        d.get(srv.base + "/holds")
        assert len(d.finds("tr.hold")) == 2
        d.click_nav("tr.hold a")
        assert "Subject: test 0" in d.js("return document.getElementById('content').textContent;")
        d.type("form.resume input[name=reason]", "checked: a real newsletter")
        d.click_nav("button.release-btn")
        assert "Released %s" % qid(1) in d.js(
            "return document.getElementById('flash').textContent;")
        assert len(d.finds("tr.hold")) == 1
        d.screenshot(os.path.join(SHOTS, "holds-1280.png"))
        for f in ("overview-1280.png", "blocks-390.png", "resumed-1280.png"):
            assert os.path.getsize(os.path.join(SHOTS, f)) > 2000
    finally:
        if d:
            d.quit()
        pol.close()
        assert srv.stop() == 0
    elapsed = time.monotonic() - started
    print("browser test: %.1f s" % elapsed)
    assert elapsed < 60
