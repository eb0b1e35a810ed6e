"""A real Postfix asks relayguard serve (check_policy_service at RCPT and at
end of data) and does what it answers: DUNNO accepts, over the hourly limit
is deferred (4xx), a null-sender message to two recipients is held (hold
queue), a blocked user is refused (5xx) and `relayguard unblock` lets the
same user send again. Clients log in with SMTP AUTH (Postfix's Dovecot SASL
client against a stand-in auth server, tests/integration/postfix.py) and
choose their address with XCLIENT; Postfix passes both to the policy service."""
import os
import shutil
import smtplib
import time

import pytest

from conftest import rg
from postfix import POSTFIX, Postfix
from rgserve import Serve

pytestmark = pytest.mark.skipif(not os.path.exists(POSTFIX) or os.geteuid() != 0,
                                reason="needs Postfix (apt-get install postfix) and root")

BODY = b"From: a@corp.test\r\nTo: b@example.net\r\nSubject: test\r\n\r\nhello\r\n"


@pytest.fixture
def stack(tmp_path):
    srv = Serve(tmp_path, "[limits]\nmsg_hour = 3\nmsg_minute = 100\n").start()
    pf = Postfix(srv.policy)
    try:
        pf.start()
    except Exception:
        srv.stop()
        pf.stop()
        raise
    yield srv, pf
    pf.stop()
    assert srv.stop() == 0, srv.log()


def session(pf, user, addr):
    """Client address addr (XCLIENT), then SMTP AUTH as user."""
    s = smtplib.SMTP("127.0.0.1", pf.port, timeout=30)
    s.ehlo("client.corp.test")
    code, msg = s.docmd("XCLIENT", "ADDR=%s NAME=[UNAVAILABLE]" % addr)
    assert code == 220, (code, msg)
    s.ehlo("client.corp.test")
    s.login(user, "secret")
    return s


def send(pf, user, addr, sender, rcpts):
    """One message; returns (stage, code): stage 'rcpt' when every recipient
    was refused, else 'data' with the end-of-data code."""
    s = session(pf, user, addr)
    code, msg = s.mail(sender)
    assert code == 250, (code, msg)
    ok = 0
    last = None
    for r in rcpts:
        code, msg = s.rcpt(r)
        last = (code, msg)
        ok += code == 250
    if not ok:
        s.quit()
        return "rcpt", last[0], last[1].decode()
    try:
        code, msg = s.data(BODY)
    except smtplib.SMTPDataError as e:
        code, msg = e.smtp_code, e.smtp_error
    s.quit()
    return "data", code, msg.decode() if isinstance(msg, bytes) else msg


def test_postfix_obeys_the_policy(stack):
    srv, pf = stack
    # DUNNO: accepted; past the hourly limit a message is deferred at its first RCPT
    # (counted there: docs/policy.md "Three Postfix setups").
    results = [send(pf, "ann@corp.test", "192.0.2.10", "ann@corp.test", ["b@example.net"])
               for _ in range(5)]
    assert [r[:2] for r in results[:3]] == [("data", 250)] * 3, results + [pf.log()]
    assert all(r[0] == "rcpt" and 400 <= r[1] < 500 for r in results[3:]), results
    assert "rate_msg_hour" in results[3][2], results[3]
    # another user is not affected
    assert send(pf, "bob@corp.test", "192.0.2.11", "bob@corp.test",
                ["b@example.net"])[:2] == ("data", 250)
    # HOLD: a null sender to two recipients goes to the hold queue, accepted.
    r = send(pf, "cat@corp.test", "192.0.2.12", "<>", ["x@example.net", "y@example.net"])
    assert r[:2] == ("data", 250), r
    deadline = time.monotonic() + 10
    while not pf.held() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pf.held(), pf.log()
    # held at the first RCPT (a notification to a stranger), and the second
    # recipient is the rule's own (relayguard logs each decision; Postfix the first HOLD)
    assert "NOQUEUE: hold: RCPT from" in pf.log(), pf.log()
    assert "rule=null_sender_rcpts" in srv.log(), srv.log()


def test_postfix_refuses_a_blocked_user_until_unblocked(stack):
    srv, pf = stack
    assert send(pf, "sam@corp.test", "192.0.2.20", "sam@corp.test",
                ["b@example.net"])[:2] == ("data", 250)
    r = rg("block", "--config", srv.conf, "add", "sam@corp.test", "--reason", "password guessed")
    assert r.rc == 0, r.err
    stage, code, msg = send(pf, "sam@corp.test", "192.0.2.20", "sam@corp.test",
                            ["b@example.net"])
    assert (stage, code) == ("rcpt", 554) or (stage == "rcpt" and 500 <= code < 600), msg
    assert "password guessed" in msg, msg
    # the same user from another address is the same identity: refused too
    assert send(pf, "sam@corp.test", "198.51.100.3", "sam@corp.test", ["b@example.net"])[0] == "rcpt"
    r = rg("unblock", "--config", srv.conf, "sam@corp.test", "--reason", "password changed")
    assert r.rc == 0, r.err
    assert send(pf, "sam@corp.test", "192.0.2.20", "sam@corp.test",
                ["b@example.net"])[:2] == ("data", 250)
