"""Runs inside `unshare --mount --net` (see test_dkim.py): OpenDKIM's
opendkim-testmsg verifies messages with keys from DNS, asked through the
system resolver (/etc/resolv.conf, port 53). A private network namespace
gives a loopback of our own where unbound serves the test's TXT records on
127.0.0.1:53, and a private mount namespace lets a resolv.conf naming it be
bind-mounted over /etc/resolv.conf, for this process tree only.

    unshare --mount --net python3 dkim_ns.py WORKDIR

WORKDIR/spec.json: {"records": ["NAME TXT \"...\" \"...\"", ...],
                    "messages": ["file", ...]}
Writes WORKDIR/result.json: {"file": {"rc": N, "stderr": "..."}, ...}.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
TESTMSG = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"


def query(name):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 16, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(q, ("127.0.0.1", 53))
            return s.recv(4096)
        except OSError:
            return None


def main():
    w = sys.argv[1]
    spec = json.load(open(os.path.join(w, "spec.json")))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = os.path.join(w, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    conf = ["server:", "  interface: 127.0.0.1", "  port: 53", "  do-daemonize: no",
            "  username: \"\"", "  chroot: \"\"", "  directory: \"%s\"" % w, "  pidfile: \"\"",
            "  use-syslog: no", "  logfile: \"\"", "  verbosity: 0", "  do-ip6: no",
            "  num-threads: 1", "  access-control: 127.0.0.0/8 allow",
            "  local-zone: \"test.\" static", "  module-config: \"iterator\""]
    conf += ["  local-data: '%s'" % r for r in spec["records"]]
    conf += ["remote-control:", "  control-enable: no"]
    with open(os.path.join(w, "unbound.conf"), "w") as f:
        f.write("\n".join(conf) + "\n")
    ub = subprocess.Popen([UNBOUND, "-d", "-c", os.path.join(w, "unbound.conf")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result = {}
    try:
        first = spec["records"][0].split()[0]
        for _ in range(100):
            if query(first):
                break
            if ub.poll() is not None:
                raise RuntimeError("unbound: " + ub.stdout.read().decode())
            time.sleep(0.05)
        for m in spec["messages"]:
            with open(os.path.join(w, m), "rb") as f:
                p = subprocess.run([TESTMSG], stdin=f, capture_output=True, timeout=30)
            result[m] = {"rc": p.returncode, "stderr": p.stderr.decode("utf-8", "replace")}
    finally:
        ub.terminate()
        ub.wait(10)
    with open(os.path.join(w, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
