"""trace --log: from a delivered copy of a message back to the session that
sent it, in relayguard's own log and in a real Postfix's log (maillog_file),
with the client, the account, the time, the recipients and the other
messages of that account or address within the hour."""
import json
import os
import smtplib
import subprocess
import time

import pytest

import pfrelay
from conftest import RG_BIN, free_port, rg, wait_until as wait
from postfix import DovecotAuth
from sink import Sink

PASSWORD = "Tr0ub4dor&3-horse-battery"


def message(sender, mid, subject):
    return ("From: <%s>\r\nTo: <bob@x.test>\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody\r\n"
            % (sender, subject, mid))


def copy_of(sink, mid, path):
    """The sink's copy of the message with that Message-ID, written to path."""
    for _, data in sink.messages():
        if ("Message-ID: <%s>" % mid).encode() in data:
            path.write_bytes(data)
            return str(path)
    raise AssertionError("no copy of %s in the sink" % mid)


def trace(*args):
    p = subprocess.run([RG_BIN, "trace"] + list(args), capture_output=True, text=True,
                       timeout=60)
    return p


class Gateway:
    """relayguard serve: a submission listener with AUTH over plain text on
    loopback, delivering to the sink as its relayhost."""

    def __init__(self, tmp, sink_port):
        self.dir = tmp
        self.port = free_port()
        self.relay_port = free_port()
        self.users = tmp / "users"
        self.logpath = tmp / "serve.log"
        for u in ("sam@gw.test", "kim@gw.test"):
            r = rg("user", "add", "--cost", "min", "--password-stdin", "--file", str(self.users), u,
                   stdin=PASSWORD + "\n")
            assert r.rc == 0, r.err
        conf = tmp / "relayguard.conf"
        conf.write_text(
            "[gateway]\nhostname = gw.test\nstate_dir = %s/var\nusers = %s\n"
            "local_domains = gw.test\nerror_sleep_time = 0\ntrusted_networks = 127.0.0.0/8\n"
            "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
            "[listener sub]\nlisten = 127.0.0.1:%d\nrole = submission\ntls = none\n"
            "require_tls_for_auth = no\n"
            "[policyd]\nlisten =\n[web]\nlisten =\n[auth]\ndelay = 10ms\ndelay_max = 20ms\n"
            "[delivery]\nrelayhost = [127.0.0.1]:%d\nrelayhost_tls = none\n"
            "poll_interval = 10ms\nminimal_backoff = 1s\nmaximal_backoff = 1s\n" % (tmp, self.users, self.relay_port, self.port, sink_port))
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", str(conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        import socket
        assert wait(lambda: self._up(socket), 30), self.logpath.read_text()

    def _up(self, socket):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            assert self.proc.poll() is None, self.logpath.read_text()
            return False

    def send(self, user, sender, mid, subject):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("client.test")
            if user:
                s.login(user, PASSWORD)
            s.sendmail(sender, ["bob@x.test"], message(sender, mid, subject))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


