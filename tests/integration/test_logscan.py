"""relayguard logscan on the generated corpus (tests/data/gen_logs.py): the
planted incidents are named exactly, and nothing else, among heavy
legitimate traffic; plain, gzip and standard input; year inference; options.
"""
import datetime
import gzip
import json
import os
import subprocess
import sys

import pytest

from conftest import DATA, RG_BIN, rg

GEN = os.path.join(DATA, "gen_logs.py")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("logscan")
    subprocess.run([sys.executable, GEN, "corpus", str(d), "--seed", "2026"], check=True,
                   timeout=120)
    with open(d / "expected.json") as f:
        exp = json.load(f)
    return d, exp


def ident(s):
    for k in ("account", "client_ip", "host"):
        if k in s:
            return s[k]
    return None


def check_exact(got, expected):
    """Same suspects (kind and who), and every number the generator planted."""
    assert sorted((s["kind"], ident(s)) for s in got) == \
        sorted((e["kind"], ident(e)) for e in expected)
    for e in expected:
        s = next(x for x in got if x["kind"] == e["kind"] and ident(x) == ident(e))
        for k, v in e.items():
            assert s[k] == v, (e, s)
        assert s["evidence"] and s["todo"] and s["first_seen"]


def scan(*args, **kw):
    r = rg("logscan", "--json", *args, **kw)
    assert r.rc in (0, 1), r.err
    return r


def test_planted_incidents_exact(corpus):
    d, exp = corpus
    r = scan("--year", "2026", d / "mail.log", d / "kern.log")
    assert r.rc == 1
    doc = r.json()
    check_exact(doc["suspects"], exp["mail.log+kern.log"])
    st = doc["stats"]
    assert st["lines"] == st["parsed"] + st["unparsed"]
    assert st["unparsed"] == 70  # systemd and usb lines
    assert st["by_format"]["postfix"] > 100000 and st["by_format"]["dovecot"] > 1000
    assert st["by_format"]["netfilter"] == 3003
    assert st["messages"] > 14000
    assert st["queue_ids_dropped"] == 0 and 0 < st["queue_ids_peak"] < 1000


def test_details_of_the_guessed_password(corpus):
    d, _ = corpus
    doc = scan("--year", "2026", d / "mail.log").json()
    acct = next(s for s in doc["suspects"] if s.get("account") == "test@example.com")
    assert acct["first_seen"].startswith("2026-12-30T22:")
    assert acct["blocked_at"] is not None and acct["blocked_at"] >= acct["first_seen"]
    assert any("login success after 14 failures from 198.51.100.23" in e
               for e in acct["evidence"])
    assert acct["login_ips"] == ["198.51.100.23", "198.51.100.24", "198.51.100.25"]
    maria = next(s for s in doc["suspects"] if s.get("account") == "maria@example.com")
    assert maria["login_ips_total"] >= 25
    assert any("networks" in e for e in maria["evidence"])
    bs = next(s for s in doc["suspects"] if s["kind"] == "backscatter")
    assert bs["caused_by"] and all(ip.startswith("198.19.7.") for ip in bs["caused_by"])


def test_exim_mainlog_exact(corpus):
    d, exp = corpus
    r = scan(d / "exim_mainlog")
    assert r.rc == 1
    doc = r.json()
    check_exact(doc["suspects"], exp["exim_mainlog"])
    assert doc["stats"]["unparsed"] == 0 and doc["stats"]["by_format"]["exim"] > 15000


def test_legitimate_traffic_alone_names_nobody(corpus, tmp_path):
    """A day and a half of traffic before the first incident: no suspect."""
    d, _ = corpus
    keep = []
    with open(d / "mail.log") as f:
        for line in f:
            if line.startswith("Dec 30 2"):  # 20:00 onwards
                break
            keep.append(line)
    p = tmp_path / "legit.log"
    p.write_text("".join(keep))
    r = scan("--year", "2026", p)
    assert r.rc == 0, r.out
    assert r.json()["suspects"] == []
    assert r.json()["stats"]["messages"] > 3000


