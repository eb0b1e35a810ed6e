"""Integration tests for `relayguard bounce`: every corpus file under
tests/data/bounces, the mbox and the Maildir, stdin, and bad paths."""
import collections
import os
import shutil

import pytest

from conftest import DATA, rg

BOUNCES = os.path.join(DATA, "bounces")

# file -> (blocked, list ids, listed_ip, receiver_error, recipient, status)
EXPECT = {
    "postfix-spamhaus-zen.eml": (True, ["zen.spamhaus.org"], "203.0.113.5", False, "bob@example.net", "5.7.1"),
    "postfix-spamhaus-dbl.eml": (True, ["dbl.spamhaus.org"], None, False, "carol@example.org", "5.7.1"),
    "postfix-spamcop.eml": (True, ["bl.spamcop.net"], "203.0.113.5", False, "dave@example.net", "5.7.1"),
    "postfix-barracuda.eml": (True, ["b.barracudacentral.org"], "203.0.113.5", False, "erin@example.org", "5.0.0"),
    "postfix-uceprotect.eml": (True, ["dnsbl-1.uceprotect.net"], "203.0.113.5", False, "frank@example.net", "5.7.1"),
    "exim-barracuda.eml": (True, ["b.barracudacentral.org"], "203.0.113.5", False, "cid@example.org", "5.0.0"),
    "qmail.eml": (True, ["psbl.surriel.com"], "203.0.113.5", False, "bea@example.net", "5.7.1"),
    "sendmail.eml": (True, ["zen.spamhaus.org"], "203.0.113.5", False, "dan@example.net", "5.7.1"),
    "base64-dsn.eml": (True, ["rbl.example.org"], "203.0.113.5", False, "xena@example.org", "5.7.1"),
    "outlook-banned-ip.eml": (True, ["microsoft"], "203.0.113.5", False, "yan@example.com", "5.7.606"),
    "microsoft-banned-sender.eml": (True, ["microsoft"], "203.0.113.5", False, "zoe@example.com", "5.7.511"),
    "outlook-s3140.eml": (True, ["microsoft"], "203.0.113.5", False, "amy@example.com", "5.7.1"),
    "gmail-rate.eml": (True, ["gmail"], "203.0.113.5", False, "grace@example.net", "5.7.1"),
    "yahoo-tss04.eml": (True, ["yahoo"], "203.0.113.5", False, "heidi@example.net", "4.7.0"),
    "yahoo-policy.eml": (True, ["yahoo"], None, False, "ivan@example.net", "5.7.9"),
    "apple.eml": (True, ["apple", "proofpoint"], "203.0.113.5", False, "tom@example.com", "5.7.0"),
    "att.eml": (True, ["att"], "203.0.113.5", False, "judy@example.net", "5.3.0"),
    "comcast.eml": (True, ["comcast"], "203.0.113.5", False, "ken@example.net", "5.7.1"),
    "proofpoint.eml": (True, ["proofpoint"], "203.0.113.5", False, "lena@example.org", "5.0.0"),
    "mimecast.eml": (True, ["mimecast"], None, False, "mike@example.org", "5.0.0"),
    "cloudmark.eml": (True, ["cloudmark"], "203.0.113.5", False, "nina@example.org", "5.7.1"),
    "orange.eml": (True, ["orange", "cloudmark"], "203.0.113.5", False, "olivier@example.fr", "5.0.0"),
    "gmx.eml": (True, ["gmx"], "203.0.113.5", False, "paul@example.de", "5.0.0"),
    "webde.eml": (True, ["web.de"], "203.0.113.5", False, "quinn@example.de", "5.0.0"),
    "mailru.eml": (True, ["mailru"], None, False, "rita@example.ru", "5.0.0"),
    "yandex.eml": (True, ["yandex"], "203.0.113.5", False, "sasha@example.ru", "5.7.1"),
    "user-unknown.eml": (False, [], None, False, "nobody@example.net", "5.1.1"),
    "mailbox-full.eml": (False, [], None, False, "uma@example.net", "5.2.2"),
    "content-rejected.eml": (False, [], None, False, "vera@example.org", "5.7.1"),
    "open-resolver.eml": (False, [], None, True, "walt@example.net", "5.7.1"),
}

