"""Integration tests for `relayguard trace` (CLI.md "trace").

Each corpus message under tests/data/received/ is traced by the real binary;
the assertions pin the origin, the authentication of the origin hop and the
trust marks, with and without --trusted.
"""
import json
import os
import subprocess

import pytest

from conftest import DATA, RG_BIN

CORPUS = os.path.join(DATA, "received")


def path(name):
    return os.path.join(CORPUS, name)


def trace_json(run_rg, name, *opts):
    r = run_rg("trace", "--json", *opts, path(name))
    assert r.rc == 0, r.err
    assert r.err == ""
    return r.json()


# name, --trusted (or None), origin_ip, origin_host, authenticated, auth_user
CASES = [
    ("postfix.eml", None, "203.0.113.5", "mail.example.net", False, None),
    ("auth_submission.eml", None, "198.51.100.10", "mail.example.com", False, None),
    ("auth_submission.eml", "198.51.100.0/24", "203.0.113.66", "pc1", True, None),
    ("postfix_auth_header.eml", "198.51.100.10", "203.0.113.66", "client.example.net", True, "sam"),
    ("exim.eml", None, "198.51.100.10", "mail.example.com", False, None),
    ("exim.eml", "198.51.100.10", "203.0.113.77", "[192.168.1.20]", True, None),
    ("sendmail.eml", None, "203.0.113.31", "gandalf.example.net", True, None),
    ("exchange.eml", None, "2001:db8:10::6", "EXCH02.corp.example.com", False, None),
    ("exchange.eml", "2001:db8:10::/48", "fd00:10::5", "EXCH01.corp.example.com", False, None),
    ("gmail.eml", None, "198.51.100.41", "mail-sor-f41.gmail.example.net", False, None),
    ("gmail.eml", "198.51.100.41", "2001:db8:65a0:ab60:309e:e758:a2c9:d68c", "localhost", True, None),
    ("qmail.eml", None, "203.0.113.88", "client.example.net", True, "sam"),
    ("opensmtpd.eml", None, "203.0.113.9", "host-203-0-113-9.example.net", True, "sam"),
    ("relayguard.eml", None, "198.51.100.10", "mail.example.com", False, None),
    ("relayguard.eml", "198.51.100.10", "203.0.113.66", "client.example.net", True, "sam"),
    ("forged.eml", None, "203.0.113.200", "bot.example.net", False, None),
    ("forged.eml", "198.51.100.0/24", "203.0.113.200", "bot.example.net", False, None),
    ("all_trusted.eml", None, "172.16.5.17", "ws17.example.com", False, None),
    ("ipv6.eml", None, "2001:db8::25", "mail6.example.net", False, None),
    ("ipv6.eml", "2001:db8::25/128", "2001:db8:1::7", "[IPv6:2001:db8:1::7]", True,
     "dana@example.net"),
    ("mbox_crlf.eml", None, "203.0.113.50", "mail.example.net", False, None),
]


@pytest.mark.parametrize("name,trusted,ip,host,auth,user", CASES,
                         ids=["%s-%s" % (c[0], c[1] or "default") for c in CASES])
def test_origin(run_rg, name, trusted, ip, host, auth, user):
    opts = ["--trusted", trusted] if trusted else []
    d = trace_json(run_rg, name, *opts)
    assert d["origin_ip"] == ip
    assert d["origin_host"] == host
    assert d["authenticated"] is auth
    assert d["auth_user"] == user
    # Contract fields of every hop.
    for h in d["hops"]:
        for k in ("from_host", "from_ip", "by_host", "with", "id", "date", "authenticated",
                  "trusted"):
            assert k in h
    assert "message_id" in d and "x_originating_ip" in d
    o = d["origin_hop"]
    assert d["hops"][o]["from_ip"] == ip
    assert d["hops"][o]["believed"] is True
    everything_trusted = name == "all_trusted.eml" or (name, trusted) == (
        "exchange.eml", "2001:db8:10::/48")
    assert d["hops"][o]["trusted"] is everything_trusted
    for h in d["hops"][:o]:
        assert h["believed"] is True
    for h in d["hops"][o + 1:]:
        # Below an untrusted origin nothing is believed; in an all-trusted chain
        # only address-less hops (Exchange's mapi) can sit below the origin.
        assert h["believed"] is everything_trusted
        if not everything_trusted:
            assert h["trusted"] is False


def test_forged_hops_not_believed(run_rg):
    d = trace_json(run_rg, "forged.eml")
    assert [h["believed"] for h in d["hops"]] == [True, False, False]
    # The forged hop claims authentication; it must not leak into the origin.
    assert d["hops"][1]["authenticated"] is True
    assert d["hops"][1]["auth_user"] == "ceo"
    assert d["authenticated"] is False
    assert d["message_id"] == "<forged-1@example.com>"


def test_hop_fields_postfix(run_rg):
    d = trace_json(run_rg, "postfix.eml")
    h = d["hops"][0]
    assert h["from_host"] == "mail.example.net"
    assert h["from_rdns"] == "mail.example.net"
    assert h["from_ip"] == "203.0.113.5"
    assert h["by_host"] == "mx.example.org"
    assert h["with"] == "ESMTPS"
    assert h["id"] == "4Nk2mB0xYzz9sQ"
    assert h["for"] == "bob@example.org"
    assert h["date"] == "2026-11-23T08:14:07Z"
    assert d["x_originating_ip"] is None
    ar = d["authentication_results"]
    assert ar[0]["authserv_id"] == "mx.example.org"
    assert [(m["method"], m["result"]) for m in ar[0]["results"]] == [
        ("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass")]


