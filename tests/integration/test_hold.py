"""relayguard hold against a spool written in the documented on-disk format
(docs/queue.md) by the writer below: list, show, release, delete and add
with their audit records; exit codes and errors; torn and corrupt records
next to good ones; the spool directory from the gateway configuration.
"""
import json
import os
import struct
import zlib

import pytest

BASE_MS = 1800000000000


def envelope(qid, sender="alice@corp.test", rcpts=("bob@example.net",), hold="", size=0,
             arrival=BASE_MS, attempts=0):
    def esc(s):
        out = []
        for b in s.encode():
            out.append(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else "\\x%02X" % b)
        return "".join(out)

    lines = ["rgq-envelope 1", "id " + qid, "arrival %d" % arrival, "sender " + esc(sender),
             "client_ip 192.0.2.7", "client_helo pc7.corp.test", "auth_user alice",
             "protocol ESMTPSA", "listener submission", "sender_verified 1", "envid ", "ret ",
             "body ", "smtputf8 0", "size %d" % size, "hold_reason " + esc(hold),
             "next_attempt 0", "attempts %d" % attempts]
    for r in rcpts:
        lines += ["rcpt " + esc(r), "r.orcpt ", "r.notify 0", "r.status pending",
                  "r.attempts 0", "r.reply "]
    return ("\n".join(lines) + "\nend\n").encode()


def record(qid, env, data):
    qid = qid.encode()
    body = qid + env + data
    crc = zlib.crc32(body)
    hdr = b"RGQR" + struct.pack("<IIIQI", 1, len(qid), len(env), len(data), crc)
    hdr += struct.pack("<I", zlib.crc32(hdr))
    return hdr + body + b"RGQE" + struct.pack("<I", crc)


def qid(n):
    return "%012X%04X" % (BASE_MS + n, 0)


