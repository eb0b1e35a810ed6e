"""relayguard firewall: the generated nftables rule set, checked by nft and
then loaded on a router between network namespaces.

Topology (all addresses private, all traffic stays inside namespaces this
test creates and removes):

    mailserver 10.99.1.2 fd99:1::2 ---\\
                                      router (forwarding, rule set) --- internet 10.99.9.2 fd99:9::2
    desktop    10.99.2.2 fd99:2::2 ---/                                  (TCP listener on 25)

Kernel log lines from a non-initial namespace are off by default
(net.netfilter.nf_log_all_netns), so the test reads the rule counters instead.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import rg

NFT = shutil.which("nft") or "/usr/sbin/nft"
IP = shutil.which("ip") or "/usr/sbin/ip"


def have_tools():
    return os.path.exists(NFT) and os.path.exists(IP)


def sh(*args, check=True, timeout=10, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: rc=%d\n%s%s" % (" ".join(map(str, args)), p.returncode,
                                                   p.stdout, p.stderr))
    return p


def nft_check(text):
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        # In a throw-away network namespace: the host's rule set is never touched.
        return sh("unshare", "--net", NFT, "-c", "-f", path, check=False)
    finally:
        os.unlink(path)


# --- the command itself ------------------------------------------------------

def test_help():
    r = rg("firewall", "--help")
    assert r.rc == 0
    assert "nft -f" in r.out
    assert "nft delete table inet relayguard_smtp" in r.out
    assert "--mail-servers" in r.out and "--lan" in r.out and "--log-prefix" in r.out


@pytest.mark.parametrize("args,what", [
    ([], "no mail servers given"),
    (["--mail-servers", ""], "no mail servers given"),
    (["--mail-servers", "10.0.0.300"], "not an IP address or CIDR range: 10.0.0.300"),
    (["--mail-servers", "10.0.0.1", "--lan", "10.0.0.0/99"], "not an IP address"),
    (["--mail-servers", "10.0.0.1", "--log-prefix", 'a"b'], "quotes"),
    (["--mail-servers", "10.0.0.1", "--log-prefix", "x" * 128], "longer than 127"),
    (["--mail-servers", "10.0.0.1", "--ports", "25,99999"], "not a port number"),
    (["--mail-servers"], "--mail-servers needs a value"),
    (["--mail-servers", "10.0.0.1", "--bogus"], "unknown option"),
])
def test_bad_input(args, what):
    r = rg("firewall", *args)
    assert r.rc == 2, r.out
    assert r.out == ""
    assert r.err.startswith("relayguard: firewall: ")
    assert what in r.err


def test_json():
    r = rg("firewall", "--json", "--mail-servers", "192.0.2.10,2001:db8::10", "--lan",
           "192.0.2.0/24")
    assert r.rc == 0, r.err
    j = r.json()
    assert j["table"] == "relayguard_smtp"
    assert j["family"] == "inet"
    assert j["mail_servers"] == ["192.0.2.10/32", "2001:db8::10/128"]
    assert j["lan"] == ["192.0.2.0/24"]
    assert j["ports"] == [25, 465, 587]
    assert j["log_prefix"] == "RG-SMTP-BLOCK "
    assert j["mailserver_log_prefix"] == "RG-SMTP-MAILSRV "
    assert j["remove"] == "nft delete table inet relayguard_smtp"
    assert "table inet relayguard_smtp {" in j["ruleset"]


@pytest.mark.skipif(not have_tools(), reason="nft or ip not installed")
@pytest.mark.parametrize("args", [
    ["--mail-servers", "192.0.2.10"],
    ["--mail-servers", "2001:db8::10"],
    ["--mail-servers", "192.0.2.10,192.0.2.0/28,2001:db8::/64,2001:db8::5",
     "--lan", "10.0.0.0/8,2001:db8:1::/48", "--ports", "25,465", "--log-prefix", "DROP SMTP: ",
     "--mailserver-log-prefix", "MAILHOST SMTP: ", "--log-rate", "5"],
])
def test_nft_accepts(args):
    r = rg("firewall", *args)
    assert r.rc == 0, r.err
    c = nft_check(r.out)
    if c.returncode != 0 and "Operation not permitted" in c.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN: " + c.stderr.strip())
    assert c.returncode == 0, c.stderr + "\n" + r.out


# --- a real router in network namespaces --------------------------------------

LISTENER = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 25))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(b"220 test ESMTP\r\n")
    finally:
        c.close()
"""

CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], 25), timeout=float(sys.argv[2]))
    banner = c.recv(100)
    c.close()
    print(banner.decode().strip())
    sys.exit(0)
except socket.timeout:
    print("timeout")
    sys.exit(3)
except OSError as e:
    print("error", e)
    sys.exit(4)
