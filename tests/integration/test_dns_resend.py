"""relayguard check resends a query whose answer was lost, after the measured
round trip rather than c-ares' fixed 2 s per-try timeout (issue 19 item 9).

A small UDP DNS responder on loopback drops the first copy of some queries and
answers every later copy: the check must be complete and correct, and each
dropped query's next copy must arrive well under 2 s after the first.
"""
import socket
import struct
import threading
import time

from conftest import rg

ZONE = "bl.test"
NET = "192.0.2."
DROP = {3, 7, 8, 12}  # last octets whose first query is lost


def qname_of(pkt):
    labels, i = [], 12
    while pkt[i]:
        n = pkt[i]
        labels.append(pkt[i + 1:i + 1 + n].decode())
        i += 1 + n
    qtype = struct.unpack("!H", pkt[i + 1:i + 3])[0]
    return ".".join(labels).lower(), qtype, i + 5


def answer(pkt, name, qtype, qend):
    """127.0.0.2 for an A query of d.c.b.a.bl.test when d is odd, else NXDOMAIN."""
    listed = qtype == 1 and int(name.split(".")[0]) % 2 == 1
    flags = 0x8180 | (0 if listed else 3)
    head = pkt[:2] + struct.pack("!HHHHH", flags, 1, 1 if listed else 0, 0, 0)
    body = pkt[12:qend]
    if listed:
        body += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 2])
    return head + body


class Responder:
    """Answers every query (see answer()) but the first copy of those in DROP;
    with hold set, holds each answer that many seconds."""

    def __init__(self, hold=0.0):
        self.hold = hold
        self.held = []  # (due, packet, peer)
        self.arrivals = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.005)
        self.port = self.sock.getsockname()[1]
        self.seen = {}  # qname -> arrival times
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            now = time.monotonic()
            while self.held and self.held[0][0] <= now:
                _, out, peer = self.held.pop(0)
                self.sock.sendto(out, peer)
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            now = time.monotonic()
            self.arrivals.append(now)
            name, qtype, qend = qname_of(pkt)
            times = self.seen.setdefault(name, [])
            times.append(now)
            if not self.hold and int(name.split(".")[0]) in DROP and len(times) == 1:
                continue
            out = answer(pkt, name, qtype, qend)
            if self.hold:
                self.held.append((now + self.hold, out, peer))
            else:
                self.sock.sendto(out, peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_lost_answer_is_resent_soon_and_result_complete():
    srv = Responder()
    try:
        t0 = time.monotonic()
        r = rg("check", "--json", "--resolver", "127.0.0.1:%d" % srv.port, "--zone", ZONE,
               "--no-selftest", "--no-txt", NET + "0/28")
        elapsed = time.monotonic() - t0
    finally:
        srv.close()
    assert r.rc == 1, (r.out, r.err)  # something listed, no errors
    doc = r.json()
    assert len(doc["results"]) == 16
    for res in doc["results"]:
        last = int(res["target"].rsplit(".", 1)[1])
        want = "listed" if last % 2 == 1 else "clean"
        assert res["status"] == want, res
    assert doc["summary"]["errors"] == 0
    for last in DROP:
        times = srv.seen["%d.2.0.192.%s" % (last, ZONE)]
        assert len(times) >= 2, (last, times)
        gap = times[1] - times[0]
        assert gap < 0.5, (last, gap)  # c-ares alone waits its 2 s timeout
    assert elapsed < 1.5, elapsed


def test_window_starts_small_and_grows():
    """A /24 is 256 queries; --concurrency 256 used to put all of them on the
    wire at once. The window starts at 64 and grows with the answers."""
    srv = Responder(hold=0.3)
    try:
        r = rg("check", "--json", "--resolver", "127.0.0.1:%d" % srv.port, "--zone", ZONE,
               "--no-selftest", "--no-txt", "--concurrency", "256", NET + "0/24")
    finally:
        srv.close()
    assert r.rc == 1, (r.out, r.err)
    doc = r.json()
    assert len(doc["results"]) == 256 and doc["summary"]["errors"] == 0
    first = srv.arrivals[0]
    early = sum(1 for t in srv.arrivals if t - first < 0.2)  # before any answer
    assert early == 64, early
    assert len(srv.arrivals) >= 256
