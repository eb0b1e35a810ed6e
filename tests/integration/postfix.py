"""A real Postfix for integration tests: its own configuration and queue under
a fresh directory in /tmp (Postfix's daemons run as the postfix user, so the
directory must be reachable by it), smtpd on a free loopback port, every
other service local, nothing delivered anywhere (the default transport is
`discard`, so accepted mail is gone from the queue at once, and HOLD leaves
it in the hold queue where the test can see it).

    pf = Postfix(policy_port=10040)      # check_policy_service inet:127.0.0.1:10040
    pf.start(); ...; pf.stop()

SMTP AUTH works against a stand-in for Dovecot's auth server (the Dovecot
SASL protocol, a few lines of it): every password but "wrong" is right, so
Postfix hands the login to the policy service as sasl_username. XCLIENT is
allowed from loopback, so a test can also choose the client address.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from conftest import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DAEMON_DIR = "/usr/lib/postfix/sbin"

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
daemon_directory = {daemon_dir}
command_directory = /usr/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.relayguard.test
mydomain = relayguard.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24
# SASL through a stand-in for Dovecot's auth server (DovecotAuth below):
# any password is right except "wrong".
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/rg-auth
relay_domains = example.net
default_transport = discard
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:{policy_port}, permit_mynetworks, permit_sasl_authenticated, reject
smtpd_end_of_data_restrictions = {end_of_data}
smtpd_policy_service_max_idle = 300s
smtpd_policy_service_request_limit = 0
smtpd_delay_reject = yes
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
anvil_rate_time_unit = 60s
biff = no
alias_maps =
alias_database =
"""


class DovecotAuth:
    """Dovecot's auth protocol (server side, version 1.2) on a Unix socket:
    handshake with one mechanism, PLAIN; AUTH answers OK with the login, or
    FAIL for the password "wrong"."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.talk, args=(conn,), daemon=True).start()

    def talk(self, conn):
        import base64
        f = conn.makefile("rwb", buffering=0)
        try:
            f.write(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\n"
                    b"COOKIE\t" + b"0" * 32 + b"\nDONE\n")
            for line in f:
                parts = line.rstrip(b"\n").split(b"\t")
                if parts[0] != b"AUTH" or len(parts) < 3:
                    continue
                rid = parts[1]
                resp = [p[5:] for p in parts if p.startswith(b"resp=")]
                if not resp:
                    f.write(b"CONT\t" + rid + b"\t\n")
                    continue
                try:
                    _, user, password = base64.b64decode(resp[0]).split(b"\0")
                except ValueError:
                    f.write(b"FAIL\t" + rid + b"\n")
                    continue
                verdict = b"FAIL" if password == b"wrong" else b"OK"
                f.write(verdict + b"\t" + rid + b"\tuser=" + user + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


class Postfix:
    def __init__(self, policy_port, end_of_data=True):
        """end_of_data False: the policy service is asked at RCPT only (the
        smtpd_recipient_restrictions setup of docs/policy.md)."""
        self.dir = tempfile.mkdtemp(prefix="rg-pf-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.policy_port = policy_port
        os.mkdir(os.path.join(self.dir, "spool"), 0o755)
        os.mkdir(os.path.join(self.dir, "data"), 0o700)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            eod = "check_policy_service inet:127.0.0.1:%d" % policy_port if end_of_data else ""
            f.write(MAIN_CF.format(dir=self.dir, daemon_dir=DAEMON_DIR, policy_port=policy_port,
                                   end_of_data=eod))
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))

    def postfix(self, *args, check=True):
        return subprocess.run([POSTFIX, "-c", self.dir] + list(args), capture_output=True,
                              text=True, timeout=60, check=check)

    def start(self):
        private = os.path.join(self.dir, "spool", "private")
        os.makedirs(private, 0o700, exist_ok=True)
        shutil.chown(private, "postfix")
        self.auth = DovecotAuth(os.path.join(private, "rg-auth"))
        p = self.postfix("start", check=False)
        if p.returncode != 0:
            raise RuntimeError("postfix start: %s%s\n%s" % (p.stdout, p.stderr, self.log()))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("postfix smtpd does not listen on %d\n%s" % (self.port, self.log()))

    def stop(self):
        self.postfix("stop", check=False)
        # master exits within a second or two; the directory goes after it
        pid = os.path.join(self.dir, "spool", "pid", "master.pid")
        deadline = time.monotonic() + 10
        while os.path.exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if getattr(self, "auth", None):
            self.auth.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def held(self):
        """Queue ids in the hold queue."""
        hold = os.path.join(self.dir, "spool", "hold")
        try:
            return sorted(os.listdir(hold))
        except OSError:
            return []
