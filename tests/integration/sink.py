"""Postfix's smtp-sink on 127.0.0.1, keeping every message it accepts as a
file (its -d dump: X-Client-Addr, X-Mail-Args, X-Rcpt-Args lines, then the
message as received), so tests can count messages and read their headers.

    sink = Sink(tmpdir).start()     # sink.port
    sink.count(), sink.messages()   # [(path, bytes)]
    sink.stop()
"""
import os
import shutil
import socket
import subprocess
import time



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class Sink:
    def __init__(self, tmp, port=None, backlog=1024):
        self.dir = os.path.join(str(tmp), "sink")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        # smtp-sink runs as nobody when started by root: it must reach the directory
        p = os.path.dirname(self.dir)
        while p != "/":
            os.chmod(p, os.stat(p).st_mode | 0o011)
            p = os.path.dirname(p)
        self.port = port or free_port()
        self.backlog = backlog
        self.proc = None

    def start(self):
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            [SMTP_SINK] + user + ["-d", os.path.join(self.dir, "%H%M%S."),
                                  "127.0.0.1:%d" % self.port, str(self.backlog)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("smtp-sink: " + self.proc.stderr.read().decode())
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not listen")

    def files(self):
        return [os.path.join(self.dir, f) for f in os.listdir(self.dir)]

    def count(self):
        return len(os.listdir(self.dir))

    def messages(self):
        out = []
        for p in sorted(self.files()):
            with open(p, "rb") as f:
                out.append((p, f.read()))
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# A policy that lets bulk test traffic through: every rate limit far away and
# the behaviour signals that identical bulk mail trips (volume, one body to
# many recipients, many senders) weighed zero. For kill and bench runs only.
BULK_POLICY = (
    "[limits]\n" + "".join("%s = 1000000000\n" % k for k in (
        "msg_minute", "msg_hour", "msg_day", "rcpt_hour", "rcpt_day", "bytes_hour",
        "uniq_rcpt_hour", "uniq_domain_hour", "null_hour")) +
    "[signals]\nvolume_weight = 0\nfingerprint_weight = 0\nsenders_weight = 0\n"
    "rejected_weight = 0\nactive_weight = 0\n")
