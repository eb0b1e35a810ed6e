"""SIGHUP: a running serve reads its configuration again. A limit, a per-user
policy section and the TLS certificate change without a connection dropped;
what needs a restart (a listener's address) is named in the log and keeps
running as it was; a broken file is refused and the old configuration stays."""
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import time

from conftest import free_port
from rgserve import Serve
from test_redis_nodes import eom
from test_serve import Policy


def make_cert(d, cn):
    key, crt = os.path.join(d, cn + ".key"), os.path.join(d, cn + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=" + cn, "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


def peer_cn(sock):
    der = sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().rsplit("=", 1)[1].strip()


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_log(srv, text, after=0, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in srv.log()[after:]:
            return True
        time.sleep(0.05)
    return False


def sighup(srv, text, expect):
    """Writes the configuration, sends SIGHUP, waits for expect; the log since."""
    with open(srv.conf, "w") as f:
        f.write(text)
    mark = len(srv.log())
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_log(srv, expect, mark), srv.log()[mark:]
    return srv.log()[mark:]


def rcpt_limit(port):
    """How many RCPTs a new session takes (up to 6)."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("client.test")
    s.mail("a@example.org")
    n = 0
    for i in range(6):
        code, _ = s.rcpt("r%d@example.net" % i)
        if code != 250:
            break
        n += 1
    s.quit()
    return n


def test_sighup_reload(tmp_path):
    a_crt, a_key = make_cert(str(tmp_path), "one.test")
    b_crt, b_key = make_cert(str(tmp_path), "two.test")
    relay, moved = free_port(), free_port()
    gateway = ("[gateway]\nmax_recipients = %d\ntls_cert = %s\ntls_key = %s\n"
               "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = starttls\n"
               "[limits]\nmsg_hour = 100\nmsg_minute = 100\n"
               "[user ann@corp.test]\nmsg_hour = %d\n")
    srv = Serve(tmp_path, gateway % (5, a_crt, a_key, relay, 100))
    with open(srv.conf) as f:
        base = f.read()
    srv.start()
    try:
        assert wait_log(srv, "serve: started"), srv.log()
        assert rcpt_limit(relay) == 5
        # Connections open across the reload: SMTP in TLS, and the policy service.
        old = smtplib.SMTP("127.0.0.1", relay, timeout=10)
        old.ehlo("client.test")
        old.starttls(context=tls_ctx())
        assert peer_cn(old.sock) == "one.test"
        pol = Policy(srv.policy)
        for i in range(3):
            assert pol.ask(**eom("ann@corp.test", "192.0.2.1")) == "action=DUNNO"

        # A limit, a user's policy section and the certificate change.
        first = base.replace(gateway % (5, a_crt, a_key, relay, 100),
                             gateway % (2, b_crt, b_key, relay, 3))
        assert "until a restart" not in sighup(srv, first, "serve: reload done")
        assert srv.proc.poll() is None
        assert rcpt_limit(relay) == 2
        reply = pol.ask(**eom("ann@corp.test", "192.0.2.1"))
        assert reply.startswith("action=") and reply != "action=DUNNO", reply
        new = smtplib.SMTP("127.0.0.1", relay, timeout=10)
        new.ehlo("client.test")
        new.starttls(context=tls_ctx())
        assert peer_cn(new.sock) == "two.test"
        new.quit()
        # The connections from before are still served.
        assert old.noop()[0] == 250
        assert peer_cn(old.sock) == "one.test"
        assert pol.ask(**eom("bob@corp.test", "192.0.2.2")) == "action=DUNNO"

        # A listener's address needs a restart: named, and the old one stays.
        log = sighup(srv, base.replace(gateway % (5, a_crt, a_key, relay, 100),
                                       gateway % (4, b_crt, b_key, moved, 3)),
                     "serve: reload done")
        assert "until a restart: [listener ...]" in log
        assert rcpt_limit(relay) == 4
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", moved)) != 0

        # A broken file is refused; the running configuration stays.
        broken = base.replace(gateway % (5, a_crt, a_key, relay, 100),
                              gateway % (1, b_crt, b_key, relay, 3))
        log = sighup(srv, broken + "[gateway]\nmax_message_size = banana\n", "reload refused")
        assert "max_message_size" in log
        assert rcpt_limit(relay) == 4
        # So is a certificate that does not load.
        with open(b_crt, "w") as f:
            f.write("not a certificate\n")
        sighup(srv, broken, "reload refused")
        assert rcpt_limit(relay) == 4
        assert old.noop()[0] == 250
        old.quit()
        pol.close()
    finally:
        assert srv.stop() == 0, srv.log()


def test_reload_command(tmp_path):
    """relayguard reload: the control API's reload request does what SIGHUP does,
    and a broken file is refused with the old configuration in force."""
    from conftest import rg
    relay = free_port()
    gateway = ("[gateway]\nmax_recipients = %d\n"
               "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\n")
    srv = Serve(tmp_path, gateway % (5, relay))
    with open(srv.conf) as f:
        base = f.read()
    srv.start()
    try:
        assert wait_log(srv, "serve: started"), srv.log()
        assert rcpt_limit(relay) == 5
        with open(srv.conf, "w") as f:
            f.write(base.replace(gateway % (5, relay), gateway % (3, relay)))
        r = rg("reload", "--config", srv.conf)
        assert r.rc == 0, (r.out, r.err)
        assert "serve: reload done" in srv.log()
        assert rcpt_limit(relay) == 3
        with open(srv.conf, "w") as f:
            f.write(base.replace(gateway % (5, relay), gateway % (2, relay)) +
                    "[gateway]\nmax_message_size = banana\n")
        r = rg("reload", "--config", srv.conf)
        assert r.rc != 0 and "max_message_size" in r.err, (r.out, r.err)
        assert rcpt_limit(relay) == 3
        assert "reload" in rg("reload", "--help").out
    finally:
        assert srv.stop() == 0, srv.log()