def test_trace_log_relayguard(tmp_path):
    sink = Sink(tmp_path).start()
    gw = Gateway(tmp_path, sink.port)
    try:
        gw.send("sam@gw.test", "sam@gw.test", "rg-a@gw.test", "the one traced")
        gw.send("sam@gw.test", "sam@gw.test", "rg-b@gw.test", "same account")
        gw.send("kim@gw.test", "kim@gw.test", "rg-c@gw.test", "same address only")
        assert wait(lambda: sink.count() == 3, 120), (
            "sink exit %s\n" % sink.proc.poll()) + gw.logpath.read_text()
        assert wait(lambda: gw.logpath.read_text().count("event=done") == 3, 60)
    finally:
        gw.stop()
        sink.stop()
    copy = copy_of(sink, "rg-a@gw.test", tmp_path / "copy.eml")
    log = str(gw.logpath)
    p = trace("--json", "--log", log, copy)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["logs"]["files"] == [log]
    (s,) = doc["sessions"]
    hop = doc["hops"][s["hop"]]
    assert "(relayguard)" in hop["raw"] and hop["id"] == s["queue_id"]
    assert s["source"] == "relayguard" and s["matched_by"] == ["queue_id"]
    assert s["client_ip"] == "127.0.0.1"
    assert s["authenticated"] and s["auth_user"] == "sam@gw.test"
    assert s["auth_method"] == "PLAIN"
    assert s["sender"] == "sam@gw.test" and s["session_id"]
    assert s["time"].startswith(time.strftime("%Y-", time.gmtime()))
    assert s["recipients"] == [{"address": "bob@x.test", "status": "sent",
                                "relay": "[127.0.0.1]:%d" % sink.port}] or \
        (s["recipients"][0]["address"] == "bob@x.test" and
         s["recipients"][0]["status"] == "sent"), s["recipients"]
    # the two other messages of the hour: one by sam, one from the same address
    assert s["related_count"] == 2
    rel = {r["sender"]: r for r in s["related"]}
    assert rel["sam@gw.test"]["same_user"] and rel["sam@gw.test"]["same_ip"]
    assert rel["kim@gw.test"]["same_ip"] and not rel["kim@gw.test"]["same_user"]
    assert all(r["queue_id"] != s["queue_id"] for r in s["related"])

    # The text form says the same; without --log the output is unchanged.
    t = trace("--log", log, copy)
    assert t.returncode == 0, t.stderr
    assert "relayguard queue id %s" % s["queue_id"] in t.stdout
    assert "authenticated:  yes, as sam@gw.test (PLAIN)" in t.stdout
    assert "within an hour: 2 messages" in t.stdout
    plain = trace("--json", copy)
    assert "sessions" not in json.loads(plain.stdout)
    assert "sessions in the logs" not in trace(copy).stdout


def test_trace_log_not_found_and_errors(tmp_path):
    msg = tmp_path / "m.eml"
    msg.write_text("Received: from a (a [192.0.2.1]) by mx.test (Postfix) with ESMTP id "
                   "4AbCdEf123\n\tfor <x@y.test>; Sun, 6 Dec 2026 07:00:00 +0000\n"
                   "Message-ID: <nowhere@test>\n\nbody\n")
    log = tmp_path / "mail.log"
    log.write_text("Dec  6 07:00:00 mx postfix/smtpd[1]: 4ZZZZZ123: client=b[192.0.2.9]\n")
    p = trace("--json", "--log", str(log), str(msg))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["sessions"] == []
    assert "none: no queue id" in trace("--log", str(log), str(msg)).stdout
    # a missing log is an input error; a log cannot be standard input
    assert trace("--log", str(tmp_path / "nope"), str(msg)).returncode == 2
    assert trace("--log", "-", str(msg)).returncode == 2


def sasl_postfix(tmp_path, relayhost):
    """A real Postfix relaying to relayhost, with SMTP AUTH (any password)."""
    pfport = free_port()
    pf = pfrelay.PostfixRelay(tmp_path, pfport, relayhost, {
        "smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "dovecot",
        "smtpd_sasl_path": os.path.join(str(tmp_path), "postfix", "auth"),
        "smtpd_relay_restrictions": "permit_sasl_authenticated, permit_mynetworks, reject",
        "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s"})
    auth = DovecotAuth(os.path.join(pf.dir, "auth"))
    pf.start()
    return pf, pfport, auth