def test_gzip_and_stdin(corpus, tmp_path):
    d, exp = corpus
    gz = tmp_path / "mail.log.gz"
    with open(d / "mail.log", "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    a = scan("--year", "2026", gz, d / "kern.log").json()
    check_exact(a["suspects"], exp["mail.log+kern.log"])
    with open(gz, "rb") as f:
        p = subprocess.run([RG_BIN, "logscan", "--json", "--year", "2026", "-"], stdin=f,
                           capture_output=True, timeout=120)
    assert p.returncode == 1, p.stderr
    b = json.loads(p.stdout)
    assert sorted((s["kind"], ident(s)) for s in b["suspects"]) == \
        sorted((s["kind"], ident(s)) for s in a["suspects"] if s["kind"] != "direct_smtp")


def test_year_inferred_from_mtime(corpus, tmp_path):
    """Classic stamps have no year: the file's mtime (2027-01-01) says the log
    began in December 2026 and crossed into 2027."""
    d, _ = corpus
    p = tmp_path / "mail.log"
    p.write_bytes((d / "mail.log").read_bytes())
    t = datetime.datetime(2027, 1, 1, 12, tzinfo=datetime.timezone.utc).timestamp()
    os.utime(p, (t, t))
    doc = scan(p).json()
    assert doc["stats"]["first"].startswith("2026-12-30T")
    assert doc["stats"]["last"].startswith("2027-01-01T")
    assert doc["stats"]["out_of_order"] == 0


def test_human_report_says_who_and_what_to_do(corpus):
    d, _ = corpus
    r = rg("logscan", "--year", "2026", d / "mail.log", d / "kern.log")
    assert r.rc == 1
    out = r.out
    assert "8 suspects" in out
    assert "COMPROMISED ACCOUNT test@example.com" in out
    assert "change the password of test@example.com" in out
    assert "BRUTE FORCE 203.0.113.77" in out and "block 203.0.113.77" in out
    assert "disinfect the machine at 10.0.5.57" in out
    assert "OPEN RELAY ABUSE 203.0.113.150" in out
    assert "AUTOREPLY FLOOD bob@example.com" in out
    assert "BACKSCATTER" in out
    # a guessed password comes first (issue 17), then the compromised accounts,
    # then the brute force that never got in
    assert out.index("1. BRUTE FORCE 198.51.100.23") < out.index("COMPROMISED ACCOUNT") < \
        out.index("BRUTE FORCE 203.0.113.77")


def test_options_since_local_networks_format(corpus):
    d, _ = corpus
    doc = scan("--year", "2026", "--since", "2026-12-31", d / "mail.log").json()
    accts = {s.get("account") for s in doc["suspects"]}
    assert "maria@example.com" in accts and "test@example.com" not in accts
    assert doc["stats"]["outside_time_range"] > 0
    doc = scan("--year", "2026", "--until", "2026-12-30T22:00:00Z", d / "mail.log").json()
    assert doc["suspects"] == []
    doc = scan("--year", "2026", "--local-networks", "10.0.0.0/8,203.0.113.0/24",
               d / "mail.log").json()
    assert "open_relay_abuse" not in {s["kind"] for s in doc["suspects"]}
    r = scan("--format", "exim", "--year", "2026", d / "mail.log")
    assert r.rc == 0 and r.json()["stats"]["parsed"] == 0


def test_config_changes_the_policy(corpus, tmp_path):
    d, _ = corpus
    conf = tmp_path / "policy.conf"
    conf.write_text("[auth]\nip_failures = 100000\n")
    doc = scan("--year", "2026", "--config", conf, d / "mail.log").json()
    assert "203.0.113.77" not in {s.get("client_ip") for s in doc["suspects"]}
    conf.write_text("[auth]\nno_such_option = 1\n")
    r = rg("logscan", "--config", conf, d / "mail.log")
    assert r.rc == 2 and r.err.startswith("relayguard: logscan: ")


def test_unknown_and_hostile_lines_are_counted(tmp_path):
    p = tmp_path / "junk.log"
    p.write_bytes(b"hello\n\x00\xff\xfe binary\n" + b"x" * 100000 + b"\n"
                  b"Dec 31 10:00:00 mx postfix/smtpd[1]: \n"
                  b"Dec 31 10:00:00 mx postfix/qmgr[1]: ABCDEF1234: from=<\n"
                  b"2026-12-31 10:00:00 1ajLoq-0001wC-Pk <= \n"
                  b"no newline at the end")
    r = scan(p)
    assert r.rc == 0
    st = r.json()["stats"]
    assert st["lines"] == 7 and st["too_long"] == 1
    assert st["unparsed"] == 4


def test_errors_and_help(tmp_path):
    r = rg("logscan", "--help")
    assert r.rc == 0 and "compromised_account" in r.out and "--local-networks" in r.out
    r = rg("logscan")
    assert r.rc == 2 and r.err.startswith("relayguard: logscan: ")
    r = rg("logscan", "--format", "sendmail", "x")
    assert r.rc == 2 and "--format" in r.err
    r = rg("logscan", "--since", "yesterday", "x")
    assert r.rc == 2
    r = rg("logscan", tmp_path / "missing.log")
    assert r.rc == 2 and "missing.log" in r.err
    ok = tmp_path / "empty.log"
    ok.write_text("")
    r = rg("logscan", tmp_path / "missing.log", ok)
    assert r.rc == 3


def test_bench_smoke():
    """bench/logscan.sh on a small file: both tools run and the last line is the ratio."""
    root = os.path.dirname(DATA.rstrip("/"))
    root = os.path.dirname(root)
    if not os.path.exists("/usr/sbin/pflogsumm"):
        pytest.skip("pflogsumm is not installed")
    p = subprocess.run([os.path.join(root, "bench", "logscan.sh"), "5"], capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, RG_BIN=RG_BIN, RUNS="1"))
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("speedup: ") and float(last.split()[1]) > 0
    assert "pflogsumm:" in p.stdout and "relayguard:" in p.stdout


