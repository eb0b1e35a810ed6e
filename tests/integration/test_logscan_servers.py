"""relayguard logscan on the logs of the Windows mail servers of the articles
(issue 17, item 4): Microsoft Exchange, MailEnable and Kerio Connect. One
scenario (tests/data/gen_srvlogs.py) written in each server's own formats
(tests/data/<server>/README.md): the same incidents come out of each, and
nobody else is named. MailSite: tests/data/mailsite/README.md.
"""
import glob
import gzip
import os
import subprocess
import sys

import pytest

from conftest import DATA, rg

GEN = os.path.join(DATA, "gen_srvlogs.py")
LEGIT = {"anna", "ben", "carl", "dora", "emil", "fay", "gus", "hana"}


def ident(s):
    for k in ("account", "client_ip", "host"):
        if k in s:
            return s[k]
    return None


def files(server):
    d = os.path.join(DATA, server)
    if server == "exchange":
        # each day's protocol log before its tracking log: the tracking log's
        # source-context names the protocol log's session that authenticated
        out = []
        for day in ("20261201", "20261202", "20261203"):
            out += [os.path.join(d, "RECV%s-1.LOG.gz" % day),
                    os.path.join(d, "MSGTRK%s-1.LOG.gz" % day)]
        return out
    if server == "kerio":
        return [os.path.join(d, "security.log.gz"), os.path.join(d, "mail.log.gz")]
    return sorted(glob.glob(os.path.join(d, "SMTP-Activity-*.log.gz")))


def scan(*args):
    r = rg("logscan", "--json", *args)
    assert r.rc in (0, 1), r.err
    return r


def check_incidents(doc, server, flood_kind, merged=True):
    sus = doc["suspects"]
    kinds = sorted((s["kind"], ident(s)) for s in sus)
    # 1. the guessed password: the bot's IP, the account it got into, first of all
    top = sus[0]
    assert top["kind"] == "brute_force" and top["client_ip"] == "203.0.113.66", kinds
    assert top["failures"] == 150
    assert top["succeeded"] == ["sales@corp.example"]
    g = top["logins"][0]
    assert g["account"] == "sales@corp.example" and g["failures_before"] == 150
    assert g["first_success"].startswith("2026-12-02T01:39:30")
    # the bot's 20, and the 6 sales@ sent from home (authenticated) on days 2 and 3
    assert g["messages_after"] == 26
    assert "sales@corp.example" in top["todo"]
    # 2. the compromised account
    maria = [s for s in sus if s["kind"] == "compromised_account"
             and s["account"] == "maria@corp.example"]
    assert len(maria) == 1, kinds
    assert maria[0]["messages"] >= 300 and maria[0]["login_ips_total"] >= 15
    if merged:  # the lines' own times: the burst started at 14:00 on day 2
        assert maria[0]["first_seen"].startswith("2026-12-02T14:0"), maria
    # 3. the open relay
    relay = [s for s in sus if s["kind"] == "open_relay_abuse"]
    assert [ident(s) for s in relay] == ["203.0.113.150"], kinds
    assert relay[0]["messages"] == 80 and relay[0]["recipients"] == 160
    if merged:
        assert relay[0]["first_seen"].startswith("2026-12-02T20:00"), relay
    # 4. the auto-reply flood
    flood = [s for s in sus if s["kind"] == flood_kind]
    assert len(flood) == 1, kinds
    if flood_kind == "autoreply_flood":
        assert flood[0]["account"] == "bob@corp.example" and flood[0]["messages"] == 150
    else:
        assert flood[0]["messages"] == 150
    # nobody else: not the people who mistyped a password, not the LAN
    for s in sus:
        who = ident(s) or ""
        assert who.split("@")[0] not in LEGIT, s
        assert not who.startswith("10.") and not who.startswith("198.51.100.1"), s
    st = doc["stats"]
    assert st["lines"] == st["parsed"] and st["unparsed"] == 0
    if merged:
        assert st["out_of_order"] == 0
    assert st["by_format"][server] == st["lines"]
    assert st["first"].startswith("2026-12-01") and st["last"].startswith("2026-12-03")


@pytest.mark.parametrize("server,flood", [("exchange", "autoreply_flood"),
                                          # the activity log names no account for an
                                          # auto-response: null-sender replies to forged
                                          # senders are backscatter there
                                          ("mailenable", "backscatter"),
                                          ("kerio", "autoreply_flood")])
def test_incidents_merged(server, flood):
    """--merge: the server's logs interleaved by time (any order given)."""
    names = sorted(files(server), key=os.path.basename, reverse=True)
    r = scan("--merge", *names)
    assert r.rc == 1
    check_incidents(r.json(), server, flood)


@pytest.mark.parametrize("server,flood", [("exchange", "autoreply_flood"),
                                          ("mailenable", "backscatter"),
                                          ("kerio", "autoreply_flood")])
def test_incidents_one_file_after_the_other(server, flood):
    """Without --merge, in the documented order: the same suspects (a second
    file's older lines are decided at the newest time seen)."""
    r = scan(*files(server))
    assert r.rc == 1
    check_incidents(r.json(), server, flood, merged=False)


@pytest.mark.parametrize("server,fmt", [("exchange", "exchange"), ("mailenable", "mailenable"),
                                        ("kerio", "kerio")])
def test_format_option(server, fmt):
    """--format SERVER reads it; another format leaves every line unparsed."""
    doc = scan("--format", fmt, *files(server)).json()
    assert doc["stats"]["by_format"][fmt] == doc["stats"]["lines"]
    other = "postfix" if fmt != "postfix" else "exim"
    doc = scan("--format", other, *files(server)).json()
    assert doc["suspects"] == [] and doc["stats"]["parsed"] == 0


