"""relayguard replay: every verdict that is not allow, in log order, with the
event, the rule and the reasons; on a hand-written log (exact lines) and on
the generated corpus (tests/data/gen_logs.py).
"""
import json
import subprocess
import sys

import pytest

from conftest import DATA, rg

GEN = DATA + "/gen_logs.py"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    subprocess.run([sys.executable, GEN, "corpus", str(d), "--seed", "2026"], check=True,
                   timeout=120)
    return d


def brute_log(n):
    """n failed logins from one IP, a second apart, then a login attempt."""
    out = []
    for i in range(n):
        out.append("2026-12-31T10:00:%02d+00:00 mx postfix/smtpd[%d]: warning: unknown"
                   "[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, "
                   "sasl_username=u%d@example.com" % (i, 100 + i, i % 3))
    return "\n".join(out) + "\n"


def test_lockout_exact(tmp_path):
    p = tmp_path / "brute.log"
    p.write_text(brute_log(17))
    r = rg("replay", p)
    assert r.rc == 1, r.err
    lines = r.out.splitlines()
    # the 16th failure in a row (an EWMA rate of 16 >= 15) locks the IP out for an
    # hour; the next failure meets the block
    assert lines[0] == (
        "2026-12-31T10:00:15Z %s:16 block ip:198.51.100.9 rule=auth_ip_lockout score=0: "
        "16 failed logins in 120 min from 198.51.100.9; 3 accounts tried | AUTH_FAIL "
        "user=u0@example.com ip=198.51.100.9" % p)
    assert lines[1] == (
        "2026-12-31T10:00:16Z %s:17 block user:u1@example.com rule=block:auth_ip_lockout "
        "score=0: ip:198.51.100.9 is blocked: failed logins (lockout 1) | AUTH_FAIL "
        "user=u1@example.com ip=198.51.100.9" % p)
    assert len(lines) == 3 and lines[2] == "# 17 lines, 17 events, 2 verdicts not allow"


def test_nothing_to_say(tmp_path):
    p = tmp_path / "few.log"
    p.write_text(brute_log(3))
    r = rg("replay", p)
    assert r.rc == 0 and r.out == "# 3 lines, 3 events, 0 verdicts not allow\n"


def test_corpus_in_order_with_rules(corpus):
    r = rg("replay", "--year", "2026", corpus / "mail.log", timeout=120)
    assert r.rc == 1
    lines = [l for l in r.out.splitlines() if not l.startswith("#")]
    times = [l.split(" ", 1)[0] for l in lines]
    assert times == sorted(times)
    rules = {}
    for l in lines:
        f = l.split(" ")
        assert f[2] in ("warn", "defer", "hold", "block")
        rules.setdefault(f[4], []).append(l)
    assert "rule=compromise" in rules and "rule=auth_ip_lockout" in rules
    assert "rule=rate_null_hour" in rules  # bob's vacation replies
    blocks = [l for l in rules["rule=compromise"] if " block user:test@example.com " in l]
    assert len(blocks) == 1 and "new_block" not in blocks[0]
    assert "login success after 14 failures from 198.51.100.23" in blocks[0]
    assert "| MAIL user=test@example.com ip=198.51.100." in blocks[0]
    # every account the policy blocked is a suspect of logscan, and no other
    blocked = {l.split(" ")[3] for l in rules["rule=compromise"] if l.split(" ")[2] == "block"}
    assert blocked == {"user:test@example.com", "user:maria@example.com"}


def test_json_streams_every_verdict(corpus):
    r = rg("replay", "--json", "--year", "2026", corpus / "mail.log", timeout=120)
    assert r.rc == 1
    doc = json.loads(r.out)
    v = doc["verdicts"]
    assert len(v) == doc["stats"]["verdicts"] > 1000
    first = next(x for x in v if x["rule"] == "auth_ip_lockout")
    assert first["identity"] == "ip:203.0.113.77" and first["action"] == "block"
    assert first["event"]["type"] == "AUTH_FAIL" and first["event"]["ip"] == "203.0.113.77"
    assert first["source"].startswith(str(corpus / "mail.log") + ":")
    assert first["blocked_until"] > first["time"]
    auto = next(x for x in v if x["rule"] == "rate_null_hour")
    assert auto["event"]["user"] == "bob@example.com"
    assert set(auto["event"]["flags"]) == {"null_sender", "auto_submitted"}


def test_replay_options(corpus, tmp_path):
    r = rg("replay", "--help")
    assert r.rc == 0 and "not \"allow\"" in r.out
    conf = tmp_path / "p.conf"
    conf.write_text("[limits]\nmsg_hour = 2\n")
    p = tmp_path / "two.log"
    lines = []
    for i in range(3):
        q = "ABCDEF%04X" % i
        t = "2026-12-31T10:00:%02d+00:00 mx " % (i * 2)
        lines += [t + "postfix/submission/smtpd[7]: %s: client=h[192.0.2.7], sasl_method=PLAIN, "
                  "sasl_username=ann@example.com" % q,
                  t + "postfix/qmgr[8]: %s: from=<ann@example.com>, size=100, nrcpt=1 "
                  "(queue active)" % q]
    p.write_text("\n".join(lines) + "\n")
    r = rg("replay", "--config", conf, p)
    assert r.rc == 1
    out = [l for l in r.out.splitlines() if not l.startswith("#")]
    assert len(out) == 1 and all(" defer user:ann@example.com rule=rate_msg_hour " in l
                                 for l in out)
    assert "| MAIL user=ann@example.com ip=192.0.2.7 from=<ann@example.com> rcpts=1 size=100" \
        in out[0]
    r = rg("replay", p)
    assert r.rc == 0