"""


class Netns:
    """The namespaces, links and listeners of one test; removes all of them."""

    def __init__(self):
        tag = "rg%d" % os.getpid()
        self.ns = {k: "%s%s" % (tag, k) for k in ("r", "ms", "dt", "in")}
        self.procs = []

    def ex(self, ns, *args, **kw):
        return sh(IP, "netns", "exec", self.ns[ns], *args, **kw)

    def link(self, a, a_if, a_addrs, b, b_if, b_addrs):
        sh(IP, "link", "add", a_if, "netns", self.ns[a], "type", "veth", "peer", "name", b_if,
           "netns", self.ns[b])
        for ns, ifname, addrs in ((a, a_if, a_addrs), (b, b_if, b_addrs)):
            for ad in addrs:
                extra = ["nodad"] if ":" in ad else []
                self.ex(ns, IP, "addr", "add", ad, "dev", ifname, *extra)
            self.ex(ns, IP, "link", "set", ifname, "up")

    def up(self):
        for name in self.ns.values():
            sh(IP, "netns", "add", name)
        for k in self.ns:
            self.ex(k, IP, "link", "set", "lo", "up")
        self.link("r", "r-ms", ["10.99.1.1/24", "fd99:1::1/64"],
                  "ms", "ms-r", ["10.99.1.2/24", "fd99:1::2/64"])
        self.link("r", "r-dt", ["10.99.2.1/24", "fd99:2::1/64"],
                  "dt", "dt-r", ["10.99.2.2/24", "fd99:2::2/64"])
        self.link("r", "r-in", ["10.99.9.1/24", "fd99:9::1/64"],
                  "in", "in-r", ["10.99.9.2/24", "fd99:9::2/64"])
        self.ex("r", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ex("r", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        for k, gw4, gw6 in (("ms", "10.99.1.1", "fd99:1::1"), ("dt", "10.99.2.1", "fd99:2::1"),
                            ("in", "10.99.9.1", "fd99:9::1")):
            self.ex(k, IP, "route", "add", "default", "via", gw4)
            self.ex(k, IP, "-6", "route", "add", "default", "via", gw6)

    def listen(self, ns):
        p = subprocess.Popen([IP, "netns", "exec", self.ns[ns], sys.executable, "-c", LISTENER],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        assert line.strip() == "ready", p.stderr.read() if p.poll() is not None else line

    def connect(self, ns, host, timeout=2.0):
        return self.ex(ns, sys.executable, "-c", CLIENT, host, timeout, check=False,
                       timeout=timeout + 10)

    def down(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for name in self.ns.values():
            subprocess.run([IP, "netns", "del", name], capture_output=True)


def counters(net):
    """packets of the counter before 'accept' from a mail server, and before 'drop'."""
    j = json.loads(net.ex("r", NFT, "-j", "list", "table", "inet", "relayguard_smtp").stdout)
    out = {"accept4": 0, "accept6": 0, "drop": 0}
    for item in j["nftables"]:
        rule = item.get("rule")
        if not rule or rule["chain"] != "smtp_egress":
            continue
        exprs = rule["expr"]
        pk = [e["counter"]["packets"] for e in exprs if "counter" in e]
        if not pk:
            continue
        text = json.dumps(exprs)
        if any("drop" in e for e in exprs):
            out["drop"] += pk[0]
        elif any("accept" in e for e in exprs):
            out["accept6" if '"ip6"' in text else "accept4"] += pk[0]
    return out


@pytest.fixture
def net():
    if not have_tools():
        pytest.skip("nft or ip not installed")
    probe = "rgprobe%d" % os.getpid()
    p = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot create network namespaces (need root / CAP_SYS_ADMIN): " +
                    p.stderr.strip())
    subprocess.run([IP, "netns", "del", probe], capture_output=True)
    n = Netns()
    try:
        n.up()
        yield n
    finally:
        n.down()


def test_router_namespaces(net):
    # Before the rule set, everybody gets through: the topology works. IPv6
    # neighbour discovery may need a moment after the links come up.
    net.listen("in")
    net.listen("ms")
    for host in ("10.99.9.2", "fd99:9::2", "10.99.1.2", "fd99:1::2"):
        for _ in range(10):
            c = net.connect("dt", host, timeout=1.0)
            if c.returncode == 0:
                break
        assert c.returncode == 0, (host, c.stdout, c.stderr)

    r = rg("firewall", "--mail-servers", "10.99.1.2,fd99:1::2",
           "--lan", "10.99.1.0/24,10.99.2.0/24,fd99:1::/64,fd99:2::/64")
    assert r.rc == 0, r.err
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(r.out)
        path = f.name
    try:
        net.ex("r", NFT, "-f", path)
        net.ex("r", NFT, "-f", path)  # loading again replaces it, no error, no second table
    finally:
        os.unlink(path)
    listed = net.ex("r", NFT, "list", "tables").stdout
    assert listed.count("relayguard_smtp") == 1

    # The mail server reaches port 25 outside, over IPv4 and IPv6.
    c = net.connect("ms", "10.99.9.2")
    assert c.returncode == 0 and c.stdout.strip() == "220 test ESMTP", c.stdout + c.stderr
    c = net.connect("ms", "fd99:9::2")
    assert c.returncode == 0, c.stdout + c.stderr
    # The desktop is dropped: the connect times out.
    c = net.connect("dt", "10.99.9.2")
    assert c.returncode == 3 and c.stdout.strip() == "timeout", c.stdout + c.stderr
    c = net.connect("dt", "fd99:9::2")
    assert c.returncode == 3, c.stdout + c.stderr
    # The desktop may still submit to its own mail server through the router.
    c = net.connect("dt", "10.99.1.2")
    assert c.returncode == 0 and c.stdout.strip() == "220 test ESMTP", c.stdout + c.stderr
    # The router itself is not a mail server (output hook).
    c = net.connect("r", "10.99.9.2", timeout=1.0)
    assert c.returncode == 3, c.stdout + c.stderr

    k = counters(net)
    assert k["accept4"] > 0, k
    assert k["accept6"] > 0, k
    assert k["drop"] >= 3, k
    rules = net.ex("r", NFT, "list", "table", "inet", "relayguard_smtp").stdout
    assert 'log prefix "RG-SMTP-BLOCK "' in rules
    assert 'log prefix "RG-SMTP-MAILSRV "' in rules

    # Removing the table lets the desktop out again.
    net.ex("r", NFT, "delete", "table", "inet", "relayguard_smtp")
    assert net.connect("dt", "10.99.9.2").returncode == 0
