"""Delivery with real peers: a private Postfix relays through relayguard (its
relayhost) to smtp-sink and the message arrives with its header intact; and
relayguard killed with SIGKILL three times while it delivers loses nothing
it acknowledged, with few duplicates (the window between the remote 250 and
the saved result, RFC 1047)."""
import os
import random
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

import pfrelay
from conftest import RG_BIN, free_port
from sink import BULK_POLICY, Sink


def start_gateway(tmp, sink_port, extra=""):
    port = free_port()
    conf = os.path.join(str(tmp), "relayguard.conf")
    with open(conf, "w") as f:
        f.write("[gateway]\nhostname = gw.test\nstate_dir = %s/var\nlocal_domains = gw.test\n"
                "trusted_networks = 127.0.0.0/8\n"
                "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
                "[policyd]\nlisten =\n[web]\nlisten =\n"
                "[delivery]\nrelayhost = [127.0.0.1]:%d\nrelayhost_tls = none\n"
                "poll_interval = 10ms\nminimal_backoff = 1s\nmaximal_backoff = 1s\n%s\n%s"
                % (tmp, port, sink_port, extra, BULK_POLICY))
    return conf, port


def run_gateway(conf, port, logpath):
    log = open(logpath, "a")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.Popen([RG_BIN, "serve", "--config", conf], stdout=log,
                         stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            if p.poll() is not None:
                with open(logpath) as f:
                    raise RuntimeError(f.read())
            time.sleep(0.05)
    raise RuntimeError("relayguard did not listen")


def wait(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


@pytest.mark.skipif(not pfrelay.available(), reason="needs Postfix and root")
def test_postfix_relays_through_relayguard(tmp_path):
    sink = Sink(tmp_path).start()
    conf, port = start_gateway(tmp_path, sink.port)
    g = run_gateway(conf, port, str(tmp_path / "serve.log"))
    pf = None
    try:
        pfport = free_port()
        pf = pfrelay.PostfixRelay(tmp_path, pfport, "[127.0.0.1]:%d" % port, {
            "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
            "queue_run_delay": "1s"}).start()
        body = ("From: Sam <sam@gw.test>\r\nTo: <bob@x.test>\r\nSubject: headers intact\r\n"
                "Message-ID: <intact-1@gw.test>\r\nX-Folded: first part\r\n\tsecond part\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                "line one\r\n.line with a leading dot\r\n..two dots\r\nlast\r\n")
        with smtplib.SMTP("127.0.0.1", pfport, timeout=10) as s:
            s.sendmail("sam@gw.test", ["bob@x.test", "carol@y.test"], body)
        assert wait(lambda: sink.count() == 1, 90), pf.logtext() + open(tmp_path / "serve.log").read()
        (_, got), = sink.messages()
        text = got.decode()
        assert "X-Mail-Args: <sam@gw.test>" in text
        assert "X-Rcpt-Args: <bob@x.test>" in text or "<bob@x.test>" in text
        assert "<carol@y.test>" in text
        # the original header, byte for byte and in order, after the Received lines
        hdr = body.split("\r\n\r\n")[0]
        assert hdr.replace("\r\n", "\n") in text.replace("\r\n", "\n")
        assert "\nline one\n.line with a leading dot\n..two dots\nlast\n" in text.replace("\r\n", "\n")
        # one Received from each hop: Postfix, relayguard, the sink
        assert text.count("Received:") >= 3, text
        assert "pf.test" in text
        serve = open(tmp_path / "serve.log").read()
        assert "event=done" in serve and "status=sent" in serve
    finally:
        if pf:
            pf.stop()
        g.terminate()
        g.wait(15)
        sink.stop()


def test_kill9_loses_nothing(tmp_path):
    sink = Sink(tmp_path).start()
    conf, port = start_gateway(tmp_path, sink.port)
    logpath = str(tmp_path / "serve.log")
    g = run_gateway(conf, port, logpath)
    total, kills = 300, 3
    acked, stop = [], threading.Event()

    def sender(base, n):
        i = 0
        while i < n and not stop.is_set():
            mid = "k%d-%d@gw.test" % (base + i, int(time.time() * 1000))
            msg = "From: <sam@gw.test>\r\nSubject: %d\r\nMessage-ID: <%s>\r\n\r\nbody\r\n" % (
                base + i, mid)
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
                    s.sendmail("sam@gw.test", ["r%d@x.test" % (base + i)], msg)
                acked.append(mid)
                i += 1
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # relayguard is down: try again (a new Message-ID)

    senders = [threading.Thread(target=sender, args=(k * 1000, total // 4)) for k in range(4)]
    for t in senders:
        t.start()
    try:
        for k in range(kills):
            time.sleep(random.uniform(0.3, 1.5))
            g.send_signal(signal.SIGKILL)
            g.wait()
            g = run_gateway(conf, port, logpath)
        for t in senders:
            t.join(120)
            assert not t.is_alive()
        want = set(acked)

        def seen():
            ids = {}
            for _, data in sink.messages():
                for line in data.decode(errors="replace").splitlines():
                    if line.lower().startswith("message-id:"):
                        mid = line.split("<", 1)[1].rstrip(">")
                        ids[mid] = ids.get(mid, 0) + 1
            return ids

        assert wait(lambda: want <= set(seen()), 120)
        ids = seen()
        lost = want - set(ids)
        dups = sum(n - 1 for m, n in ids.items() if m in want and n > 1)
        print("kill9: acknowledged %d, delivered %d distinct, lost %d, duplicates %d, kills %d"
              % (len(want), len(ids), len(lost), dups, kills))
        assert not lost
        assert max(ids.values()) <= 1 + kills
        assert dups <= kills * 20  # at most the connections in flight at each kill
    finally:
        stop.set()
        for t in senders:
            t.join(10)
        g.terminate()
        g.wait(15)
        sink.stop()
