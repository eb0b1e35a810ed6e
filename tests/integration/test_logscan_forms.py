"""Every authentication line form of issue 17 item 3 (tests/data/authforms/,
sources in its README): logscan attributes each failure to the host that
fail2ban's filters name, and each login after those failures to the account
(`succeeded`)."""
import json
import os

import pytest

from conftest import DATA, rg

FORMS = os.path.join(DATA, "authforms", "authforms.log")
REPEAT = 40  # failures per host: enough for the default policy's lockout


def blocks():
    """[(host, fail_line, [(user, login_line)])] in file order."""
    out, mark = [], None
    with open(FORMS) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# fail "):
                mark = ("fail", line.split()[2], None)
            elif line.startswith("# login "):
                w = line.split()
                mark = ("login", w[2], w[3])
            elif line.startswith("#") or not line:
                mark = None
            elif mark:
                if mark[0] == "fail":
                    out.append((mark[1], line, []))
                else:
                    assert out and out[-1][0] == mark[1], mark
                    out[-1][2].append((mark[2], line))
                mark = None
    return out


BLOCKS = blocks()


def test_the_forms_are_all_there():
    assert len(BLOCKS) >= 36
    assert sum(len(b[2]) for b in BLOCKS) >= 8


@pytest.mark.parametrize("host,fail,logins", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_each_form_names_the_attacker(tmp_path, host, fail, logins):
    log = tmp_path / "mail.log"
    log.write_text("\n".join([fail] * REPEAT + [x[1] for x in logins]) + "\n")
    r = rg("logscan", "--json", "--year", "2026", log)
    assert r.rc == 1, (r.out, r.err)
    doc = r.json()
    assert doc["stats"]["unparsed"] == 0
    bf = [s for s in doc["suspects"] if s["kind"] == "brute_force"]
    assert [s["client_ip"] for s in bf] == [host], doc["suspects"]
    assert bf[0]["failures"] >= REPEAT
    assert bf[0]["succeeded"] == [u.lower() for u, _ in logins]
    if logins:
        assert doc["suspects"][0] is not None and doc["suspects"][0]["client_ip"] == host
        assert bf[0]["logins"][0]["failures_before"] >= REPEAT


def test_all_forms_in_one_log(tmp_path):
    """The whole file at once: every line that is not a comment is understood."""
    lines = [x for x in open(FORMS).read().split("\n") if x and not x.startswith("#")]
    log = tmp_path / "all.log"
    log.write_text("\n".join(lines) + "\n")
    st = rg("logscan", "--json", "--year", "2026", log).json()["stats"]
    assert st["lines"] == len(lines) and st["unparsed"] == 0


def test_dovecot_passdb_and_login_lines_count_once(tmp_path):
    """The auth process and the login process report the same attempt: a log
    with both counts it once (fail2ban's filter counts both)."""
    one = ["Jun 12 20:02:21 gw dovecot: auth: passwd-file(jose,198.51.100.99,<s%d>): "
           "Password mismatch" % i for i in range(2)]
    one.append("Jun 12 20:02:23 gw dovecot: imap-login: Login aborted: Connection closed "
               "(auth failed, 2 attempts in 14 secs) (auth_failed): user=<jose>, "
               "method=PLAIN, rip=198.51.100.99, lip=192.0.2.1, TLS, session=<s>")
    log = tmp_path / "mail.log"
    log.write_text("\n".join(one * 20) + "\n")
    doc = rg("logscan", "--json", "--year", "2026", log).json()
    bf = [s for s in doc["suspects"] if s["kind"] == "brute_force"]
    assert [s["failures"] for s in bf] == [40]
