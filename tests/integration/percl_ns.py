"""Runs inside `unshare --net` (see test_security_limits.py): a private
loopback with IPv6 client addresses in two /64s, and relayguard serve with
max_connections_per_client = 2. Writes, as JSON on stdout, the greeting code
each client got, in order.

usage: python3 percl_ns.py RG_BIN WORKDIR
"""
import json
import os
import socket
import subprocess
import sys
import time

rg, work = sys.argv[1], sys.argv[2]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for a in ("2001:db8::1", "2001:db8::10", "2001:db8::11", "2001:db8::12", "2001:db8:1::10"):
    subprocess.run(["ip", "-6", "addr", "add", a + "/64", "dev", "lo", "nodad"], check=True)
conf = os.path.join(work, "relayguard.conf")
with open(conf, "w") as f:
    f.write("[gateway]\nhostname = mx.test\nstate_dir = %s/var\nlocal_domains = local.test\n"
            "max_connections_per_client = 2\n[policyd]\nlisten =\n[web]\nlisten =\n"
            "[listener in]\nlisten = [2001:db8::1]:25\nrole = inbound\ntls = none\n"
            "[delivery]\npoll_interval = 60s\n" % work)
log = open(os.path.join(work, "serve.log"), "w")
proc = subprocess.Popen([rg, "serve", "--config", conf], stdout=log, stderr=subprocess.STDOUT)
try:
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("2001:db8::1", 25), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise
            time.sleep(0.05)
    time.sleep(0.3)  # the probe connection is gone on the server side too
    held, codes = [], []
    for src in ("2001:db8::10", "2001:db8::11", "2001:db8::12", "2001:db8:1::10"):
        s = socket.create_connection(("2001:db8::1", 25), timeout=10, source_address=(src, 0))
        codes.append(int(s.recv(512)[:3]))
        held.append(s)
    print(json.dumps(codes))
finally:
    proc.terminate()
    proc.wait(15)