REQUIRED_KEYS = {"source", "is_bounce", "blocked", "recipient", "status", "remote_mta",
                 "diagnostic", "listed_ip", "lists", "receiver_error"}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corpus_file(name):
    blocked, ids, ip, rerr, rcpt, status = EXPECT[name]
    path = os.path.join(BOUNCES, name)
    r = rg("bounce", "--json", path)
    assert r.rc == (1 if blocked else 0), r.err
    d = r.json()
    assert len(d["messages"]) == 1
    m = d["messages"][0]
    assert REQUIRED_KEYS <= set(m)
    assert m["source"] == path
    assert m["is_bounce"] is True
    assert m["blocked"] is blocked
    assert [l["id"] for l in m["lists"]] == ids
    assert m["listed_ip"] == ip
    assert m["receiver_error"] is rerr
    assert m["recipient"] == rcpt
    assert m["status"] == status
    assert m["diagnostic"]
    for l in m["lists"]:
        assert set(l) >= {"id", "name", "delist"}
        assert l["name"]
    # The summary counts this one message under each list.
    assert [(s["id"], s["count"]) for s in d["summary"]] == [(i, 1) for i in ids]
    for s in d["summary"]:
        assert s["listed_ips"] == ([ip] if ip else [])


def test_corpus_covers_every_file():
    files = {f for f in os.listdir(BOUNCES) if f.endswith(".eml")}
    assert files - set(EXPECT) == {"not-a-bounce.eml", "delivered-dsn.eml"}


def test_delist_urls():
    d = rg("bounce", "--json", os.path.join(BOUNCES, "postfix-spamcop.eml")).json()
    assert d["messages"][0]["lists"][0] == {
        "id": "bl.spamcop.net", "name": "SpamCop Blocking List",
        "delist": "https://www.spamcop.net/bl.shtml?203.0.113.5"}
    d = rg("bounce", "--json", os.path.join(BOUNCES, "outlook-banned-ip.eml")).json()
    assert d["summary"][0]["delist"] == "https://sender.office.com/"
    d = rg("bounce", "--json", os.path.join(BOUNCES, "base64-dsn.eml")).json()
    assert d["summary"][0] == {"id": "rbl.example.org", "name": "rbl.example.org", "count": 1,
                               "listed_ips": ["203.0.113.5"], "delist": None}


def test_not_bounces():
    for name in ("not-a-bounce.eml", "delivered-dsn.eml"):
        r = rg("bounce", "--json", os.path.join(BOUNCES, name))
        assert r.rc == 0
        m = r.json()["messages"][0]
        assert m["is_bounce"] is False
        assert m["blocked"] is False
        assert m["lists"] == []
        assert r.json()["summary"] == []


def test_mbox():
    r = rg("bounce", "--json", os.path.join(BOUNCES, "bounces.mbox"))
    assert r.rc == 1
    d = r.json()
    srcs = [m["source"] for m in d["messages"]]
    assert srcs == ["mbox:1", "mbox:2", "mbox:3", "mbox:4", "mbox:5"]
    assert [m["blocked"] for m in d["messages"]] == [True, True, True, False, False]
    assert [m["is_bounce"] for m in d["messages"]] == [True, True, True, True, False]
    assert [m["listed_ip"] for m in d["messages"]] == ["203.0.113.5", "203.0.113.6",
                                                       "203.0.113.5", None, None]
    assert d["summary"] == [
        {"id": "zen.spamhaus.org", "name": "Spamhaus ZEN", "count": 2,
         "listed_ips": ["203.0.113.5", "203.0.113.6"],
         "delist": "https://check.spamhaus.org/results/?query=203.0.113.5"},
        {"id": "bl.spamcop.net", "name": "SpamCop Blocking List", "count": 1,
         "listed_ips": ["203.0.113.5"],
         "delist": "https://www.spamcop.net/bl.shtml?203.0.113.5"},
    ]


def test_maildir():
    md = os.path.join(BOUNCES, "maildir")
    r = rg("bounce", "--json", md)
    assert r.rc == 1
    d = r.json()
    srcs = [os.path.relpath(m["source"], md) for m in d["messages"]]
    assert srcs == ["cur/1763889302.M1P100.mail.example.com:2,S",
                    "cur/1763889303.M2P100.mail.example.com:2,S",
                    "new/1763889304.M3P100.mail.example.com"]
    assert [m["blocked"] for m in d["messages"]] == [True, True, False]
    assert [m["receiver_error"] for m in d["messages"]] == [False, False, True]
    assert [(s["id"], s["count"]) for s in d["summary"]] == [("gmail", 1), ("yahoo", 1)]


