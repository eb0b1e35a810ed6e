"""trace and bounce read a message's header section with one reader
(forensics/msg): a line of white space only inside the header section is
folding white space (RFC 5322 obs-FWS) for both, so the fields below it are
header fields for both. bounce used to end the header section there and read
the rest (Content-Type, the DSN) as body text, while trace read on."""
import json
import os
import subprocess

from conftest import DATA, RG_BIN

SRC = os.path.join(DATA, "bounces", "postfix-spamhaus-zen.eml")
HOP = ("Received: from mx.example.net (mx.example.net [203.0.113.9])\n"
       "\tby mail.example.com (Postfix) with ESMTP id 5Jm3Mr1Ab; Mon, 23 Nov 2026 09:15:01 +0000\n")


def variant(tmp_path, name, blank):
    text = open(SRC).read()
    head, body = text.split("\n\n", 1)
    lines = head.split("\n")
    i = next(k for k, l in enumerate(lines) if l.startswith("Subject:")) + 1
    # the white-space-only line, then a Received field and the MIME fields below it
    lines[i:i] = ([blank] if blank is not None else []) + HOP.rstrip("\n").split("\n")
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n\n" + body)
    return str(p)


def run(*args):
    p = subprocess.run([RG_BIN] + list(args), capture_output=True, text=True, timeout=60)
    # bounce exits 1 when a bounce says the mail was blocked
    assert p.returncode == (1 if args[0] == "bounce" else 0), p.stderr
    return json.loads(p.stdout)


def test_whitespace_line_read_alike(tmp_path):
    plain = variant(tmp_path, "plain.eml", None)
    for blank in (" \t", "    "):
        ws = variant(tmp_path, "ws.eml", blank)
        # trace: the Received field below the line is read, the origin is its client
        t = run("trace", "--json", ws)
        assert t["received_count"] == 2 and t["origin_ip"] == "203.0.113.9"
        assert t == run("trace", "--json", plain)
        # bounce: Content-Type below the line is read too, so the DSN is found
        (m,) = run("bounce", "--json", ws)["messages"]
        assert m["recipient"] == "bob@example.net" and m["status"] == "5.7.1"
        assert m["blocked"] and [l["id"] for l in m["lists"]] == ["zen.spamhaus.org"]
        (p,) = run("bounce", "--json", plain)["messages"]
        for k in ("source", "path"):
            m.pop(k), p.pop(k)
        assert m == p
