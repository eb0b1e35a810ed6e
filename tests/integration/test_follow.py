"""Live log follow ([follow] files, docs/follow.md) and the firewall ban set
([firewall] ban_set, docs/firewall.md).

serve runs in a network namespace made here, with an nftables table and sets
of its own. Postfix SASL failures and Dovecot login failures against anna's
account, from one attacking IP, are appended to the followed mail.log, which
is rotated midway (renamed, written to once more under its old name, then
created again): only when every part is read does the attacker reach
[auth] ip_failures. Then the attacker is refused at its next policy request
and sits in the nftables set (an IPv6 attacker in Dovecot's own log in the
v6 set, as its /64); another IP is not refused; anna, from her own address,
is not refused either. The gateway's own AUTH lockout goes into the set
too. Another test: the history before serve started is not replayed, a log
truncated in place (copytruncate) is read again from its start, and Exim's
failures are read as well (/metrics counts each server's)."""
import base64
import ctypes
import os
import smtplib
import socket
import subprocess
import threading
import time
import urllib.request

import conftest
from conftest import RG_BIN, free_port, rg
from rgserve import Serve
from test_unprivileged import netns  # noqa: F401 (a fixture)

ATTACKER = "203.0.113.50"
ATTACKER6 = "2001:db8:1::5"
ANNA = "anna@corp.test"
ANNA_IP = "198.51.100.77"
CLONE_NEWNET = 0x40000000


def in_ns(ns, fn):
    """fn() run in namespace ns, its result returned: setns() moves only the
    calling thread, so fn runs on a thread of its own (sockets it makes stay
    in the namespace)."""
    out = {}

    def run():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["err"] = os.strerror(ctypes.get_errno())
                return
            out["result"] = fn()
        except Exception as e:  # handed to the caller's thread
            out["err"] = repr(e)
        finally:
            os.close(fd)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert "result" in out, out.get("err")
    return out["result"]


def connect(port):
    deadline = time.monotonic() + 15
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class NsPolicy(conftest.Policy):
    """conftest's policy client on a socket made in the namespace."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def action(self, ip, user="", state="RCPT"):
        attrs = dict(protocol_state=state, protocol_name="ESMTP", client_address=ip,
                     client_name="unknown", sasl_username=user, sender="x@corp.test",
                     recipient="y@example.net", instance="i%d" % time.monotonic_ns())
        if state == "END-OF-MESSAGE":
            attrs.update(recipient="", recipient_count="1", size="100")
        return self.ask(**attrs).split("=", 1)[1]


def wait_for(pred, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = pred()
        if r:
            return r
        time.sleep(0.05)
    return pred()


def append(path, lines):
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def postfix_fail(ip, user=ANNA):
    return ("Dec  6 08:00:01 mx postfix/submission/smtpd[2001]: warning: unknown[%s]: "
            "SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=%s" % (ip, user))


def dovecot_fail(ip, n, user=ANNA):
    return ("Dec  6 08:00:02 mx dovecot: imap-login: Login aborted: Connection closed "
            "(auth failed, %d attempts in 9 secs) (auth_failed): user=<%s>, method=PLAIN, "
            "rip=%s, lip=192.0.2.1, TLS, session=<q1w2e3r4>" % (n, user, ip))


def dovecot_own_fail(ip, n, user=ANNA):
    """Dovecot's own log_path file: a dated stamp, no host, no tag."""
    return ("2026-12-06 08:00:03 pop3-login: Info: Aborted login (auth failed, %d attempts "
            "in 4 secs): user=<%s>, method=PLAIN, rip=%s, lip=192.0.2.1, session=<abcd>"
            % (n, user, ip))


def dovecot_login(ip, user=ANNA):
    return ("Dec  6 08:00:04 mx dovecot: imap-login: Login: user=<%s>, method=PLAIN, "
            "rip=%s, lip=192.0.2.1, mpid=4242, TLS, session=<YADINsQCDs5BH8Pg>" % (user, ip))


def postfix_login(ip, user=ANNA):
    return ("Dec  6 08:00:05 mx postfix/submission/smtpd[2002]: 4Tz1Bq2xQ7: "
            "client=unknown[%s], sasl_method=PLAIN, sasl_username=%s" % (ip, user))


def nft(ns, *args):
    return subprocess.run(["ip", "netns", "exec", ns, "nft"] + list(args), capture_output=True,
                          text=True, timeout=10, check=True).stdout


