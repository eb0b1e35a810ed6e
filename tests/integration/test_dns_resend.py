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


class Responder:
    """Answers A queries for d.c.b.a.bl.test: 127.0.0.2 when d is odd, else NXDOMAIN."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.seen = {}  # qname -> arrival times
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            name, qtype, qend = qname_of(pkt)
            times = self.seen.setdefault(name, [])
            times.append(time.monotonic())
            last = int(name.split(".")[0])
            if last in DROP and len(times) == 1:
                continue
            listed = qtype == 1 and last % 2 == 1
            flags = 0x8180 | (0 if listed else 3)
            head = pkt[:2] + struct.pack("!HHHHH", flags, 1, 1 if listed else 0, 0, 0)
            body = pkt[12:qend]
            if listed:
                body += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 2])
            self.sock.sendto(head + body, peer)

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