@pytest.mark.skipif(not pfrelay.available(), reason="needs Postfix and root")
def test_trace_log_postfix(tmp_path):
    sink = Sink(tmp_path).start()
    pf, pfport, auth = sasl_postfix(tmp_path, "[127.0.0.1]:%d" % sink.port)
    try:
        for user, mid in (("sam", "pf-a@pf.test"), ("sam", "pf-b@pf.test"),
                          (None, "pf-c@pf.test")):
            with smtplib.SMTP("127.0.0.1", pfport, timeout=10) as s:
                s.ehlo("client.test")
                if user:
                    s.login(user, "secret")
                s.sendmail("sam@pf.test", ["bob@x.test"], message("sam@pf.test", mid, mid))
        assert wait(lambda: sink.count() == 3, 120), pf.logtext()
        assert wait(lambda: pf.logtext().count(": removed") == 3, 30), pf.logtext()
    finally:
        pf.stop()
        auth.close()
        sink.stop()
    maillog = os.path.join(pf.dir, "maillog")
    copy = copy_of(sink, "pf-a@pf.test", tmp_path / "copy.eml")
    p = trace("--json", "--log", maillog, copy)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    (s,) = doc["sessions"]
    hop = doc["hops"][s["hop"]]
    assert "(Postfix)" in hop["raw"] and hop["id"] == s["queue_id"]
    # found by its queue id and by its Message-ID (cleanup's line)
    assert s["source"] == "postfix"
    assert s["matched_by"] == ["queue_id", "message_id"]
    assert s["message_id"] == "<pf-a@pf.test>"
    assert s["client_ip"] == "127.0.0.1" and s["client_host"] == "localhost"
    assert s["authenticated"] and s["auth_user"] == "sam" and s["auth_method"] == "PLAIN"
    assert s["sender"] == "sam@pf.test" and s["nrcpt"] == 1
    (r,) = s["recipients"]
    assert r["address"] == "bob@x.test" and r["status"] == "sent"
    assert str(sink.port) in r["relay"]
    assert s["related_count"] == 2
    assert sorted((x["same_ip"], x["same_user"]) for x in s["related"]) == [
        (True, False), (True, True)]
    # the Message-ID alone finds it too (a copy whose Received fields are gone)
    bare = tmp_path / "bare.eml"
    text = open(copy, "rb").read().decode()
    bare.write_text("Received: from x (x [192.0.2.7]) by elsewhere.test with SMTP id QQQQQQQ1;"
                    " Sun, 6 Dec 2026 07:00:00 +0000\n" +
                    "".join(l for l in text.splitlines(True)
                            if l.startswith("Message-ID") or l.startswith("Subject")) + "\n")
    p = trace("--json", "--log", maillog, str(bare))
    (s2,) = json.loads(p.stdout)["sessions"]
    assert s2["queue_id"] == s["queue_id"] and s2["matched_by"] == ["message_id"]
    assert s2["hop"] is None and s2["auth_user"] == "sam"


@pytest.mark.skipif(not pfrelay.available(), reason="needs Postfix and root")
def test_trace_log_postfix_then_relayguard(tmp_path):
    """One message through both: a client authenticates to Postfix, Postfix
    relays through relayguard, relayguard delivers to the sink. With both
    logs, the copy leads to both sessions, each by its own Received hop."""
    sink = Sink(tmp_path).start()
    gw = Gateway(tmp_path, sink.port)
    pf, pfport, auth = sasl_postfix(tmp_path, "[127.0.0.1]:%d" % gw.relay_port)
    try:
        with smtplib.SMTP("127.0.0.1", pfport, timeout=10) as s:
            s.ehlo("client.test")
            s.login("amy", "secret")
            s.sendmail("amy@pf.test", ["bob@x.test"], message("amy@pf.test", "both@pf.test", "x"))
        assert wait(lambda: sink.count() == 1, 120), pf.logtext() + gw.logpath.read_text()
        assert wait(lambda: "event=done" in gw.logpath.read_text(), 60)
        assert wait(lambda: ": removed" in pf.logtext(), 30), pf.logtext()
    finally:
        pf.stop()
        auth.close()
        gw.stop()
        sink.stop()
    copy = copy_of(sink, "both@pf.test", tmp_path / "copy.eml")
    maillog = os.path.join(pf.dir, "maillog")
    p = trace("--json", "--log", maillog, str(gw.logpath), copy)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["logs"]["files"] == [maillog, str(gw.logpath)]
    by = {s["source"]: s for s in doc["sessions"]}
    assert sorted(by) == ["postfix", "relayguard"], doc["sessions"]
    pfs, rgs = by["postfix"], by["relayguard"]
    # relayguard's hop is above Postfix's; each session names its own
    assert rgs["hop"] < pfs["hop"]
    assert "(relayguard)" in doc["hops"][rgs["hop"]]["raw"]
    assert "(Postfix)" in doc["hops"][pfs["hop"]]["raw"]
    assert pfs["auth_user"] == "amy" and pfs["sender"] == "amy@pf.test"
    assert pfs["recipients"][0]["status"] == "sent"
    assert str(gw.relay_port) in pfs["recipients"][0]["relay"]
    # Postfix relayed without AUTH from a trusted network
    assert rgs["client_ip"] == "127.0.0.1" and not rgs["authenticated"]
    assert rgs["sender"] == "amy@pf.test" and rgs["recipients"][0]["status"] == "sent"
