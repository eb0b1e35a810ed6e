"""SMTP AUTH against existing password stores ([auth] backends, docs/users.md):
a real Dovecot (dovecot-core; passwd-file passdb, its auth-client socket in
the test's directory, no IMAP or POP3) and a real slapd (mdb database in the
test's directory, users loaded with ldapadd), beside the users file.

For each backend: the right password gives 235 and the backend's name for
the account as the identity, a wrong one 535 after the [auth] delay; a
backend stopped or hanging gives 454 4.7.0 (never 535) and counts as no
failed login; brute force is delayed and locked out exactly as with the
users file; the first backend that knows the user decides."""
import base64
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import RG_BIN, free_port, rg
from spool import read_spool

PASSWORD = "Right-horse-battery-7"
ENV = {"RELAYGUARD_ARGON2": "min"}


def wait_for(check, what, proc=None, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: exited %s" % (what, proc.returncode))
        time.sleep(0.05)
    raise RuntimeError("%s: not ready" % what)


def terminate(proc, group=False):
    """SIGTERM (to the process group: group), a clean exit waited for, else
    SIGKILL. Only processes this test started."""
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Dovecot:
    """dovecot -F with only its auth service: passwd-file users, the
    auth-client socket at self.socket."""

    def __init__(self, d):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.socket = os.path.join(d, "auth-client")
        passwd = os.path.join(d, "passwd")
        with open(passwd, "w") as f:
            f.write("sam@corp.test:{PLAIN}%s::::::\n" % PASSWORD)
            f.write("lee@corp.test:{PLAIN}lee-pass-1234::::::\n")  # in Dovecot only
        self.conf = os.path.join(d, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("protocols = none\n"
                    "base_dir = %(d)s/run\n"
                    "state_dir = %(d)s/state\n"
                    "instance_name = rgtest-%(port)d\n"
                    "log_path = %(d)s/dovecot.log\n"
                    "ssl = no\n"
                    "auth_mechanisms = plain\n"
                    # relayguard's [auth] delay is the one under test
                    "auth_failure_delay = 0\n"
                    "default_internal_user = root\n"
                    "default_internal_group = root\n"
                    "default_login_user = root\n"
                    "passdb {\n  driver = passwd-file\n  args = scheme=PLAIN %(passwd)s\n}\n"
                    "userdb {\n  driver = static\n  args = uid=root gid=root home=%(d)s/h/%%u\n}\n"
                    "service auth {\n  unix_listener %(sock)s {\n    mode = 0600\n  }\n}\n"
                    % {"d": d, "passwd": passwd, "sock": self.socket, "port": free_port()})
        self.proc = None

    def start(self):
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.log = open(os.path.join(self.dir, "stderr"), "a")
        # its own process group: stop() waits for the auth process too
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def ready():
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.socket)
                s.close()
                return True
            except OSError:
                return False
        wait_for(ready, "dovecot", self.proc)
        return self

    def stop(self):
        """Stops the master and its children: an auth process keeps serving
        the connections it has until it is told to stop itself."""
        if self.proc and self.proc.poll() is None:
            pgid = self.proc.pid
            terminate(self.proc, group=True)
            self.log.close()

            def gone():
                try:
                    os.killpg(pgid, 0)
                    return False
                except ProcessLookupError:
                    return True
            wait_for(gone, "dovecot's children")
        self.proc = None


LDIF = """dn: dc=corp,dc=test
objectClass: dcObject
objectClass: organization
dc: corp
o: Corp

dn: ou=people,dc=corp,dc=test
objectClass: organizationalUnit
ou: people

dn: uid=sam,ou=people,dc=corp,dc=test
objectClass: inetOrgPerson
uid: sam
cn: Sam
sn: Sam
mail: sam@corp.test
userPassword: %s

dn: uid=svc-relay,ou=people,dc=corp,dc=test
objectClass: inetOrgPerson
uid: svc-relay
cn: relayguard
sn: relayguard
userPassword: search-secret
""" % PASSWORD


class Slapd:
    """slapd on a free loopback port with an mdb database in the test's
    directory; anonymous users may only bind, svc-relay may search."""

    def __init__(self, d, tls=None):
        self.dir = d
        os.makedirs(os.path.join(d, "db"), exist_ok=True)
        self.port = free_port()
        self.uri = "ldap://127.0.0.1:%d/" % self.port
        self.listen = self.uri
        self.conf = os.path.join(d, "slapd.conf")
        with open(self.conf, "w") as f:
            if tls:  # a directory made by make_ca(): StartTLS, and LDAPS on a second port
                self.ldaps_uri = "ldaps://127.0.0.1:%d/" % free_port()
                self.listen += " " + self.ldaps_uri
                f.write("TLSCACertificateFile %(t)s/ca.crt\nTLSCertificateFile %(t)s/server.crt\n"
                        "TLSCertificateKeyFile %(t)s/server.key\n" % {"t": tls})
            for schema in ("core", "cosine", "inetorgperson", "nis"):
                f.write("include /etc/ldap/schema/%s.schema\n" % schema)
            f.write("modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
                    "pidfile %(d)s/slapd.pid\n"
                    "database mdb\nsuffix \"dc=corp,dc=test\"\n"
                    "rootdn \"cn=admin,dc=corp,dc=test\"\nrootpw admin-secret\n"
                    "directory %(d)s/db\nmaxsize 10485760\n"
                    "access to attrs=userPassword by anonymous auth by * none\n"
                    "access to * by dn.exact=\"uid=svc-relay,ou=people,dc=corp,dc=test\" read"
                    " by anonymous auth by * none\n" % {"d": d})
        self.proc = None
        self.loaded = False

    def start(self):
        self.log = open(os.path.join(self.dir, "stderr"), "a")
        self.proc = subprocess.Popen(["slapd", "-f", self.conf, "-h", self.listen, "-d", "0"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port), "slapd", self.proc)
        if not self.loaded:
            p = subprocess.run(["ldapadd", "-x", "-H", self.uri, "-D", "cn=admin,dc=corp,dc=test",
                                "-w", "admin-secret"], input=LDIF, capture_output=True,
                               text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            self.loaded = True
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            terminate(self.proc)
            self.log.close()
        self.proc = None


def make_ca(d):
    """A test CA and a certificate for 127.0.0.1 it signed, made with the openssl CLI."""
    os.makedirs(d, exist_ok=True)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True,
                       timeout=60)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=relayguard test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return d


class Gateway:
    """relayguard serve with one plaintext submission listener (AUTH allowed
    without TLS: loopback only) and the given [auth] options."""

    def __init__(self, d, auth, delay=("400ms", "1600ms"), policy=""):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.port = free_port()
        self.users = os.path.join(d, "var", "users")
        self.conf = os.path.join(d, "relayguard.conf")
        with open(self.conf, "w") as f:
            f.write("[gateway]\nstate_dir = %s\nusers = %s\nerror_sleep_time = 0\n"
                    "auth_failure_limit = 100\n"
                    "[policyd]\nlisten =\n[web]\nlisten =\n"
                    "[listener submission]\nlisten = 127.0.0.1:%d\nrole = submission\n"
                    "tls = none\nrequire_tls_for_auth = no\n"
                    "[delivery]\npoll_interval = 60s\n"
                    "[auth]\ndelay = %s\ndelay_max = %s\n%s%s"
                    % (os.path.join(d, "var"), self.users, self.port, delay[0], delay[1],
                       policy, auth))
        self.proc = None

    def add_user(self, name, password):
        r = rg("user", "add", "--cost", "min", "--password-stdin", "--file", self.users, name,
               stdin=password + "\n", env=ENV)
        assert r.rc == 0, r.err

    def start(self):
        self.logf = open(os.path.join(self.dir, "serve.log"), "w+")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **ENV))
        try:
            wait_for(lambda: port_open(self.port), "relayguard serve", self.proc, 30)
        except RuntimeError:
            terminate(self.proc)
            raise RuntimeError("relayguard serve did not start: " + self.logtext())
        return self

    def logtext(self):
        with open(os.path.join(self.dir, "serve.log"), errors="replace") as f:
            return f.read()

    def auth(self, user, password):
        """One AUTH PLAIN in a fresh session: (code, seconds it took)."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as s:
            s.ehlo("client.test")
            blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
            t0 = time.monotonic()
            code, _ = s.docmd("AUTH", "PLAIN " + blob)
            return code, time.monotonic() - t0

    def auth_lines(self):
        return [l for l in self.logtext().splitlines() if " auth=" in l]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            terminate(self.proc)
        if self.proc:
            self.logf.close()
        # ASan reports and crashes are failures of the test that saw them
        assert "ERROR: AddressSanitizer" not in self.logtext()
        assert "runtime error" not in self.logtext()


def ldap_auth(slapd, extra=""):
    return ("backends = ldap\nldap_uri = %s\nldap_starttls = no\nldap_base = dc=corp,dc=test\n"
            "ldap_filter = (|(uid=%%u)(mail=%%u))\nldap_name_attr = mail\n"
            "ldap_bind_dn = uid=svc-relay,ou=people,dc=corp,dc=test\n"
            "ldap_bind_password = search-secret\n%s" % (slapd.uri, extra))


def dovecot_auth(sock, extra=""):
    return "backends = dovecot\ndovecot_socket = %s\n%s" % (sock, extra)


@pytest.fixture
def peers():
    """Whatever a test starts (Dovecot, slapd, gateways) goes in this list
    and is stopped at the end, however the test ended: a failed set-up leaves
    no daemon behind. Stops everything, then raises the first error."""
    started = []
    yield started
    first = None
    for p in reversed(started):
        try:
            p.stop()
        except Exception as e:  # noqa: BLE001 - the others must still stop
            first = first or e
    if first:
        raise first


def start(peers, peer, *args, **kw):
    peers.append(peer)
    return peer.start(*args, **kw)


@pytest.fixture
def backend(request, tmp_path, peers):
    """(kind, the [auth] text, the peer or None)."""
    kind = request.param
    peer = None
    if kind == "dovecot":
        peer = start(peers, Dovecot(str(tmp_path / "dv")))
        text = dovecot_auth(peer.socket)
    elif kind == "ldap":
        peer = start(peers, Slapd(str(tmp_path / "ld")))
        text = ldap_auth(peer)
    else:
        text = "backends = file\n"
    return kind, text, peer


def gateway_for(peers, tmp_path, kind, text, **kw):
    gw = Gateway(str(tmp_path / "gw"), text, **kw)
    if kind == "file":
        gw.add_user("sam@corp.test", PASSWORD)
    return start(peers, gw)


@pytest.mark.parametrize("backend", ["file", "dovecot", "ldap"], indirect=True)
def test_right_235_wrong_535_after_the_delay(backend, tmp_path, peers):
    kind, text, _ = backend
    gw = gateway_for(peers, tmp_path, kind, text)
    # Any spelling the store accepts; the identity is the store's own name.
    login = "sam" if kind == "ldap" else "SAM@Corp.Test"
    assert gw.auth(login, PASSWORD)[0] == 235
    code, took = gw.auth("sam@corp.test", "wrong-" + PASSWORD)
    assert code == 535
    assert took >= 0.4 - 0.05, took  # the [auth] delay, on a timer before the 535
    assert gw.auth("nobody@corp.test", PASSWORD)[0] == 535
    lines = gw.auth_lines()
    assert "auth=ok" in lines[0] and "backend=%s" % kind in lines[0], lines[0]
    assert "identity=sam@corp.test" in lines[0], lines[0]
    assert re.search(r"auth=failed .* delay_ms=400 why=bad password backend=%s" % kind,
                     lines[1]), lines[1]
    assert "delay_ms=800" in lines[2], lines[2]  # doubled: the second failure of the IP
    # The session's user, in the queue and the Received header, is that name too.
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as s:
        s.ehlo("client.test")
        s.login(login, PASSWORD)
        s.sendmail("sam@corp.test", ["x@far.test"], b"Subject: hi\r\n\r\nbody\r\n")
    (_, m), = read_spool(os.path.join(gw.dir, "var", "spool")).items()
    assert m["env"]["auth_user"] == "sam@corp.test", m["env"]


@pytest.mark.parametrize("backend", ["dovecot", "ldap"], indirect=True)
def test_backend_stopped_454_and_no_failed_login(backend, tmp_path, peers):
    kind, text, peer = backend
    # three failures lock the IP out: the tempfails below must not count
    gw = gateway_for(peers, tmp_path, kind, text, policy="ip_failures = 3\n")
    assert gw.auth("sam@corp.test", PASSWORD)[0] == 235
    peer.stop()
    for _ in range(5):
        code, took = gw.auth("sam@corp.test", PASSWORD)
        assert code == 454
        assert took < 0.4  # no failure delay: nothing failed
    assert gw.auth("sam@corp.test", "wrong")[0] == 454  # not even a wrong password
    peer.start()
    # Dovecot: the connection kept from before is dead; one is made anew.
    code, _ = gw.auth("sam@corp.test", PASSWORD)
    assert code == 235, gw.auth_lines()[-1]
    temp = [l for l in gw.auth_lines() if "auth=tempfail" in l]
    assert len(temp) == 6 and all("delay_ms=0 why=backend unavailable backend=%s detail=" % kind
                                  in l for l in temp), temp
    assert "policy=block" not in gw.logtext()


def test_backend_hanging_is_454_within_the_timeout(tmp_path, peers):
    """A Dovecot socket that accepts and never answers, a slapd that is
    stopped (SIGSTOP: the kernel still accepts): 454 after backend_timeout."""
    hang = str(tmp_path / "hang.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(hang)
    srv.listen(16)
    try:
        ld = start(peers, Slapd(str(tmp_path / "ld")))
        gws = [start(peers, Gateway(str(tmp_path / name), text + "backend_timeout = 1s\n"))
               for name, text in (("dv", dovecot_auth(hang)), ("ld", ldap_auth(ld)))]
        os.kill(ld.proc.pid, signal.SIGSTOP)
        try:
            for gw in gws:
                code, took = gw.auth("sam@corp.test", PASSWORD)
                assert code == 454
                assert 0.9 <= took < 6, took
                assert "timed out" in gw.auth_lines()[-1] or \
                    "Timed out" in gw.auth_lines()[-1], gw.auth_lines()[-1]
        finally:
            os.kill(ld.proc.pid, signal.SIGCONT)
        assert gws[1].auth("sam@corp.test", PASSWORD)[0] == 235
    finally:
        srv.close()


def brute_force(peers, tmp_path, kind, text):
    """Four wrong passwords (the fourth passes ip_failures = 3), then the
    right one, from one IP: the codes, the logged delays, the last line's
    reason and whether the IP was locked out."""
    gw = gateway_for(peers, tmp_path, kind, text, delay=("100ms", "400ms"),
                     policy="ip_failures = 3\n")
    codes = [gw.auth("sam@corp.test", "guess-%d" % i)[0] for i in range(4)]
    codes.append(gw.auth("sam@corp.test", PASSWORD)[0])
    lines = gw.auth_lines()
    delays = [int(re.search(r"delay_ms=(\d+)", l).group(1)) for l in lines]
    last = re.search(r"why=(.*?)(?: backend=|$)", lines[-1]).group(1)
    blocked = "rule=auth_ip_lockout" in gw.logtext()
    return codes, delays, last, blocked


def test_brute_force_locked_out_the_same_with_every_backend(tmp_path, peers):
    dv = start(peers, Dovecot(str(tmp_path / "dv")))
    ld = start(peers, Slapd(str(tmp_path / "ld")))
    got = {}
    for kind, text in (("file", "backends = file\n"), ("dovecot", dovecot_auth(dv.socket)),
                       ("ldap", ldap_auth(ld))):
        got[kind] = brute_force(peers, tmp_path / kind, kind, text)
    # the users file's answer: 535 each time, the delay doubling per
    # failure of the IP up to delay_max, then (locked out) the right
    # password refused at once, unchecked
    want = ([535] * 5, [100, 200, 400, 400, 0], "not checked (client blocked)", True)
    assert got == {"file": want, "dovecot": want, "ldap": want}, got


def test_first_backend_that_knows_the_user_decides(tmp_path, peers):
    """backends = file, ldap, dovecot: sam@corp.test is in the users file with
    another password, so LDAP's and Dovecot's passwords do not open it; kim is
    only in the file; sam (uid) is unknown to the file, so LDAP decides; a
    name neither the file nor LDAP knows goes to Dovecot."""
    dv = start(peers, Dovecot(str(tmp_path / "dv")))
    ld = start(peers, Slapd(str(tmp_path / "ld")))
    gw = Gateway(str(tmp_path / "gw"),
                 ldap_auth(ld).replace("backends = ldap", "backends = file, ldap, dovecot")
                 + "dovecot_socket = %s\n" % dv.socket, delay=("10ms", "10ms"),
                 policy="ip_failures = 100\n")
    gw.add_user("sam@corp.test", "Basalt-meadow-58")
    gw.add_user("kim@corp.test", "Orchid-lantern-41")
    start(peers, gw)
    assert gw.auth("sam@corp.test", PASSWORD)[0] == 535   # the file decided
    assert gw.auth("sam@corp.test", "Basalt-meadow-58")[0] == 235
    assert gw.auth("kim@corp.test", "Orchid-lantern-41")[0] == 235
    assert gw.auth("sam", PASSWORD)[0] == 235             # unknown to the file: LDAP
    assert gw.auth("lee@corp.test", "lee-pass-1234")[0] == 235  # then Dovecot
    assert gw.auth("lee@corp.test", "wrong")[0] == 535
    lines = gw.auth_lines()
    backends = [re.search(r"backend=(\w+)", l).group(1) for l in lines]
    assert backends == ["file", "file", "file", "ldap", "dovecot", "dovecot"], lines
    assert "identity=sam@corp.test" in lines[3]


def test_ldap_starttls_and_ldaps_verify_the_server(tmp_path, peers):
    """StartTLS (the default for ldap://) and ldaps:// with the directory's CA
    give 235; a certificate no configured CA signed is no answer (454), and
    the password is not sent."""
    ca = make_ca(str(tmp_path / "ca"))
    ld = start(peers, Slapd(str(tmp_path / "ld"), tls=ca))
    base = ldap_auth(ld).replace("ldap_starttls = no\n", "")
    confs = [base + "ldap_ca_file = %s/ca.crt\n" % ca,
             base.replace(ld.uri, ld.ldaps_uri) + "ldap_ca_file = %s/ca.crt\n" % ca,
             base,  # the system's CAs: they did not sign the test server's certificate
             base.replace(ld.uri, ld.ldaps_uri)]
    gws = [start(peers, Gateway(str(tmp_path / ("gw%d" % i)), conf))
           for i, conf in enumerate(confs)]
    assert [g.auth("sam", PASSWORD)[0] for g in gws] == [235, 235, 454, 454]
    assert gws[0].auth("sam", "wrong")[0] == 535
    assert "detail=\"StartTLS:" in gws[2].auth_lines()[-1], gws[2].auth_lines()[-1]


def test_checkconf_refuses_a_backend_without_its_options(tmp_path):
    conf = tmp_path / "rg.conf"
    for auth, msg in (("backends = dovecot\n", "set dovecot_socket"),
                      ("backends = ldap\n", "set ldap_uri, ldap_base"),
                      ("backends = file, nis\n", "'nis' is unknown"),
                      ("backends = file, file\n", "comes twice"),
                      ("backends = ldap\nldap_uri = http://x\nldap_base = dc=x\n", "ldap_uri"),
                      ("backends = ldap\nldap_uri = ldap://x\nldap_base = dc=x\n"
                       "ldap_filter = (uid=%x)\n", "ldap_filter")):
        conf.write_text("[gateway]\nstate_dir = %s\n[auth]\n%s" % (tmp_path / "var", auth))
        r = rg("checkconf", "--config", conf)
        assert r.rc != 0 and msg in r.err + r.out, (auth, r.err, r.out)
    conf.write_text("[gateway]\nstate_dir = %s\n[auth]\nbackends = file, ldap\n"
                    "ldap_uri = ldaps://dc1.corp.test\nldap_base = dc=corp,dc=test\n"
                    "ip_failures = 5\n" % (tmp_path / "var"))
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