def test_many_paths_summary():
    r = rg("bounce", "--json", os.path.join(BOUNCES, "bounces.mbox"),
           os.path.join(BOUNCES, "maildir"), os.path.join(BOUNCES, "postfix-spamhaus-zen.eml"),
           os.path.join(BOUNCES, "sendmail.eml"))
    assert r.rc == 1
    d = r.json()
    assert len(d["messages"]) == 10
    zen = [s for s in d["summary"] if s["id"] == "zen.spamhaus.org"][0]
    assert zen["count"] == 4
    assert zen["listed_ips"] == ["203.0.113.5", "203.0.113.6"]


def test_stdin():
    with open(os.path.join(BOUNCES, "att.eml")) as f:
        r = rg("bounce", "--json", "-", stdin=f.read())
    assert r.rc == 1
    m = r.json()["messages"][0]
    assert m["source"] == "stdin"
    assert [l["id"] for l in m["lists"]] == ["att"]
    with open(os.path.join(BOUNCES, "bounces.mbox")) as f:
        r = rg("bounce", "--json", "-", stdin=f.read())
    assert [m["source"] for m in r.json()["messages"]][:2] == ["mbox:1", "mbox:2"]


def test_human_report():
    r = rg("bounce", os.path.join(BOUNCES, "bounces.mbox"), os.path.join(BOUNCES, "maildir"))
    assert r.rc == 1
    out = r.out
    assert out.startswith("8 messages, 7 bounces, 5 refused by a blocklist or provider block, "
                          "1 receiver DNSBL error.\n")
    assert "zen.spamhaus.org                2 bounces  Spamhaus ZEN" in out
    assert "our IPs: 203.0.113.5 203.0.113.6" in out
    assert "delist: https://www.spamcop.net/bl.shtml?203.0.113.5" in out
    assert "mbox:4  bounce  nobody@example.net  5.1.1" in out
    assert "mbox:5  no-bounce" in out
    assert "RCV-ERROR" in out


def test_clean_exit_zero():
    r = rg("bounce", os.path.join(BOUNCES, "user-unknown.eml"),
           os.path.join(BOUNCES, "open-resolver.eml"))
    assert r.rc == 0
    assert r.err == ""


def test_help():
    r = rg("bounce", "--help")
    assert r.rc == 0
    assert r.out.startswith("usage: relayguard bounce [--json] PATH...")
    assert "Exit status:" in r.out


def test_usage_errors():
    r = rg("bounce")
    assert r.rc == 2
    assert r.err.startswith("relayguard: bounce: no PATH given")
    r = rg("bounce", "--frobnicate", "x")
    assert r.rc == 2
    assert r.err.startswith("relayguard: bounce: unknown option '--frobnicate'")


def test_bad_paths(tmp_path):
    r = rg("bounce", "--json", str(tmp_path / "missing.eml"))
    assert r.rc == 2
    assert r.err == "relayguard: bounce: %s: No such file or directory\n" % (tmp_path / "missing.eml")
    assert r.out == ""
    r = rg("bounce", str(tmp_path))
    assert r.rc == 2
    assert r.err.startswith("relayguard: bounce: %s: a directory but not a Maildir" % tmp_path)
    # One unreadable path among readable ones: incomplete (3) when nothing was found ...
    r = rg("bounce", "--json", str(tmp_path / "missing.eml"), os.path.join(BOUNCES, "user-unknown.eml"))
    assert r.rc == 3
    assert "relayguard: bounce: " in r.err
    assert len(r.json()["messages"]) == 1
    # ... and found (1) when a blocklist bounce was found anyway.
    r = rg("bounce", "--json", str(tmp_path / "missing.eml"), os.path.join(BOUNCES, "comcast.eml"))
    assert r.rc == 1


