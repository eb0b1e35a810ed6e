"""Limits that bound what one client can make the gateway keep (issue 16):
a full state store fails closed for AUTH; mail loops are refused; the
smaller per-client caps. Each test here fails on the code before the fix."""
import base64
import re
import smtplib
import time

import pytest

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