def test_sample_sets_are_the_generators_output(tmp_path):
    """The committed sample sets are what gen_srvlogs.py writes (deterministic)."""
    subprocess.run([sys.executable, GEN, str(tmp_path)], check=True, timeout=120)
    for server in ("exchange", "mailenable", "kerio"):
        names = sorted(os.listdir(os.path.join(DATA, server)))
        made = sorted(os.listdir(tmp_path / server))
        assert [n for n in names if n.endswith(".gz")] == made
        for n in made:
            with gzip.open(tmp_path / server / n) as a, \
                    gzip.open(os.path.join(DATA, server, n)) as b:
                assert a.read() == b.read(), n


def test_exchange_header_versions_and_quoting(tmp_path):
    """Columns are found by the #Fields: line (2010 and 2016 headers differ), a
    quoted field may hold commas and doubled quotes, a file may start with a
    byte-order mark and lines may end in CRLF."""
    f16 = ("date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
           "connector-id,source,event-id,internal-message-id,message-id,network-message-id,"
           "recipient-address,recipient-status,total-bytes,recipient-count,"
           "related-recipient-address,reference,message-subject,sender-address,return-path,"
           "message-info,directionality,tenant-id,original-client-ip,original-server-ip,"
           "custom-data,transport-traffic-type,log-id,schema-version")
    lines = ["\ufeff#Software: Microsoft Exchange Server", "#Version: 15.01.2507.006",
             "#Log-type: Message Tracking Log", "#Date: 2026-11-02T10:00:00.000Z",
             "#Fields: " + f16]
    for i in range(5):
        t = "2026-11-02T10:%02d:00.000Z" % i
        lines.append(('%s,203.0.113.9,bad.example,10.0.0.6,EX02,08DE0000000%d;%s;0,'
                      'EX02\\Default Frontend EX02,SMTP,RECEIVE,%d,<m%d@bad.example>,'
                      'a1b2c3d4-0000-0000-0000-00000000000%d,a%d@far.example;b%d@far.example,,'
                      '2000,2,,,"Hello, ""friend""",x@bad.example,x@bad.example,,Incoming,,'
                      '203.0.113.9,,,Email,b00e0000-0000-0000-0000-00000000000%d,'
                      '15.01.2507.006') % (t, i, t, 900 + i, i, i, i, i, i))
        lines.append(('%s,,,192.0.2.40,mx.far.example,08DE000000FF;250 2.6.0,Internet,SMTP,'
                      'SEND,%d,<m%d@bad.example>,a1b2c3d4-0000-0000-0000-00000000000%d,'
                      'a%d@far.example;b%d@far.example,250 2.1.5 OK;250 2.1.5 OK,2000,2,,,'
                      '"Hello, ""friend""",x@bad.example,x@bad.example,,Incoming,,,,,Email,'
                      'b00e0000-0000-0000-0000-0000000000a%d,15.01.2507.006')
                     % (t, 900 + i, i, i, i, i, i))
    p = tmp_path / "MSGTRK2026110210-1.LOG"
    p.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    doc = scan(p).json()
    assert [(s["kind"], ident(s), s["messages"], s["recipients"]) for s in doc["suspects"]] == \
        [("open_relay_abuse", "203.0.113.9", 5, 10)]
    assert doc["stats"]["parsed"] == doc["stats"]["lines"] == 15


def test_malformed_lines_are_counted_not_fatal(tmp_path):
    p = tmp_path / "mixed.log"
    p.write_bytes(b"[02/Dec/2026 01:00:00] Failed SMTP login from\n"
                  b"[99/Foo/2026 25:00:00] Recv: Queue-ID: ,\n"
                  b"[02/Dec/2026 01:00:01] Recv: Queue-ID: x, From: <, To: ,,,, Size: -1\n"
                  b"[02/Dec/2026 01:00:02] Sent: Queue-ID: y, Recipient: <>\n"
                  b"12/02/26 01:00:00\tSMTP-IN\t\n"
                  b"\xff\xfe#Fields: ,,,\n")
    r = scan(p)
    st = r.json()["stats"]
    assert st["lines"] == 6 and st["lines"] == st["parsed"] + st["unparsed"]


def test_a_server_file_may_hold_other_lines(tmp_path):
    """A file found to be Kerio's still reads a Postfix line in it (and the
    other way round): a file's format is not a promise about every line."""
    p = tmp_path / "mixed.log"
    p.write_text("[02/Dec/2026 01:00:00] Failed SMTP login from 203.0.113.9 with SASL method "
                 "LOGIN.\n"
                 "Dec  2 01:00:01 mx postfix/smtpd[7]: warning: unknown[203.0.113.9]: SASL LOGIN "
                 "authentication failed: UGFzc3dvcmQ6\n"
                 "[02/Dec/2026 01:00:02] Failed SMTP login from 203.0.113.9 with SASL method LOGIN.\n"
                 "12/02/26 01:00:03\tSMTP-IN\tA.MAI\t1\t203.0.113.9\tAUTH\t{blank}\t535 no\t1\t1\tx\n")
    st = scan("--year", "2026", p).json()["stats"]
    assert st["by_format"]["kerio"] == 2 and st["by_format"]["postfix"] == 1
    assert st["unparsed"] == 1  # a MailEnable line in a Kerio file is not taken for one
