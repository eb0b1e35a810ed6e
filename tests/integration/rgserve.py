"""`relayguard serve` as a test peer: written config, free ports, started and
stopped by the test (SIGTERM, then a clean exit is expected)."""
import os
import signal
import socket
import subprocess
import time

from conftest import RG_BIN, free_port


class Serve:
    command = "serve"  # relayguard policyd: the same without SMTP listeners

    def __init__(self, tmpdir, extra="", name="serve", policy_port=None, web=True):
        self.dir = os.path.join(str(tmpdir), name)
        os.makedirs(self.dir, exist_ok=True)
        self.policy = policy_port or free_port()
        self.web = free_port() if web else None
        self.conf = os.path.join(self.dir, "relayguard.conf")
        with open(self.conf, "w") as f:
            # One SMTP listener on a free port (the embedded defaults' fixed
            # ports would collide between servers).
            f.write("[gateway]\nstate_dir = %s\n[policyd]\nlisten = 127.0.0.1:%d\n"
                    "[web]\nlisten = %s\n[listener submission]\nlisten = 127.0.0.1:%d\n%s"
                    % (os.path.join(self.dir, "var"), self.policy,
                       "127.0.0.1:%d" % self.web if web else "", free_port(), extra))
        self.proc = None
        self.errfile = os.path.join(self.dir, "serve.err")

    def start(self, preexec_fn=None):
        self.err = open(self.errfile, "w")
        self.proc = subprocess.Popen([RG_BIN, self.command, "--config", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=self.err,
                                     preexec_fn=preexec_fn)
        deadline = time.monotonic() + 15
        ports = [self.policy] + ([self.web] if self.web else [])
        while time.monotonic() < deadline:
            try:
                for p in ports:
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("serve exited: " + self.log())
                time.sleep(0.05)
        raise RuntimeError("serve does not listen: " + self.log())

    def log(self):
        with open(self.errfile, errors="replace") as f:
            return f.read()

    def stop(self):
        """Stops it; returns its exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.err.close()
            return self.proc.returncode
        return None