class NsServe(Serve):
    """relayguard serve in namespace ns (started as root, staying root);
    log() and stop() are rgserve's."""

    def __init__(self, tmp_path, ns, conf, gateway=""):
        self.path = tmp_path / "relayguard.conf"
        self.path.write_text("[gateway]\nstate_dir = %s\nuser = root\nlog_level = debug\n%s"
                             "[web]\nlisten =\n%s" % (tmp_path / "var", gateway, conf))
        self.errfile = str(tmp_path / "serve.err")
        self.err = open(self.errfile, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, RG_BIN, "serve", "--config",
                                      str(self.path)], stdout=subprocess.DEVNULL, stderr=self.err)
        assert wait_for(lambda: "serve: started" in self.log() or self.proc.poll() is not None)
        assert self.proc.poll() is None, self.log()


def ban_table(ns):
    nft(ns, "add", "table", "inet", "relayguard_ban")
    nft(ns, "add set inet relayguard_ban banned4 { type ipv4_addr; flags timeout; }")
    nft(ns, "add set inet relayguard_ban banned6 { type ipv6_addr; flags interval, timeout; }")


def banned(ns, setname="banned4"):
    return nft(ns, "list", "set", "inet", "relayguard_ban", setname)


BAN = ("[firewall]\nban_set = inet relayguard_ban banned4\n"
       "ban_set6 = inet relayguard_ban banned6\nban_timeout = 1h\n")


def test_follow_locks_out_and_bans_across_a_rotation(tmp_path, netns):
    t0 = time.monotonic()
    ban_table(netns)
    maillog = str(tmp_path / "mail.log")
    dovelog = str(tmp_path / "dovecot.log")
    open(maillog, "w").close()
    open(dovelog, "w").close()
    port = free_port()
    srv = NsServe(tmp_path, netns,
                  "[listener submission]\nlisten = 127.0.0.1:%d\n"
                  "[policyd]\nlisten = 127.0.0.1:%d\n[auth]\nip_failures = 10\n"
                  "[follow]\nfiles = %s, %s\npoll_interval = 50ms\n%s"
                  % (free_port(), port, maillog, dovelog, BAN))
    log = srv.log
    try:
        assert "follow: following %s" % maillog in log()
        pol = NsPolicy(in_ns(netns, lambda: connect(port)))

        # anna logs in from her own address: it becomes a known IP of hers
        append(maillog, [dovecot_login(ANNA_IP)])
        # the attack: 4 failures, then the log is rotated
        append(maillog, [postfix_fail(ATTACKER)] * 4)
        assert wait_for(lambda: log().count("postfix fail login") >= 4), log()
        assert pol.action(ATTACKER) == "DUNNO"
        os.rename(maillog, maillog + ".1")
        # the writer still holds the old file: 4 more land there
        append(maillog + ".1", [postfix_fail(ATTACKER)] * 2 + [dovecot_fail(ATTACKER, 2)])
        # then the new file: 4 more (and anna's password is "guessed" from the attacker)
        append(maillog, [dovecot_fail(ATTACKER, 3), postfix_fail(ATTACKER),
                         postfix_login(ATTACKER)])
        reply = wait_for(lambda: pol.action(ATTACKER) != "DUNNO" and pol.action(ATTACKER))
        assert reply.startswith("REJECT"), (reply, log())
        assert "auth_ip_lockout" in reply
        assert "ip:%s is blocked (rule auth_ip_lockout" % ATTACKER in log()

        # an IPv6 attacker in Dovecot's own log file: its /64 is locked out
        append(dovelog, [dovecot_own_fail(ATTACKER6, 3)] * 4)
        assert wait_for(lambda: pol.action(ATTACKER6).startswith("REJECT")), log()

        # another IP, and anna from her own address, are not refused
        assert pol.action("192.0.2.99") == "DUNNO"
        assert pol.action("192.0.2.99", user="bob@corp.test") == "DUNNO"
        assert pol.action(ANNA_IP, user=ANNA) == "DUNNO"
        assert pol.action(ANNA_IP, user=ANNA, state="END-OF-MESSAGE") == "DUNNO"
        # a login of hers from a new address after the attack is not refused either
        append(maillog, [postfix_login("198.51.100.78")])
        time.sleep(0.3)
        # (accepted; a RCPT request counts the message, so the guessed-password
        # signal may warn: docs/policy.md "Three Postfix setups")
        a = pol.action("198.51.100.78", user=ANNA)
        assert a == "DUNNO" or a.startswith("WARN"), a

        # the firewall: the attacker in the v4 set with a timeout, its /64 in the v6 set
        s4 = wait_for(lambda: ATTACKER in banned(netns) and banned(netns))
        assert s4 and ATTACKER in s4, log()
        assert "expires" in s4 and "192.0.2.99" not in s4 and ANNA_IP not in s4
        assert wait_for(lambda: "2001:db8:1::/64" in banned(netns, "banned6")), log()
        assert wait_for(lambda: "firewall: %s added to the set inet relayguard_ban banned4"
                        % ATTACKER in log()), log()
        pol.close()
    finally:
        assert srv.stop() == 0, log()
    assert time.monotonic() - t0 < 60


