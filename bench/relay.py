#!/usr/bin/python3
"""relay bench: smtp-source -> X -> smtp-sink, X being relayguard and then a
private Postfix configured as a relay, in the same run, same load, same
durability (both fsync every queued message before the 250).

Throughput: N messages from smtp-source (S parallel sessions, one message
per session, L bytes each) divided by the time from the first connection to
the last of them on disk at the sink.
Latency: up to P probe messages sent one by one while the load runs, each stamped with
its send time; the latency is the sink's file time minus that stamp (the
sink dumps every message to a file in a tmpfs). p50 and p99 over the probes.

Prints one line per system and a last line "speedup: X" (relayguard msg/s
over Postfix msg/s).

--dkim (bench/relay.sh with DKIM=1): both sign every message with the same
RSA 2048 key for the From domain (relaxed/relaxed, From, To and Subject
oversigned): relayguard with [dkim], Postfix with OpenDKIM as its milter on
a loopback inet socket (own configuration in the run's temporary
directory). Every message at the sink must carry a DKIM-Signature.
"""
import argparse
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pfrelay  # noqa: E402
from sink import BULK_POLICY, Sink, free_port  # noqa: E402


def wait_listen(port, proc, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("%s exited" % what)
            time.sleep(0.05)
    raise RuntimeError("%s did not listen" % what)


class Relayguard:
    name = "relayguard"

    def __init__(self, tmp, sink_port, binary, dkim_key=None):
        self.port = free_port()
        self.tmp = tmp
        conf = os.path.join(tmp, "relayguard.conf")
        with open(conf, "w") as f:
            f.write("[gateway]\nhostname = gw.test\nstate_dir = %s/var\nlocal_domains = gw.test\n"
                    "trusted_networks = 127.0.0.0/8\nmax_connections_per_client = 1000\n"
                    "queue_fsync = yes\n"
                    "[listener relay]\nlisten = 127.0.0.1:%d\nrole = relay\ntls = none\n"
                    "[policyd]\nlisten =\n[web]\nlisten =\n"
                    "[delivery]\nrelayhost = [127.0.0.1]:%d\nrelayhost_tls = none\n"
                    "poll_interval = 5ms\n%s" % (tmp, self.port, sink_port, BULK_POLICY))
            if dkim_key:
                f.write("[dkim]\ngw.test = bench, %s\n" % dkim_key)
        self.log = open(os.path.join(tmp, "relayguard.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_listen(self.port, self.proc, "relayguard")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class OpenDKIM:
    """opendkim in the foreground, signing for gw.test, milter on 127.0.0.1."""

    def __init__(self, tmp, key):
        self.port = free_port()
        d = os.path.join(tmp, "opendkim")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Syslog no\nBackground no\nMode s\nDomain gw.test\nSelector bench\n"
                    "KeyFile %s\nCanonicalization relaxed/relaxed\n"
                    "OversignHeaders From,To,Subject\nSignatureAlgorithm rsa-sha256\n"
                    "InternalHosts 127.0.0.1\nSocket inet:%d@127.0.0.1\nPidFile %s/pid\n"
                    "UMask 022\n"
                    # the key lives under the bench's temporary directory in /tmp
                    "RequireSafeKeys false\n" % (key, self.port, d))
        self.log = open(os.path.join(d, "opendkim.log"), "w")
        self.proc = subprocess.Popen([shutil.which("opendkim") or "/usr/sbin/opendkim", "-f",
                                      "-x", conf], stdout=self.log, stderr=subprocess.STDOUT)
        wait_listen(self.port, self.proc, "opendkim")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class PostfixRelay:
    name = "postfix"

    def __init__(self, tmp, sink_port, dkim_key=None):
        self.port = free_port()
        self.milter = OpenDKIM(tmp, dkim_key) if dkim_key else None
        extra = {
            "smtpd_client_connection_count_limit": "1000",
            "smtpd_client_connection_rate_limit": "0",
        }
        if self.milter:
            self.name = "postfix+opendkim"
            extra.update({"smtpd_milters": "inet:127.0.0.1:%d" % self.milter.port,
                          "milter_default_action": "tempfail"})
        self.pf = pfrelay.PostfixRelay(tmp, self.port, "[127.0.0.1]:%d" % sink_port,
                                       extra).start()

    def stop(self):
        self.pf.stop()
        if self.milter:
            self.milter.stop()


def probe(port, n, spacing, stamps, errors, stop):
    for i in range(n):
        if stop.is_set():
            break
        t = time.time()
        msg = ("From: <probe@gw.test>\r\nSubject: probe %d\r\nX-Probe: %d %.6f\r\n\r\nprobe\r\n"
               % (i, i, t))
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("probe@gw.test", ["probe%d@x.test" % i], msg)
            stamps[i] = t
        except (OSError, smtplib.SMTPException) as e:
            errors.append(str(e))
        time.sleep(spacing)


def run(system_factory, args, source_bin):
    tmp = tempfile.mkdtemp(prefix="rg-relay-", dir=args.tmp)
    shm = tempfile.mkdtemp(prefix="rg-sink-", dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp)
    sink = Sink(shm, backlog=4096).start()
    x = system_factory(tmp, sink.port)
    try:
        stamps, errors = {}, []
        total = args.messages + args.probes
        t0 = time.time()
        src = subprocess.Popen([source_bin, "-s", str(args.sessions), "-m", str(args.messages),
                                "-l", str(args.size), "-f", "bench@gw.test", "-t",
                                "dest@x.test", "127.0.0.1:%d" % x.port],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # spread the probes over the expected run
        stop = threading.Event()
        pt = threading.Thread(target=probe, args=(x.port, args.probes, args.probe_spacing,
                                                  stamps, errors, stop))
        pt.start()
        src.wait()
        stop.set()  # probes measure latency under the load only
        pt.join()
        total = args.messages + len(stamps)
        if src.returncode != 0:
            raise RuntimeError("smtp-source: " + src.stderr.read().decode())
        deadline = time.time() + args.timeout
        while sink.count() < total and time.time() < deadline:
            time.sleep(0.05)
        got = sink.count()
        last, load, signed = 0.0, 0, 0
        unsigned, lat = [], []
        for p in sink.files():
            st = os.stat(p)
            with open(p, "rb") as f:
                head = f.read(4096)
            if b"\nDKIM-Signature: v=1; a=rsa-sha256;" in head:
                signed += 1
            elif args.dkim:
                unsigned.append(p)
            i = head.find(b"X-Probe: ")
            if i >= 0:
                parts = head[i + 9:head.index(b"\n", i)].split()
                lat.append(st.st_mtime - float(parts[1]))
            else:
                load += 1
                last = max(last, st.st_mtime)
        # a file the sink had not finished writing: read again once it has
        for p in unsigned:
            for _ in range(20):
                time.sleep(0.1)
                with open(p, "rb") as f:
                    head = f.read(4096)
                if b"\nDKIM-Signature: v=1; a=rsa-sha256;" in head:
                    signed += 1
                    break
            else:
                sys.stderr.write("%s: unsigned at the sink:\n%s\n"
                                 % (x.name, head[:1500].decode("latin-1")))
        lat.sort()
        secs = last - t0
        rate = load / secs if secs > 0 else 0.0

        def pct(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        return {"name": x.name, "messages": got, "expected": total, "seconds": secs,
                "rate": rate, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "probes": len(lat),
                "probe_errors": len(errors), "signed": signed}
    finally:
        x.stop()
        sink.stop()
        shutil.rmtree(shm, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--probe-spacing", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "rel", "relayguard"))
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", choices=["relayguard", "postfix"])
    ap.add_argument("--dkim", action="store_true",
                    help="both sign with the same RSA 2048 key (Postfix through OpenDKIM)")
    args = ap.parse_args()
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    key = None
    keydir = tempfile.mkdtemp(prefix="rg-relay-key-", dir=args.tmp)
    if args.dkim:
        subprocess.run([args.binary, "dkim", "keygen", "gw.test", "bench", "--dir", keydir],
                       check=True, capture_output=True)
        key = os.path.join(keydir, "gw.test.bench.pem")
    res = {}
    try:
        if args.only != "postfix":
            res["relayguard"] = run(lambda t, p: Relayguard(t, p, args.binary, key), args,
                                    source)
        if args.only != "relayguard":
            if not pfrelay.available():
                print("postfix: not available (needs Postfix and root)")
            else:
                res["postfix"] = run(lambda t, p: PostfixRelay(t, p, key), args, source)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
    for r in res.values():
        print("%-10s %6d/%d messages in %6.2f s: %7.1f msg/s, latency p50 %7.1f ms p99 %7.1f ms "
              "(%d probes, %d probe errors)%s" % (
                  r["name"], r["messages"], r["expected"], r["seconds"], r["rate"],
                  r["p50_ms"], r["p99_ms"], r["probes"], r["probe_errors"],
                  ", DKIM-signed %d" % r["signed"] if args.dkim else ""))
    ok = all(r["messages"] == r["expected"] for r in res.values())
    if args.dkim and not all(r["signed"] == r["messages"] for r in res.values()):
        print("error: not every message at the sink is DKIM-signed")
        ok = False
    if "relayguard" in res and "postfix" in res and res["postfix"]["rate"] > 0:
        print("speedup: %.1f" % (res["relayguard"]["rate"] / res["postfix"]["rate"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
