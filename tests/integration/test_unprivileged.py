"""serve started as root gives root up once its listeners are bound
([gateway] user): in a network namespace made here, on ports 25, 465 and 587,
it runs as nobody with no capability left and still takes and delivers mail.
Every descriptor the daemon holds is close-on-exec, and an alert program
sees stdin, stdout and stderr only."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import RG_BIN, rg
from rgserve import Serve
from test_redis_nodes import eom
from test_serve import Policy

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
O_CLOEXEC = 0o2000000

CLIENT = r"""
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
msg = "From: a@example.org\r\nTo: b@example.net\r\nSubject: port %d\r\n\r\nhello\r\n"
for port in (25, 587, 465):
    if port == 465:
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=20)
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=20)
        if port == 587:
            s.starttls(context=ctx)
    s.sendmail("a@example.org", ["b@example.net"], msg % port)
    s.quit()
print("sent")
"""


def status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def wait_for(pred, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def netns():
    assert os.geteuid() == 0, "this test starts serve as root in a network namespace"
    name = "rgtest%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_serve_as_nobody_on_25_465_587(netns):
    base = tempfile.mkdtemp(prefix="rg-unpriv-", dir="/tmp")
    procs = []
    try:
        os.chmod(base, 0o755)
        sink_dir = os.path.join(base, "sink")
        os.mkdir(sink_dir)
        os.chmod(sink_dir, 0o777)
        conf = os.path.join(base, "relayguard.conf")
        state = os.path.join(base, "var")
        with open(conf, "w") as f:
            f.write("[gateway]\nstate_dir = %s\nuser = nobody\nhostname = gw.test\n"
                    "[policyd]\nlisten =\n[web]\nlisten =\n"
                    "[listener smtp]\nlisten = 127.0.0.1:25\nrole = relay\ntls = starttls\n"
                    "[listener submission]\nlisten = 127.0.0.1:587\nrole = relay\n"
                    "tls = starttls\n"
                    "[listener submissions]\nlisten = 127.0.0.1:465\nrole = relay\n"
                    "tls = implicit\n"
                    "[delivery]\nrelayhost = [127.0.0.1]:2600\nrelayhost_tls = none\n"
                    "poll_interval = 20ms\n" % state)
        sink = subprocess.Popen(["ip", "netns", "exec", netns, SMTP_SINK, "-u", "nobody", "-d",
                                 os.path.join(sink_dir, "%H%M%S."), "127.0.0.1:2600", "64"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(sink)
        errfile = os.path.join(base, "serve.err")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        with open(errfile, "w") as err:
            srv = subprocess.Popen(["ip", "netns", "exec", netns, RG_BIN, "serve", "--config",
                                    conf], stdout=subprocess.DEVNULL, stderr=err, env=env)
        procs.append(srv)

        def log():
            with open(errfile, errors="replace") as f:
                return f.read()
        assert wait_for(lambda: "serve: started" in log() or srv.poll() is not None), log()
        assert srv.poll() is None, log()
        assert "running as user nobody" in log()
        st = status_fields(srv.pid)
        nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True,
                                    check=True).stdout)
        nogroup = int(subprocess.run(["id", "-g", "nobody"], capture_output=True, text=True,
                                     check=True).stdout)
        assert st["Uid"] == [str(nobody)] * 4, st["Uid"]
        assert st["Gid"] == [str(nogroup)] * 4, st["Gid"]
        assert st["Groups"] == [str(nogroup)], st["Groups"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert int(st[cap][0], 16) == 0, (cap, st[cap])
        # The state and spool are nobody's now.
        assert os.stat(state).st_uid == nobody
        for root, dirs, files in os.walk(state):
            for n in dirs + files:
                assert os.lstat(os.path.join(root, n)).st_uid == nobody, os.path.join(root, n)
        # Mail flows on every port, through the queue, to the sink.
        r = subprocess.run(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", CLIENT],
                           capture_output=True, text=True, timeout=90)
        assert r.returncode == 0 and "sent" in r.stdout, r.stderr + log()
        assert wait_for(lambda: len(os.listdir(sink_dir)) == 3, 30), log()
        subjects = set()
        for n in os.listdir(sink_dir):
            with open(os.path.join(sink_dir, n), errors="replace") as f:
                subjects |= {l.strip() for l in f if l.startswith("Subject:")}
        assert subjects == {"Subject: port 25", "Subject: port 587", "Subject: port 465"}
        srv.terminate()
        assert srv.wait(20) == 0, log()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_missing_user_named_in_the_file_is_refused(tmp_path):
    assert os.geteuid() == 0, "this test starts serve as root"
    srv = Serve(tmp_path, "[gateway]\nuser = rg-no-such-user\n")
    p = subprocess.run([RG_BIN, "serve", "--config", srv.conf], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2, p.stderr
    assert "[gateway] user rg-no-such-user does not exist" in p.stderr


def open_fds(pid):
    """fd -> open flags of every descriptor of pid."""
    out = {}
    for fd in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    if line.startswith("flags:"):
                        out[int(fd)] = int(line.split()[1], 8)
        except FileNotFoundError:
            pass
    return out


def test_every_descriptor_is_close_on_exec(tmp_path):
    srv = Serve(tmp_path, "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\n"
                % __import__("conftest").free_port()).start()
    held = []
    try:
        assert wait_for(lambda: "serve: started" in srv.log()), srv.log()
        # Connections of every kind open: SMTP sessions, the policy service, the web.
        with open(srv.conf) as f:
            ports = [int(l.rsplit(":", 1)[1]) for l in f if l.startswith("listen = 127.0.0.1:")]
        for p in ports:
            s = socket.create_connection(("127.0.0.1", p), timeout=5)
            held.append(s)
        time.sleep(0.5)
        fds = open_fds(srv.proc.pid)
        assert len(fds) > 3 + len(ports)
        leaky = {fd: os.readlink("/proc/%d/fd/%d" % (srv.proc.pid, fd))
                 for fd, flags in fds.items() if fd > 2 and not flags & O_CLOEXEC}
        assert leaky == {}, leaky
    finally:
        for s in held:
            s.close()
        assert srv.stop() == 0, srv.log()


def test_alert_program_sees_only_stdin_stdout_stderr(tmp_path):
    out = tmp_path / "fds.txt"
    alert = tmp_path / "alert.sh"
    alert.write_text("#!/bin/sh\ncat >/dev/null\nls /proc/self/fd > %s.tmp\nmv %s.tmp %s\n"
                     % (out, out, out))
    alert.chmod(0o755)
    srv = Serve(tmp_path, "[limits]\nmsg_hour = 4\nmsg_minute = 100\n"
                "[alert]\nexec = %s\nblock_digest = 60s\n" % alert).start()
    try:
        pol = Policy(srv.policy)
        held = [socket.create_connection(("127.0.0.1", srv.policy), timeout=5)
                for _ in range(3)]
        replies = []
        for i in range(12):
            replies.append(pol.ask(**eom("eve@corp.test", "10.%d.0.1" % (i * 20),
                                         sender="x%d@spam%d.test" % (i, i))))
            if replies[-1].startswith("action=REJECT"):
                break
        assert replies[-1].startswith("action=REJECT relayguard compromise"), replies
        assert wait_for(out.exists, 15), srv.log()
        # ls's own directory descriptor is the one above 2.
        fds = sorted(int(x) for x in out.read_text().split())
        assert fds == [0, 1, 2, 3], fds
        pol.close()
        for s in held:
            s.close()
    finally:
        assert srv.stop() == 0, srv.log()