def smtp_auth_failures(port, n):
    """n wrong passwords, one connection each; the replies to AUTH."""
    codes = []
    for i in range(n):
        s = smtplib.SMTP("127.0.0.1", port, timeout=20)
        s.ehlo("attacker.example")
        code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0anna@corp.test\0wrong%d" % i).decode())
        codes.append(code)
        s.close()
    return codes


def test_gateway_auth_lockout_goes_to_the_ban_set(tmp_path, netns):
    """The gateway's own AUTH: the IP it locks out goes into the set too."""
    ban_table(netns)
    users = tmp_path / "users"
    r = rg("user", "add", "--cost", "min", "--password-stdin", "--file", users, ANNA,
           stdin="Correct-Horse-Battery-9\n")
    assert r.rc == 0, r.err
    port = free_port()
    srv = NsServe(tmp_path, netns,
                  "[listener submission]\nlisten = 127.0.0.1:%d\ntls = none\n"
                  "require_tls_for_auth = no\n[policyd]\nlisten =\n"
                  "[auth]\nip_failures = 4\ndelay = 0\ndelay_max = 0\n%s" % (port, BAN),
                  gateway="users = %s\n" % users)
    try:
        codes = in_ns(netns, lambda: smtp_auth_failures(port, 6))
        assert codes == [535] * 6, codes  # a locked-out IP is told no more than that
        assert "ip:127.0.0.1 is blocked (rule auth_ip_lockout" in srv.log()
        assert wait_for(lambda: "127.0.0.1" in banned(netns)), srv.log()
        # the element is in the set before nft exits and the worker logs it
        assert wait_for(lambda: "firewall: 127.0.0.1 added to the set" in srv.log()), srv.log()
    finally:
        assert srv.stop() == 0, srv.log()


def test_follow_history_not_replayed_and_truncation(tmp_path):
    maillog = str(tmp_path / "mail.log")
    # history: a brute force from before serve started is not replayed
    with open(maillog, "w") as f:
        f.write("".join(postfix_fail("192.0.2.5") + "\n" for _ in range(30)))
    srv = Serve(tmp_path, "[auth]\nip_failures = 10\n[follow]\nfiles = %s\n"
                "poll_interval = 50ms\n" % maillog)
    srv.start()
    try:
        assert wait_for(lambda: "follow: following" in srv.log()), srv.log()
        pol = NsPolicy(connect(srv.policy))
        assert pol.action("192.0.2.5") == "DUNNO"
        # much more than comes after the truncation, none of it failures
        append(maillog, ["Dec  6 08:00:00 mx postfix/smtpd[1]: connect from "
                         "unknown[192.0.2.200]"] * 200)
        time.sleep(0.3)
        # copytruncate: the file is emptied in place, then written again
        with open(maillog, "r+") as f:
            f.truncate(0)
        append(maillog, [postfix_fail("192.0.2.6", user="")] * 6 +
               [dovecot_fail("192.0.2.6", 3, user="carl")] * 2 +
               ["2026-12-06 08:00:06 [7513] fixed_login authenticator failed for (ylmf-pc) "
                "[192.0.2.7]:60723 I=[172.16.0.6]:587: 535 Incorrect authentication data "
                "(set_id=sales@corp.test)"] * 3)
        reply = wait_for(lambda: pol.action("192.0.2.6").startswith("REJECT")
                         and pol.action("192.0.2.6"))
        assert reply, srv.log()
        assert pol.action("192.0.2.5") == "DUNNO"
        # /metrics counts what was read after the start, by server and result
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.web,
                                      timeout=10).read().decode()
        assert 'relayguard_follow_logins_total{source="postfix",result="failed"} 6' in text
        assert 'relayguard_follow_logins_total{source="dovecot",result="failed"} 6' in text
        assert 'relayguard_follow_logins_total{source="exim",result="failed"} 3' in text
        assert pol.action("192.0.2.7") == "DUNNO"  # 3 failures: below ip_failures
        pol.close()
    finally:
        assert srv.stop() == 0, srv.log()