def make_spool(path, entries, extra=b""):
    """entries: list of (id, hold_reason, sender); one segment."""
    for sub in ("seg", "state", "dead", "tmp", "corrupt"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    seg = bytearray(b"RGQSEG01")
    for i, (q, hold, sender) in enumerate(entries):
        data = b"Subject: test %d\r\n\r\nhello\r\n" % i
        seg += record(q, envelope(q, sender=sender, hold=hold, size=len(data),
                                  arrival=BASE_MS + i), data)
    seg += extra
    with open(os.path.join(path, "seg", "00000001"), "wb") as f:
        f.write(seg)
    return os.path.join(path, "seg", "00000001")


@pytest.fixture
def spool(tmp_path):
    d = str(tmp_path / "spool")
    make_spool(d, [(qid(1), "account alice blocked: 1440 msgs/h", "alice@corp.test"),
                   (qid(2), "", "bob@corp.test"),
                   (qid(3), "null sender to 40 recipients", "")])
    return d


def audit(spool):
    with open(os.path.join(spool, "audit.log")) as f:
        return [json.loads(line) for line in f]


def test_list_show(run_rg, spool):
    r = run_rg("hold", "list", "--spool", spool, "--json")
    assert r.rc == 0, r.err
    holds = r.json()["holds"]
    assert [h["id"] for h in holds] == [qid(1), qid(3)]
    assert holds[0]["reason"] == "account alice blocked: 1440 msgs/h"
    assert holds[0]["sender"] == "alice@corp.test"
    assert holds[0]["recipients"] == ["bob@example.net"]
    assert holds[0]["rcpt_count"] == 1
    assert holds[0]["client_ip"] == "192.0.2.7" and holds[0]["auth_user"] == "alice"
    assert holds[0]["arrival"] == "2027-01-15T08:00:00Z"
    assert holds[1]["sender"] == ""

    r = run_rg("hold", "list", "--spool", spool)
    assert r.rc == 0
    assert qid(1) in r.out and qid(3) in r.out and qid(2) not in r.out
    assert "2 held messages" in r.out

    r = run_rg("hold", "show", qid(2), "--spool", spool, "--json")
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["held"] is False and doc["found"] is True
    assert doc["client_ip"] == "192.0.2.7" and doc["auth_user"] == "alice"
    assert doc["recipients"][0] == {"address": "bob@example.net", "status": "pending",
                                    "attempts": 0, "last_reply": ""}
    r = run_rg("hold", "show", qid(9), "--spool", spool)
    assert r.rc == 1
    assert "no such message" in r.err


def test_release_delete_add_audit(run_rg, spool):
    r = run_rg("hold", "release", qid(1), "--spool", spool, "--reason", "password changed",
               "--actor", "ops")
    assert r.rc == 0, r.err
    assert "released" in r.out
    r = run_rg("hold", "release", qid(1), "--spool", spool)
    assert r.rc == 2
    assert "not held" in r.err

    r = run_rg("hold", "delete", qid(3), "--spool", spool, "--reason", "backscatter",
               "--json", env={"USER": "carol", "SUDO_USER": ""})
    assert r.rc == 0, r.err
    assert r.json()["result"] == "deleted"
    r = run_rg("hold", "delete", qid(3), "--spool", spool)
    assert r.rc == 2
    assert "no such entry" in r.err

    r = run_rg("hold", "add", qid(2), "--spool", spool, "--reason", "looks odd")
    assert r.rc == 0, r.err
    r = run_rg("hold", "list", "--spool", spool, "--json")
    assert [h["id"] for h in r.json()["holds"]] == [qid(2)]

    a = audit(spool)
    assert [(x["action"], x["id"]) for x in a] == [("release", qid(1)), ("delete", qid(3)),
                                                     ("hold", qid(2))]
    assert a[0]["actor"] == "ops" and a[0]["reason"] == "password changed"
    assert a[1]["actor"] == "carol"
    assert all(x["time"].endswith("Z") for x in a)

    # released: a state file with no hold; deleted: a dead marker
    with open(os.path.join(spool, "state", qid(1))) as f:
        text = f.read()
    assert "hold_reason \n" in text and text.endswith("end\n")
    assert os.path.exists(os.path.join(spool, "dead", qid(3)))


def test_usage_errors(run_rg, spool, tmp_path):
    assert run_rg("hold", "--help").rc == 0
    assert "release" in run_rg("hold", "--help").out
    assert run_rg("hold").rc == 2
    assert run_rg("hold", "frobnicate", "--spool", spool).rc == 2
    assert run_rg("hold", "release", "--spool", spool).rc == 2
    r = run_rg("hold", "release", "../../etc/passwd", "--spool", spool)
    assert r.rc == 2 and "not a queue ID" in r.err
    assert run_rg("hold", "list", "--reason", "x", "--spool", spool).rc == 2
    assert run_rg("hold", "list", "extra", "--spool", spool).rc == 2
    # no spool at all: said so (exit 2), never "nothing held"; nothing created
    missing = str(tmp_path / "none")
    r = run_rg("hold", "list", "--spool", missing, "--json")
    assert r.rc == 2 and "no spool in " + missing in r.err and r.out == ""
    assert not os.path.exists(missing)
    assert run_rg("hold", "release", qid(1), "--spool", missing).rc == 2
    r = run_rg("hold", "list", "--config", str(tmp_path / "nope.conf"))
    assert r.rc == 2


def test_config_spool_dir(run_rg, spool, tmp_path):
    conf = tmp_path / "gw.conf"
    conf.write_text("[gateway]\nspool_dir = %s\nstate_dir = %s\n" % (spool, tmp_path / "st"))
    r = run_rg("hold", "list", "--config", str(conf), "--json")
    assert r.rc == 0, r.err
    assert len(r.json()["holds"]) == 2


def test_torn_and_corrupt_records(run_rg, tmp_path):
    d = str(tmp_path / "spool")
    bad_env = b"rgq-envelope 1\nid %s\nsender a\nb\nend\n" % qid(5).encode()
    torn = record(qid(6), envelope(qid(6), hold="x"), b"data")[:-20]
    seg = make_spool(d, [(qid(4), "held", "a@corp.test")],
                     extra=record(qid(5), bad_env, b"x") + torn)
    size = os.path.getsize(seg)
    r = run_rg("hold", "list", "--spool", d, "--json")
    assert r.rc == 0, r.err
    assert [h["id"] for h in r.json()["holds"]] == [qid(4)]
    # the shared opener never cuts or moves anything: the owner (serve) does
    assert os.path.getsize(seg) == size

    # a corrupt state file: reported and quarantined, the entry falls back
    with open(os.path.join(d, "state", qid(4)), "w") as f:
        f.write("rgq-envelope 1\nid %s\nsize lots\nend\n" % qid(4))
    r = run_rg("hold", "show", qid(4), "--spool", d, "--json")
    assert r.rc == 0, r.err
    assert r.json()["reason"] == "held"
    assert not os.path.exists(os.path.join(d, "state", qid(4)))
    assert any(n.startswith(qid(4) + ".state") for n in os.listdir(os.path.join(d, "corrupt")))