def test_exchange_fields(run_rg):
    d = trace_json(run_rg, "exchange.eml")
    assert d["x_originating_ip"] == "198.51.100.77"
    assert d["hops"][0]["with"] == "Microsoft SMTP Server"
    assert d["hops"][0]["id"] == "15.1.2507.39"
    assert d["hops"][2]["with"] == "mapi"
    assert d["hops"][2]["from_ip"] is None


def test_all_trusted(run_rg):
    d = trace_json(run_rg, "all_trusted.eml")
    assert [h["trusted"] for h in d["hops"]] == [True, True, True]
    assert d["origin_hop"] == 2


def test_local_submission(run_rg):
    d = trace_json(run_rg, "qmail_local.eml", "--trusted", "198.51.100.10")
    assert d["origin_ip"] is None
    assert d["origin_local"] is True
    assert d["origin_uid"] == "1001"
    assert d["origin_hop"] == 1
    d = trace_json(run_rg, "qmail_local.eml")
    assert d["origin_ip"] == "198.51.100.10"
    assert d["origin_local"] is False


def test_trusted_repeatable_and_lists(run_rg):
    d = trace_json(run_rg, "relayguard.eml", "--trusted", "192.0.2.0/24",
                   "--trusted", "2001:db8::/32, 198.51.100.10")
    assert d["origin_ip"] == "203.0.113.66"
    assert d["auth_user"] == "sam"


def test_stdin(run_rg):
    with open(path("postfix_auth_header.eml")) as f:
        text = f.read()
    r = run_rg("trace", "--json", "--trusted", "198.51.100.10", "-", stdin=text)
    assert r.rc == 0, r.err
    d = r.json()
    assert d["origin_ip"] == "203.0.113.66"
    assert d["authenticated"] is True
    assert d["auth_user"] == "sam"


def test_human_output(run_rg):
    r = run_rg("trace", "--trusted", "198.51.100.10", path("relayguard.eml"))
    assert r.rc == 0, r.err
    assert "origin:            203.0.113.66" in r.out
    assert "authenticated:     yes, as sam" in r.out
    assert "7F3A2C91B0" in r.out
    assert "hops (newest first" in r.out


def test_help(run_rg):
    r = run_rg("trace", "--help")
    assert r.rc == 0
    assert r.out.startswith("usage: relayguard trace")
    assert "--trusted" in r.out and "Exit status" in r.out


@pytest.mark.parametrize("args,what", [
    (["trace"], "expected one FILE"),
    (["trace", "a", "b"], "expected one FILE"),
    (["trace", "--bogus", "x"], "bad option"),
    (["trace", "--trusted", "300.1.2.3/8", "x"], "--trusted"),
    (["trace", "--trusted"], "option '--trusted' needs an argument"),
    (["trace", "/nonexistent/msg.eml"], "cannot open /nonexistent/msg.eml"),
    (["trace", os.path.join(CORPUS, "garbage.eml")], "no Received header field"),
    (["trace", "--json", os.path.join(CORPUS, "no_received.eml")], "no Received header field"),
])
def test_usage_and_input_errors(run_rg, args, what):
    r = run_rg(*args)
    assert r.rc == 2
    assert r.out == ""
    assert r.err.startswith("relayguard: trace: ")
    assert what in r.err


def test_empty_stdin(run_rg):
    r = run_rg("trace", "-", stdin="")
    assert r.rc == 2
    assert r.out == ""
    assert r.err == "relayguard: trace: -: empty input\n"


def test_header_too_large(run_rg):
    r = run_rg("trace", "-", stdin="X-Junk: " + "a" * (2 * 1024 * 1024) + "\n")
    assert r.rc == 2
    assert r.out == ""
    assert r.err.startswith("relayguard: trace: -: header")


def test_binary_input(run_rg):
    r = run_rg("trace", "-", stdin="\x01\x02\x7f\n\n\x00\x00Received: from x ([203.0.113.1]) by y;\n")
    assert r.rc == 2
    assert r.out == ""


def test_unparseable_received_incomplete(run_rg):
    r = run_rg("trace", "--json", path("garbage_received.eml"))
    assert r.rc == 3
    assert r.err.startswith("relayguard: trace: ")
    d = r.json()
    assert d["origin_ip"] is None
    assert d["authenticated"] is False
    assert [h["parsed"] for h in d["hops"]] == [False, False, False]
    assert d["message_id"] == "<junk@example.com>"


def test_non_utf8_bytes_escaped(run_rg):
    msg = (b"Received: from h\xe9llo ([203.0.113.1]) by mx.example.org with ESMTP; "
           b"1 Jan 2026 00:00 +0000\n\n")
    p = subprocess.run([RG_BIN, "trace", "--json", "-"], input=msg, capture_output=True)
    assert p.returncode == 0
    d = json.loads(p.stdout)
    assert d["origin_ip"] == "203.0.113.1"
    assert d["origin_host"] == "h\\xe9llo"
