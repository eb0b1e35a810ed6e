"""DKIM signing ([dkim], docs/delivery.md) checked by independent verifiers:
messages sent through a running gateway, captured at Postfix's smtp-sink as
the relayhost, verified by Python dkimpy (python3-dkim, keys handed over by a
dnsfunc) and by OpenDKIM's opendkim-testmsg (keys from unbound on port 53 in
a private network namespace: dkim_ns.py). Both key types (RSA 2048 from
`relayguard dkim keygen`, Ed25519), folded headers, 8-bit bodies, trailing
blank lines and white space; the queue keeps the signed form (a delivery
after a retry verifies, and is the spool's bytes)."""
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time

import dkim
import pytest

from conftest import RG_BIN, free_port, rg
from sink import BULK_POLICY, Sink
from spool import read_spool

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAINS = {"rsa.test": ("rg2026", "rsa"), "ed.test": ("edsel", "ed25519")}


def wait(cond, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def keygen(tmp, domain, selector, kind):
    r = rg("dkim", "keygen", domain, selector, "--type", kind, "--dir", tmp, "--json")
    assert r.rc == 0, r.err
    return r.json()


def message_of(dump):
    """The message as smtp-sink received it: its X- lines dropped, LF to CRLF
    (smtp-sink writes LF; the gateway sends CRLF only: bare LF is refused)
    and the one LF smtp-sink adds at the end."""
    assert dump.endswith(b"\n\n"), dump
    lines = dump[:-1].split(b"\n")
    while lines and lines[0].split(b":")[0] in (b"X-Client-Addr", b"X-Client-Proto",
                                                b"X-Helo-Args", b"X-Mail-Args", b"X-Rcpt-Args"):
        lines.pop(0)
    return b"\r\n".join(lines)


class Gateway:
    def __init__(self, tmp, sink_port, keys, extra=""):
        self.dir = os.path.join(str(tmp), "gw")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "relayguard.conf")
        dk = "".join("%s = %s, %s\n" % (d, k["selector"], k["keyfile"]) for d, k in keys.items())
        with open(conf, "w") as f:
            f.write("[gateway]\nhostname = gw.test\nstate_dir = %s/var\n"
                    "trusted_networks = 127.0.0.0/8\n"
                    "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
                    "[listener in]\nlisten = 127.0.0.1:%d\nrole = inbound\ntls = none\n"
                    "[policyd]\nlisten =\n[web]\nlisten =\n"
                    "[delivery]\nrelayhost = [127.0.0.1]:%d\nrelayhost_tls = none\n"
                    "minimal_backoff = 1s\nmaximal_backoff = 1s\ndead_time = 0\n"
                    "[dkim]\n%s%s%s" % (self.dir, self.port, free_port(), sink_port, dk,
                                        BULK_POLICY, extra))
        self.conf = conf
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        assert wait(self._up), self.logtext()

    def _up(self):
        if self.proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def logtext(self):
        with open(os.path.join(self.dir, "serve.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(15)
        self.log.close()
        text = self.logtext()
        assert "AddressSanitizer" not in text and "runtime error" not in text, text
        assert rc == 0, text


def settled(path):
    """The sink's file once smtp-sink has finished writing it."""
    last = None
    for _ in range(100):
        with open(path, "rb") as f:
            data = f.read()
        if data and data == last:
            return data
        last = data
        time.sleep(0.1)
    return last


def send(port, sender, body, eightbit=False):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.sendmail(sender, ["bob@x.test"], body,
                   mail_options=["BODY=8BITMIME"] if eightbit else [])


# Messages: (name, From domain, body bytes, 8-bit). Each has the Date field
# RFC 5322 requires: OpenDKIM refuses a message without one as a syntax error
# whatever its signature.
DATE = "Date: Sun, 6 Dec 2026 04:00:00 +0000\r\n"


def messages():
    out = []
    for d in DOMAINS:
        out.append(("plain-" + d, d, (
            "From: Sam <sam@%s>\r\nTo: <bob@x.test>\r\nSubject: plain\r\n%s"
            "Message-ID: <p1@%s>\r\n\r\nHello.\r\n" % (d, DATE, d)).encode(), False))
        out.append(("folded-" + d, d, (
            "From: \"Sam (the) Sender\"\r\n  <sam@%s>\r\n%s"
            "To: <bob@x.test>,\r\n\t<carol@y.test>\r\n"
            "Subject: a subject folded\r\n over two lines   \r\n"
            "X-Folded:   first part\t\r\n\t  second   part\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain;\r\n charset=us-ascii\r\n\r\n"
            "line one  \r\n\tindented\t line\r\n.leading dot\r\n" % (d, DATE)).encode(), False))
        out.append(("8bit-" + d, d, (
            "From: J\xc3\xb6rg <jorg@%s>\r\nTo: bob@x.test\r\nSubject: 8-bit\r\n%s"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x82\xac  \r\n\xff\xfe raw\r\n" % (d, DATE))
            .encode("latin-1"), True))
        out.append(("trailing-" + d, d, (
            "From: sam@%s\r\nTo: bob@x.test\r\nSubject: trailing blank lines\r\n%s\r\n"
            "text\r\n\r\n  \r\n\t\r\n\r\n\r\n" % (d.upper(), DATE)).encode(), False))
        out.append(("emptybody-" + d, d, (
            "From: sam@%s\r\nTo: bob@x.test\r\nSubject: empty body\r\n%s\r\n"
            % (d, DATE)).encode(), False))
    return out


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """Every test message through the gateway, as captured at the sink."""
    tmp = str(tmp_path_factory.mktemp("dkim"))
    keydir = os.path.join(tmp, "keys")
    os.makedirs(keydir)
    keys = {d: keygen(keydir, d, sel, kind) for d, (sel, kind) in DOMAINS.items()}
    sink = Sink(tmp).start()
    gw = Gateway(tmp, sink.port, keys)
    msgs = messages() + [("nokey", "other.test", b"From: sam@other.test\r\nTo: bob@x.test\r\n"
                          b"Subject: no key\r\n\r\nunsigned\r\n", False)]
    try:
        got = {}
        for name, d, body, eightbit in msgs:
            n = sink.count()
            send(gw.port, "sam@%s" % d, body, eightbit)
            assert wait(lambda: sink.count() == n + 1), gw.logtext()
            new = [m for m in sink.messages() if m[0] not in [g[0] for g in got.values()]]
            assert len(new) == 1
            got[name] = (new[0][0], message_of(settled(new[0][0])))
    finally:
        gw.stop()
        sink.stop()
    return {"tmp": tmp, "keys": keys, "got": {k: v[1] for k, v in got.items()}}


def dnsfunc_for(keys):
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        for k in keys.values():
            if name.rstrip(".").lower() == k["txt_name"].rstrip(".").lower():
                return k["txt"].encode()
        return None
    return dnsfunc


def test_keygen_output(tmp_path):
    r = rg("dkim", "keygen", "Example.ORG", "s1", "--dir", tmp_path)
    assert r.rc == 0, r.err
    key = tmp_path / "example.org.s1.pem"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    line = r.out.strip()
    assert line.startswith('s1._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=MIIB')
    strings = line.split(" IN TXT ", 1)[1].split('" "')
    assert len(strings) == 2 and all(len(s.strip('"')) <= 255 for s in strings)
    assert "[dkim]\nexample.org = s1, %s" % key in r.err
    # never over an existing key; bad names and types refused
    assert rg("dkim", "keygen", "example.org", "s1", "--dir", tmp_path).rc == 2
    assert rg("dkim", "keygen", "bad domain", "s1", "--dir", tmp_path).rc == 2
    assert rg("dkim", "keygen", "x.test", "s;1", "--dir", tmp_path).rc == 2
    assert rg("dkim", "keygen", "x.test", "s1", "--type", "dsa", "--dir", tmp_path).rc == 2
    e = keygen(str(tmp_path), "ed.example", "e1", "ed25519")
    assert e["txt"].startswith("v=DKIM1; k=ed25519; p=") and len(e["txt"].split("p=")[1]) == 44
    assert e["txt_name"] == "e1._domainkey.ed.example."


def test_checkconf_dkim(tmp_path):
    k = keygen(str(tmp_path), "rsa.test", "s", "rsa")
    conf = tmp_path / "c.conf"
    conf.write_text("[gateway]\nstate_dir = %s\n[dkim]\nrsa.test = s, %s\n" % (tmp_path, k["keyfile"]))
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
    for bad, what in (("rsa.test = s, %s/none.pem\n" % tmp_path, "none.pem"),
                      ("rsa.test = %s\n" % k["keyfile"], "selector, keyfile"),
                      ("rsa.test = s, %s\nRSA.test = t, %s\n" % (k["keyfile"], k["keyfile"]),
                       "second key"),
                      ("rsa.test = s, %s\n" % conf, "not a PEM private key")):
        conf.write_text("[gateway]\nstate_dir = %s\n[dkim]\n%s" % (tmp_path, bad))
        r = rg("checkconf", "--config", conf)
        assert r.rc == 2 and what in r.err and "[dkim]" in r.err, r.err


def test_dkimpy_verifies_every_signed_message(signed):
    dnsfunc = dnsfunc_for(signed["keys"])
    names = [n for n in signed["got"] if n != "nokey"]
    assert len(names) == 10
    for name in names:
        msg = signed["got"][name]
        assert msg.startswith(b"Received: ") and b"\r\nDKIM-Signature: v=1; a=" in msg, msg
        d = name.split("-", 1)[1]
        sig = msg[msg.index(b"DKIM-Signature:"):].split(b"\r\n\r\n")[0]
        assert b"d=" + d.encode() + b";" in sig and b"c=relaxed/relaxed" in sig
        alg = b"ed25519-sha256" if d == "ed.test" else b"rsa-sha256"
        assert b"a=" + alg + b";" in sig
        assert dkim.verify(msg, dnsfunc=dnsfunc), name
        # the verifier is not trivially content: a changed body or an added
        # (oversigned) Subject fails
        assert not dkim.verify(msg.replace(b"\r\n\r\n", b"\r\n\r\nX", 1) if b"\r\n\r\n" in msg
                               else msg + b"X", dnsfunc=dnsfunc), name
        assert not dkim.verify(b"Subject: added\r\n" + msg, dnsfunc=dnsfunc), name
    # no key for the From domain: unsigned
    assert b"DKIM-Signature" not in signed["got"]["nokey"]


def test_opendkim_verifies_every_signed_message(signed, tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("needs root and unshare (network namespace for unbound on port 53)")
    w = str(tmp_path)
    records, files = [], []
    for k in signed["keys"].values():
        t = k["txt"]
        parts = " ".join('"%s"' % t[i:i + 255] for i in range(0, len(t), 255))
        records.append("%s TXT %s" % (k["txt_name"], parts))
    for name, msg in signed["got"].items():
        if name == "nokey":
            continue
        with open(os.path.join(w, name), "wb") as f:
            f.write(msg)
        files.append(name)
    # a tampered copy must fail: the verifier really verifies
    with open(os.path.join(w, "tampered"), "wb") as f:
        f.write(signed["got"]["plain-rsa.test"].replace(b"Hello.", b"Hellp."))
    files.append("tampered")
    with open(os.path.join(w, "spec.json"), "w") as f:
        json.dump({"records": records, "messages": files}, f)
    p = subprocess.run(["unshare", "--mount", "--net", sys.executable,
                        os.path.join(HERE, "dkim_ns.py"), w], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    res = json.load(open(os.path.join(w, "result.json")))
    for name in files:
        if name == "tampered":
            assert res[name]["rc"] != 0, res[name]
        else:
            assert res[name]["rc"] == 0, (name, res[name])


def test_queue_keeps_signed_form(tmp_path):
    """The relayhost is down at first: the message waits in the queue already
    signed, and what is delivered after the retry is those bytes."""
    keydir = str(tmp_path / "keys")
    os.makedirs(keydir)
    keys = {"ed.test": keygen(keydir, "ed.test", "edsel", "ed25519")}
    sink_port = free_port()
    gw = Gateway(tmp_path, sink_port, keys)
    sink = None
    try:
        body = (b"From: sam@ed.test\r\nTo: bob@x.test\r\nSubject: retry\r\n\r\nsame bytes\r\n")
        send(gw.port, "sam@ed.test", body)
        spool = os.path.join(gw.dir, "var", "spool")
        assert wait(lambda: len(read_spool(spool)) == 1)
        (entry,) = read_spool(spool).values()
        queued = entry["data"]
        assert queued.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;"), queued
        assert queued.endswith(body)
        assert dkim.verify(queued, dnsfunc=dnsfunc_for(keys))
        time.sleep(1.5)  # at least one failed attempt
        sink = Sink(tmp_path, port=sink_port).start()
        assert wait(lambda: sink.count() == 1, 30), gw.logtext()
        got = message_of(settled(sink.files()[0]))
        # the sink adds its own Received line first
        assert got.endswith(queued), (got, queued)
        assert dkim.verify(got, dnsfunc=dnsfunc_for(keys))
    finally:
        gw.stop()
        if sink:
            sink.stop()


def test_inbound_mail_is_not_signed(tmp_path):
    keydir = str(tmp_path / "keys")
    os.makedirs(keydir)
    keys = {"rsa.test": keygen(keydir, "rsa.test", "s", "rsa")}
    sink = Sink(tmp_path).start()
    gw = Gateway(tmp_path, sink.port, keys, extra="[gateway]\nlocal_domains = x.test\n")
    try:
        with open(gw.conf) as f:
            text = f.read()
        port = int(text.split("[listener in]\nlisten = 127.0.0.1:")[1].split("\n")[0])
        send(port, "sam@rsa.test", b"From: sam@rsa.test\r\nTo: bob@x.test\r\n\r\nin\r\n")
        send(gw.port, "sam@rsa.test", b"From: sam@rsa.test\r\nTo: bob@x.test\r\n\r\nout\r\n")
        assert wait(lambda: sink.count() == 2), gw.logtext()
        for p in sink.files():
            m = settled(p)
            assert (b"DKIM-Signature" in m) == (b"\nout\n" in m), m
    finally:
        gw.stop()
        sink.stop()


def test_bench_dkim_smoke(tmp_path):
    """bench/relay.py --dkim (bench/relay.sh DKIM=1) on a few messages: both
    sides sign every message (Postfix through OpenDKIM), the last line is the
    ratio."""
    root = os.path.dirname(os.path.dirname(HERE))
    p = subprocess.run(["/usr/bin/python3", os.path.join(root, "bench", "relay.py"), "--binary",
                        RG_BIN, "--dkim", "--messages", "20", "--sessions", "4", "--probes", "2",
                        "--tmp", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[-1].startswith("speedup: "), p.stdout
    for name in ("relayguard", "postfix+opendkim"):
        (line,) = [x for x in lines if x.startswith(name + " ")]
        m = re.match(r"\S+ +(\d+)/(\d+) messages .*DKIM-signed (\d+)$", line)
        assert m and m.group(1) == m.group(2) == m.group(3) and int(m.group(1)) >= 20, line
