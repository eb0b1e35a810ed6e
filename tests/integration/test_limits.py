"""The machine's limits: serve raises RLIMIT_NOFILE to what its connection
limits need (2,000 idle SMTP connections started under a soft limit of 1,024
all get their greeting, and the daemon keeps answering everything else),
refuses a configuration that cannot fit the hard limit, and /healthz answers
503, naming the spool, when the spool is not writable."""
import os
import pwd
import resource
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from conftest import RG_BIN, free_port
from rgserve import Serve
from test_redis_nodes import eom
from test_serve import Policy


def limit_1024():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def soft_1024():
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def max_open_files(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def wait_log(srv, text, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in srv.log():
        time.sleep(0.05)
    return text in srv.log()


def healthz(srv):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % srv.web, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_2000_idle_connections_under_a_soft_limit_of_1024(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4500), hard))
    port = free_port()
    srv = Serve(tmp_path, "[gateway]\nmax_connections = 2500\nmax_connections_per_client = 3000\n"
                "smtp_timeout = 300s\n[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\n"
                "tls = none\n[policyd]\nmax_connections = 50\n[delivery]\nmax_connections = 10\n"
                % port)
    srv.start(preexec_fn=soft_1024)
    held = []
    try:
        assert wait_log(srv, "serve: started"), srv.log()
        assert max_open_files(srv.proc.pid) >= 2500 + 50 + 10
        for i in range(2000):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=20))
        for s in held:
            assert s.recv(512).startswith(b"220 "), srv.log()[-2000:]
        # The daemon answers everything else meanwhile.
        assert "accept: " not in srv.log()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            assert s.recv(512).startswith(b"220 ")
            s.sendall(b"EHLO client.test\r\n")
            assert s.recv(4096).startswith(b"250")
        pol = Policy(srv.policy)
        assert pol.ask(**eom("ann@corp.test", "192.0.2.1")) == "action=DUNNO"
        pol.close()
        assert healthz(srv)[0] == 200
    finally:
        for s in held:
            s.close()
        assert srv.stop() == 0, srv.log()[-3000:]


def as_nobody():
    pw = pwd.getpwnam("nobody")
    limit_1024()
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


def test_a_configuration_that_cannot_fit_is_refused():
    assert os.geteuid() == 0, "the test runs serve as nobody under a hard limit of 1,024"
    base = tempfile.mkdtemp(prefix="rg-limits-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        srv = Serve(base, "[gateway]\nmax_connections = 1000\n")
        os.chmod(srv.conf, 0o644)
        pw = pwd.getpwnam("nobody")
        os.chown(srv.dir, pw.pw_uid, pw.pw_gid)
        p = subprocess.run([RG_BIN, "serve", "--config", srv.conf], capture_output=True,
                           text=True, timeout=30, preexec_fn=as_nobody)
        assert p.returncode == 2, p.stderr
        assert ("needs 1856 file descriptors but the hard limit (RLIMIT_NOFILE) is 1024 "
                "([gateway] max_connections 1000 + [policyd] max_connections 500 + [delivery] "
                "max_connections 100 + 256 spare): lower them") in p.stderr, p.stderr
        # Limits that fit start.
        with open(srv.conf, "a") as f:
            f.write("[gateway]\nmax_connections = 300\n[policyd]\nmax_connections = 100\n")
        srv.start(preexec_fn=as_nobody)
        assert wait_log(srv, "serve: started"), srv.log()
        assert max_open_files(srv.proc.pid) == 1024
        assert srv.stop() == 0, srv.log()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_healthz_503_when_the_spool_is_not_writable():
    assert os.geteuid() == 0, "the test runs serve as root dropping to nobody"
    base = tempfile.mkdtemp(prefix="rg-health-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        srv = Serve(base, "[gateway]\nuser = nobody\n")
        srv.start()
        assert wait_log(srv, "serve: started"), srv.log()
        assert healthz(srv) == (200, "ok\n")
        spool = os.path.join(srv.dir, "var", "spool")
        os.chmod(spool, 0o500)  # nobody owns it and may no longer write
        code, body = healthz(srv)
        assert code == 503 and body.startswith("unavailable: spool: %s is not writable" % spool), body
        os.chmod(spool, 0o750)
        assert healthz(srv) == (200, "ok\n")
        assert srv.stop() == 0, srv.log()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting(tmp_path):
    port = free_port()
    srv = Serve(tmp_path, "[gateway]\nmax_connections_per_client = 500\n"
                "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n" % port)
    srv.start()
    held = []
    try:
        assert wait_log(srv, "serve: started"), srv.log()
        pid = srv.proc.pid
        in_use = len(os.listdir("/proc/%d/fd" % pid))
        # Descriptors run out under it (an admin's prlimit, a leak elsewhere).
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 20, in_use + 20))
        for i in range(60):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert wait_log(srv, "not accepting for 100 ms"), srv.log()[-2000:]
        # Connections wait in the backlog; the loop does not spin on them.
        before = cpu_seconds(pid)
        time.sleep(2)
        used = cpu_seconds(pid) - before
        assert used < 0.5, used
        # Sessions that got in are served meanwhile.
        s = held[0]
        assert s.recv(512).startswith(b"220 ")
        s.sendall(b"NOOP\r\n")
        assert s.recv(512).startswith(b"250")
        # Once sessions end, the waiting ones get their greeting, and the
        # policy service answers.
        for s in held[:50]:
            s.close()
        for s in held[50:]:
            s.settimeout(10)
            assert s.recv(512).startswith(b"220 "), srv.log()[-2000:]
        pol = Policy(srv.policy)
        assert pol.ask(**eom("ann@corp.test", "192.0.2.1")) == "action=DUNNO"
        pol.close()
    finally:
        for s in held:
            s.close()
        assert srv.stop() == 0, srv.log()[-3000:]
