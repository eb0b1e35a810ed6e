"""Shared fixtures for relayguard's integration tests.

Every test starts the peers it needs itself, on loopback, and stops them.
RG_BIN names the relayguard binary under test (scripts/run-tests sets it to
the sanitizer build).
"""
import json
import os
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RG_BIN = os.environ.get("RG_BIN", os.path.join(ROOT, "build", "asan", "relayguard"))
DATA = os.path.join(ROOT, "tests", "data")
# Hermetic: no test reads an installed /etc/relayguard/relayguard.conf (the
# default configuration when --config is not given; docs/daemon.md).
os.environ.setdefault("RELAYGUARD_CONFIG", "")


def free_port(family=socket.AF_INET, kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port that was free a moment ago on host (UDP or TCP)."""
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)


def rg(*args, stdin=None, timeout=60, env=None, cwd=None):
    """Runs relayguard with args; returns a Result (rc, out, err, json())."""
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if env:
        e.update(env)
    p = subprocess.run([RG_BIN] + [str(a) for a in args], input=stdin, capture_output=True,
                       text=True, timeout=timeout, env=e, cwd=cwd or ROOT)
    return Result(p)


@pytest.fixture
def run_rg():
    return rg


def policy_request(**attrs):
    """One Postfix policy delegation request (SMTPD_POLICY_README) as text."""
    attrs.setdefault("request", "smtpd_access_policy")
    return "".join("%s=%s\n" % kv for kv in attrs.items()) + "\n"


class Policy:
    """A Postfix policy delegation client on one persistent connection."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def ask(self, **attrs):
        self.s.sendall(policy_request(**attrs).encode())
        while b"\n\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n\n", 1)
        return reply.decode()

    def close(self):
        self.s.close()


def wait_until(cond, timeout):
    """Polls cond() every 0.1 s until it is true or timeout seconds passed; its last value."""
    import time
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()