def test_relayguard_delivery_log(tmp_path):
    """relayguard's own delivery log (docs/delivery.md): an account sending from
    twelve IPs in five networks, half its recipients bounced, is compromised."""
    nets = ["192.0.2.%d", "198.51.100.%d", "203.0.113.%d", "198.18.4.%d", "198.19.4.%d"]
    out = []
    for i in range(300):
        t = "2026-11-23T%02d:%02d:%02dZ" % (10 + i // 120, (i // 2) % 60, (i % 2) * 30)
        ip = nets[i % 5] % (10 + i % 12)
        q = "01A1EE565E%06X" % i
        for k in range(2):
            st, dsn = ("bounced", "5.1.1") if (i + k) % 2 else ("sent", "2.0.0")
            out.append('%s relayguard[info]: delivery id=%s event=rcpt rcpt=<r%d.%d@far.example> '
                       'from=<ops@gw.example> user=ops@gw.example client=%s '
                       'relay=mx.far.example[192.0.2.250]:25 tls=TLSv1.3 attempt=1 delay=0.2 '
                       'status=%s dsn=%s reply="%s"' % (t, q, i, k, ip, st, dsn,
                                                          "550 5.1.1 User unknown"
                                                          if st == "bounced" else "250 ok"))
        out.append("%s relayguard[info]: delivery id=%s event=done from=<ops@gw.example> "
                   "size=2000 nrcpt=2 sent=1 bounced=1 deferred=0 attempt=1" % (t, q))
    p = tmp_path / "relayguard.log"
    p.write_text("\n".join(out) + "\n")
    r = scan("--format", "relayguard", p)
    assert r.rc == 1, r.out
    doc = r.json()
    assert [(s["kind"], ident(s)) for s in doc["suspects"]] == \
        [("compromised_account", "ops@gw.example")]
    assert doc["stats"]["by_format"]["relayguard"] == 900
    assert doc["stats"]["messages"] == 300


def week_with_guessed_password(path):
    """A week of Postfix logs (classic stamps, December 2026): ten users send
    mail every day from their own IPs; on day 4 a bot fails 800 logins from
    203.0.113.66 (Postfix before 3.9: the failure names no account), then logs
    in as sales@ from that same IP and sends 40 messages. Returns what the
    log shows: the success's time and the messages sales@ sent from then on."""
    import random
    r = random.Random(17)
    lines = []
    base = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    pid = [1000]

    def add(t, daemon, text):
        pid[0] += 1
        ts = base + datetime.timedelta(seconds=t)
        lines.append((t, "%s %2d %s mx postfix/%s[%d]: %s" % (
            ts.strftime("%b"), ts.day, ts.strftime("%H:%M:%S"), daemon, pid[0], text)))

    qn = [0]

    def message(t, ip, user, n_rcpt=1):
        qn[0] += 1
        q = "%010X" % (0xA00000 + qn[0])
        add(t, "submission/smtpd", "%s: client=host[%s], sasl_method=PLAIN, "
            "sasl_username=%s" % (q, ip, user))
        add(t + 0.2, "qmgr", "%s: from=<%s>, size=2000, nrcpt=%d (queue active)" %
            (q, user, n_rcpt))
        for i in range(n_rcpt):
            add(t + 0.5, "smtp", "%s: to=<p%d@partner.example>, relay=mx.partner.example"
                "[192.0.2.40]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent "
                "(250 2.0.0 Ok)" % (q, i))
        add(t + 1, "qmgr", "%s: removed" % q)

    users = ["u%d@example.com" % i for i in range(9)] + ["sales@example.com"]
    sales_times = []
    for day in range(7):
        for k, u in enumerate(users):
            for j in range(4):
                t = day * 86400 + 8 * 3600 + k * 300 + j * 7000 + r.randint(0, 200)
                message(t, "198.51.100.%d" % (10 + k), u)
                if u.startswith("sales@"):
                    sales_times.append(t)
    bot = "203.0.113.66"
    t = 3 * 86400 + 2 * 3600
    for i in range(800):
        add(t + i * 20, "submission/smtpd", "warning: unknown[%s]: SASL LOGIN authentication "
            "failed: UGFzc3dvcmQ6" % bot)
    success = t + 800 * 20 + 30
    for i in range(40):
        message(success + i * 60, bot, "sales@example.com", n_rcpt=3)
        sales_times.append(success + i * 60)
    lines.sort(key=lambda x: x[0])
    path.write_text("\n".join(x[1] for x in lines) + "\n")
    after = sum(1 for x in sales_times if x >= success)
    ts = (base + datetime.timedelta(seconds=success)).strftime("%Y-%m-%dT%H:%M:%S")
    return bot, ts, after


def test_brute_force_then_success_is_the_top_finding(tmp_path):
    """Facts first, then the replay (issue 17): the policy would have locked
    the bot out before it got in, yet the log shows the login as sales@:
    that is named, with its time and the failures before it, apart from
    what the policy would have done, and it comes first."""
    log = tmp_path / "mail.log"
    bot, success, after = week_with_guessed_password(log)
    doc = scan("--year", "2026", log).json()
    top = doc["suspects"][0]
    assert top["kind"] == "brute_force" and top["client_ip"] == bot, doc["suspects"]
    assert top["failures"] == 800
    assert top["succeeded"] == ["sales@example.com"]
    assert len(top["logins"]) == 1
    g = top["logins"][0]
    assert g["account"] == "sales@example.com"
    assert g["first_success"].startswith(success)
    assert g["failures_before"] == 800
    assert g["messages_after"] == after
    pw = top["policy_would"]
    assert pw["verdict"] == "block" and pw["rule"] == "auth_ip_lockout"
    assert pw["at"] == top["blocked_at"] and pw["at"] < g["first_success"]
    assert "sales@example.com" in top["todo"] and "no login" not in top["todo"]
    assert any("after 800 failures" in e for e in top["evidence"])
    # the human report says it first, with the account to reset
    out = rg("logscan", "--year", "2026", log).out
    first = out.split("\n1. ", 1)[1].split("\n2. ", 1)[0]
    assert first.startswith("BRUTE FORCE %s" % bot) and "sales@example.com" in first
