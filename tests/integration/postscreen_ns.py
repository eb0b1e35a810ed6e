"""Runs inside `unshare --mount --net` (see test_score.py): replays client IPs
through Postfix postscreen and through `relayguard score`, both asking the same
rbldnsd, and writes both sides' decisions as JSON.

Why a namespace: postscreen's dnsblog asks the system resolver (port 53, from
/etc/resolv.conf), and postscreen sees the TCP peer address. A private network
namespace gives us port 53 on its own loopback, any client address we add to
lo, and a private /etc/resolv.conf (bind-mounted in a private mount
namespace); nothing leaks to the host or to tests running beside us.

usage: python3 postscreen_ns.py WORKDIR   (WORKDIR/spec.json in, WORKDIR/out.json out)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rbldnsd import RBLDNSD, query  # noqa: E402

MAIN_CF = """compatibility_level = 3.6
queue_directory = {w}/queue
data_directory = {w}/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postscreen.test
mydestination =
mynetworks = 127.0.0.1/32
smtpd_relay_restrictions = reject
maillog_file_prefixes = {w}
maillog_file = {w}/postfix.log
postscreen_dnsbl_sites = {sites}
postscreen_dnsbl_threshold = {threshold}
postscreen_dnsbl_allowlist_threshold = {allow}
postscreen_dnsbl_action = drop
postscreen_greet_action = ignore
postscreen_greet_wait = 3s
postscreen_dnsbl_timeout = 5s
postscreen_access_list = permit_mynetworks
postscreen_cache_map = btree:{w}/data/postscreen_cache
"""

MASTER_CF = """127.0.0.1:{port} inet n - n - 1 postscreen
smtpd pass - - n - - smtpd
dnsblog unix - - n - 0 dnsblog
tlsproxy unix - - n - 0 tlsproxy
postlog unix-dgram n - n - 1 postlogd
anvil unix - - n - 1 anvil
rewrite unix - - n - - trivial-rewrite
cleanup unix n - n - 0 cleanup
proxymap unix - - n - - proxymap
"""


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, timeout=60)


def client(ip, port, out):
    """Connects from ip; 'reject' on a 521/550 reply, 'pass' on the final 220."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(15)
    buf = b""
    try:
        s.bind((ip, 0))
        s.connect(("127.0.0.1", port))
        while True:
            data = s.recv(4096)
            if not data:
                out[ip] = {"decision": "closed", "text": buf.decode(errors="replace")}
                return
            buf += data
            for line in buf.decode(errors="replace").split("\r\n"):
                if line.startswith("521") or line.startswith("550"):
                    out[ip] = {"decision": "reject", "text": line}
                    return
                if line.startswith("220 "):
                    out[ip] = {"decision": "pass", "text": line}
                    s.sendall(b"QUIT\r\n")
                    return
    except OSError as e:
        out[ip] = {"decision": "error", "text": str(e)}
    finally:
        s.close()


def main():
    w = sys.argv[1]
    spec = json.load(open(os.path.join(w, "spec.json")))
    ips = spec["ips"]
    sh("ip", "link", "set", "lo", "up")
    for net in spec["lo_nets"]:
        sh("ip", "addr", "add", net, "dev", "lo")
    resolv = os.path.join(w, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:2\n")
    sh("mount", "--bind", resolv, "/etc/resolv.conf")

    # rbldnsd on 127.0.0.1:53 in the namespace
    zdir = os.path.join(w, "zones")
    os.chmod(w, 0o755)
    os.chmod(zdir, 0o755)
    specs = []
    for i, (zone, dtype, lines) in enumerate(spec["zones"]):
        fname = "z%d.%s" % (i, dtype)
        with open(os.path.join(zdir, fname), "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(os.path.join(zdir, fname), 0o644)
        specs.append("%s:%s:%s" % (zone, dtype, fname))
    rbl = subprocess.Popen([RBLDNSD, "-n", "-q", "-b", "127.0.0.1/53", "-w", zdir, "-u",
                            "nobody", "-t", "60"] + specs, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = {"postscreen": {}, "relayguard": None, "log": ""}
    conf = os.path.join(w, "conf")
    started = False
    try:
        for _ in range(100):
            r = query("127.0.0.1", 53, "2.0.0.127." + spec["zones"][0][0], timeout=0.2)
            if r:
                break
            time.sleep(0.05)
        # Postfix: its own config, queue and data directories
        os.makedirs(conf, exist_ok=True)
        for d in ("queue", "data"):
            os.makedirs(os.path.join(w, d), exist_ok=True)
        shutil.chown(os.path.join(w, "data"), "postfix")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(w=w, sites=spec["sites"], threshold=spec["threshold"],
                                   allow=spec["allowlist_threshold"]))
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=port))
        r = sh("postfix", "-c", conf, "start", check=False)
        started = r.returncode == 0
        if not started:
            result["log"] = r.stdout + r.stderr
            return result
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # the probe above was a client from 127.0.0.1 (mynetworks): harmless
        threads = []
        for ip in ips:
            t = threading.Thread(target=client, args=(ip, port, result["postscreen"]))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(30)
        # relayguard on the same lists, same weights
        rg = subprocess.run([spec["rg_bin"], "score", "--json", "--resolver", "127.0.0.1:53",
                             "--sites", spec["sites"], "--threshold", str(spec["threshold"]),
                             "--allowlist-threshold", str(spec["allowlist_threshold"])] + ips,
                            capture_output=True, text=True, timeout=60)
        result["relayguard"] = json.loads(rg.stdout) if rg.stdout else None
        result["relayguard_rc"] = rg.returncode
        result["relayguard_err"] = rg.stderr
    finally:
        if started:
            sh("postfix", "-c", conf, "stop", check=False)
            pidf = os.path.join(w, "queue", "pid", "master.pid")
            for _ in range(50):
                if not os.path.exists(pidf):
                    break
                time.sleep(0.1)
            try:  # the master we started, by its pid, if stop did not end it
                os.kill(int(open(pidf).read().strip()), 15)
            except (OSError, ValueError):
                pass
        rbl.terminate()
        try:
            rbl.wait(5)
        except subprocess.TimeoutExpired:
            rbl.kill()
        try:
            result["log"] += open(os.path.join(w, "postfix.log")).read()[-20000:]
        except OSError:
            pass
    return result


if __name__ == "__main__":
    out = main()
    with open(os.path.join(sys.argv[1], "out.json"), "w") as f:
        json.dump(out, f, indent=1)
