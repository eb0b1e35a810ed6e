"""Debian's rbldnsd on loopback, serving DNS blocklist zones written by a test.

    srv = Rbldnsd(tmpdir)
    srv.zone("bl.test", "ip4set", [":127.0.0.2:Listed, see http://bl.test/$", "127.0.0.2"])
    srv.start()           # 127.0.0.1:srv.port (and [::1]:srv.port when loopback IPv6 works)
    ...                   # relayguard check --resolver srv.resolver ...
    srv.stop()

The `rbldnsd_server` fixture below does the start and stop; it takes a zones
dict {name: [(dataset_type, lines), ...]} from the requesting module via
`rbldnsd_factory`. Facts about rbldnsd that shape this module:
  - it refuses to run as root: `-u nobody`, so the directory must be 0755 and
    the files 0644;
  - an ip4set wildcard is 0.0.0.0/1 + 128.0.0.0/1 (0/0 is refused);
  - ip6trie wants IPv4-mapped test points uncompressed: 0:0:0:0:0:ffff:7f00:2;
  - dnset entries are bare names ("test", "spam.example"); a line
    ":127.0.0.2:text $" sets the value (A and TXT, $ = the queried key) of the
    entries after it.
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import time

import pytest

RBLDNSD = shutil.which("rbldnsd") or "/usr/sbin/rbldnsd"

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
QTYPES = {"A": 1, "TXT": 16, "AAAA": 28, "SOA": 6}


def ipv6_loopback_ok():
    """True when a UDP socket can bind to ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_udp_port(want_v6):
    """A UDP port free on 127.0.0.1 (and on ::1 when want_v6) a moment ago."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if not want_v6:
                return port
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
                    s6.bind(("::1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port on 127.0.0.1 and ::1")


def build_query(name, qtype="A", qid=None):
    """A DNS query message (RD set) for name/qtype."""
    qid = random.randrange(65536) if qid is None else qid
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        b = label.encode("ascii")
        msg += bytes([len(b)]) + b
    return msg + b"\0" + struct.pack("!HH", QTYPES[qtype], 1)


def _skip_name(buf, off):
    while True:
        n = buf[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def parse_answer(buf):
    """(qid, rcode name, [A addresses as text], [TXT strings]) of a response."""
    qid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", buf[:12])
    off = 12
    for _ in range(qd):
        off = _skip_name(buf, off) + 4
    addrs, txts = [], []
    for _ in range(an):
        off = _skip_name(buf, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", buf[off:off + 10])
        off += 10
        rdata = buf[off:off + rdlen]
        off += rdlen
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(rdata))
        elif rtype == 16:
            parts, i = [], 0
            while i < len(rdata):
                parts.append(rdata[i + 1:i + 1 + rdata[i]].decode("ascii", "replace"))
                i += 1 + rdata[i]
            txts.append("".join(parts))
    return qid, RCODES.get(flags & 15, str(flags & 15)), addrs, txts


def query(host, port, name, qtype="A", timeout=0.5):
    """One UDP query; returns parse_answer()'s tuple, or None on timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        msg = build_query(name, qtype)
        s.sendto(msg, (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(4096)
            except socket.timeout:
                return None
            if data[:2] == msg[:2]:
                return parse_answer(data)
    return None


class Rbldnsd:
    """One rbldnsd process serving the zones added with zone() before start()."""

    def __init__(self, workdir, ipv6=None):
        self.dir = str(workdir)
        self.ipv6 = ipv6_loopback_ok() if ipv6 is None else ipv6
        self.port = None
        self.proc = None
        self.specs = []  # "name:type:file"
        self.first = None
        self.log = os.path.join(self.dir, "rbldnsd.log")

    @property
    def resolver(self):
        return "127.0.0.1:%d" % self.port

    @property
    def resolver6(self):
        return "[::1]:%d" % self.port

    def zone(self, name, dtype, lines):
        """Adds a dataset to zone name (repeat a name to give it several datasets)."""
        fname = "%s.%d.%s" % (name, len(self.specs), dtype)
        path = os.path.join(self.dir, fname)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o644)
        self.specs.append("%s:%s:%s" % (name, dtype, fname))
        if self.first is None:
            self.first = name
        return self

    def start(self, timeout=10.0):
        assert self.specs, "no zones"
        os.chmod(self.dir, 0o755)
        self.port = free_udp_port(self.ipv6)
        cmd = [RBLDNSD, "-n", "-q", "-b", "127.0.0.1/%d" % self.port]
        if self.ipv6:
            cmd += ["-b", "::1/%d" % self.port]
        cmd += ["-w", self.dir, "-u", "nobody", "-t", "60"] + self.specs
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        probe = "2.0.0.127." + self.first
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            r = query("127.0.0.1", self.port, probe, timeout=0.2)
            if r and r[1] in ("NOERROR", "NXDOMAIN"):
                return self
            time.sleep(0.05)
        self.stop()
        with open(self.log) as f:
            raise RuntimeError("rbldnsd did not start: %s\n%s" % (" ".join(cmd), f.read()))

    def query(self, name, qtype="A", host="127.0.0.1"):
        return query(host, self.port, name, qtype)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None


@pytest.fixture(scope="module")
def rbldnsd_factory(tmp_path_factory):
    """Starts rbldnsd servers for a module: factory({zone: [(type, lines), ...]})."""
    servers = []

    def make(zones, ipv6=None):
        d = tmp_path_factory.mktemp("rbldnsd")
        srv = Rbldnsd(d, ipv6=ipv6)
        for name, datasets in zones.items():
            for dtype, lines in datasets:
                srv.zone(name, dtype, lines)
        servers.append(srv)
        return srv.start()

    yield make
    for s in servers:
        s.stop()