def test_unreadable_maildir_entry(tmp_path):
    md = tmp_path / "Maildir"
    shutil.copytree(os.path.join(BOUNCES, "maildir"), md)
    # A dangling link cannot be read, even by root.
    os.symlink(str(tmp_path / "gone"), str(md / "new" / "1763889305.M4P100.mail.example.com"))
    r = rg("bounce", "--json", str(md))
    assert r.rc == 1
    assert r.err == "relayguard: bounce: %s: 1 message file could not be read\n" % md
    assert len(r.json()["messages"]) == 3
    # Nothing found and an entry unreadable: incomplete.
    os.unlink(str(md / "cur" / "1763889302.M1P100.mail.example.com:2,S"))
    os.unlink(str(md / "cur" / "1763889303.M2P100.mail.example.com:2,S"))
    assert rg("bounce", str(md)).rc == 3


def test_hostile_inputs(tmp_path):
    cases = {
        "empty.eml": b"",
        "nul.eml": b"\0" * 1000,
        "deep.eml": b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
                             for i in range(200)),
        "hdr.eml": b"Subject: " + b"x" * 100000 + b"\n" + b" folded\n" * 10000 + b"\n",
        "b64.eml": (b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\n\n"
                    b"--z\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
                    + b"!!!!====" * 1000 + b"\n--z--\n"),
        "mbox": b"From x\n\nFrom y\n\n\n>From\nFrom z",
    }
    paths = []
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        paths.append(str(p))
    r = rg("bounce", "--json", *paths)
    assert r.rc == 0, r.err
    assert all(m["blocked"] is False for m in r.json()["messages"])


# file -> reason class (docs/bounce.md, "Reason classes")
REASONS = {
    "postfix-spamhaus-zen.eml": "blocked",
    "outlook-banned-ip.eml": "blocked",
    "gmx.eml": "blocked",
    "user-unknown.eml": "user_unknown",
    "mailbox-full.eml": "mailbox_full",
    "content-rejected.eml": "spam_detected",
    "open-resolver.eml": "system_error",
}


def test_reasons():
    paths = [os.path.join(BOUNCES, n) for n in sorted(REASONS)]
    d = rg("bounce", "--json", *paths).json()
    got = {os.path.basename(m["source"]): m for m in d["messages"]}
    for name, reason in REASONS.items():
        m = got[name]
        assert m["reason"] == reason, (name, m)
        assert m["blocked"] == (reason == "blocked")
        assert m["reason_detail"]
        assert m["forwarded"] is False
    assert got["user-unknown.eml"]["stage"] == "rcpt"
    assert d["reasons"] == dict(collections.Counter(REASONS.values()))
    # a message that is not a bounce has no reason
    r = rg("bounce", "--json", os.path.join(BOUNCES, "not-a-bounce.eml")).json()
    assert r["messages"][0]["reason"] is None
    assert r["reasons"] == {}


GERMAN = """From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender

<ute@example.de>: host mx.example.de[192.0.2.8] said: 550 5.7.0 Zugang
    verweigert: Absender-Server gesperrt (in reply to RCPT TO command)
"""


def test_rules_option(tmp_path):
    """A phrase is added with data: --rules replaces the built-in rules."""
    msg = tmp_path / "de.eml"
    msg.write_text(GERMAN)
    r = rg("bounce", "--json", str(msg))
    assert r.rc == 0
    assert r.json()["messages"][0]["blocked"] is False
    rules = tmp_path / "rules.conf"
    rules.write_text("[reason blocked]\ndetail = German: sender IP barred\npriority = 80\n"
                     "match = absender-server * gesperrt\n"
                     "[provider example-de]\nname = Example.de block list\n"
                     "host = example.de\n")
    r = rg("bounce", "--json", "--rules", str(rules), str(msg))
    assert r.rc == 1, r.err
    m = r.json()["messages"][0]
    assert m["blocked"] is True and m["reason"] == "blocked"
    assert m["reason_detail"] == "German: sender IP barred"
    assert m["listed_ip"] is None
    assert [x["id"] for x in m["lists"]] == ["example-de"]
    bad = tmp_path / "bad.conf"
    bad.write_text("[reason blocked]\nmatch = ok\nwhat = 1\n")
    r = rg("bounce", "--rules", str(bad), str(msg))
    assert r.rc == 2
    assert "bad.conf:3: unknown key" in r.err
    r = rg("bounce", "--rules", str(tmp_path / "missing.conf"), str(msg))
    assert r.rc == 2 and "missing.conf" in r.err
