"""Alerts on blocks by mail ([alert] mail_to): a block created through the
Postfix policy service becomes one message to the admin addresses, committed
into the gateway's own queue and sent by its own delivery (here to Postfix's
smtp-sink as the relayhost). Later blocks within block_digest go out as one
digest message."""
import os
import time

from sink import Sink
from spool import read_spool
from webtools import Policy, Server, compromise


def wait(cond, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_block_alert_is_queued_and_delivered(tmp_path):
    sink = Sink(tmp_path).start()
    srv = Server(tmp_path, extra=(
        "[alert]\nmail_to = admin@corp.test, sec@corp.test\nblock_digest = 2s\n"
        "[delivery]\nrelayhost = [127.0.0.1]:%d\ntls = none\n" % sink.port))
    pol = Policy(srv.policy_port)
    try:
        replies = compromise(pol)
        assert any(r.startswith("action=REJECT relayguard block:compromise") for r in replies)
        log = tmp_path / "serve.log"
        assert wait(lambda: sink.count() >= 1), log.read_text()
        msgs = sink.messages()
        assert len(msgs) == 1, msgs
        data = msgs[0][1].decode("utf-8", "replace").replace("\r\n", "\n")
        for h in ("Subject: relayguard: 1 block\n", "Auto-Submitted: auto-generated\n",
                  "To: <admin@corp.test>,\n    <sec@corp.test>\n", "X-Mail-Args: <postmaster@", "X-Rcpt-Args: <admin@corp.test>",
                  "X-Rcpt-Args: <sec@corp.test>", "Message-ID: <",
                  "From: relayguard <postmaster@"):
            assert h in data, data
        assert "user:ann@corp.test" in data and "rule: compromise" in data, data
        assert "queued for 2 address(es)" in log.read_text()
        # A second account within the digest interval: one digest message.
        compromise(pol, user="bob@corp.test")
        compromise(pol, user="cat@corp.test")
        assert wait(lambda: sink.count() >= 2, 15), log.read_text()
        time.sleep(0.5)
        assert sink.count() == 2
        texts = [m[1].decode("utf-8", "replace").replace("\r\n", "\n") for m in sink.messages()]
        digest = [t for t in texts if "user:bob@" in t]
        assert len(digest) == 1, texts
        digest = digest[0]
        assert "Subject: relayguard: 2 blocks\n" in digest, digest
        assert "user:bob@corp.test" in digest and "user:cat@corp.test" in digest
        # Delivered: nothing left in the gateway's spool.
        assert wait(lambda: not read_spool(os.path.join(str(tmp_path), "var", "spool")), 5)
    finally:
        pol.close()
        rc = srv.stop()
        sink.stop()
    text = (tmp_path / "serve.log").read_text()
    assert "AddressSanitizer" not in text and "runtime error" not in text, text
    assert rc == 0, text
