#!/usr/bin/python3
"""udp-delay.py LISTEN_IP:PORT UPSTREAM_IP:PORT DELAY_MS - a DNS-over-UDP relay
that holds every answer for DELAY_MS before passing it back: simulated resolver
latency for bench/check.sh when the kernel has no sch_netem.

Each query is forwarded at once under a relay-chosen ID from one upstream
socket; the answer gets the client's ID back and is sent on after the delay.
"""
import asyncio
import socket
import sys



def hostport(arg):
    host, port = arg.rsplit(":", 1)
    return host, int(port)


LISTEN, UPSTREAM, DELAY = hostport(sys.argv[1]), hostport(sys.argv[2]), float(sys.argv[3]) / 1e3


class Relay(asyncio.DatagramProtocol):
    """Both sides: the front socket hands queries here, the upstream socket answers."""

    def __init__(self):
        self.front = self.back = None
        self.pending = {}  # relay query id -> (client, client's id)
        self.next_id = 0

    def query(self, data, client):
        if len(data) < 12:
            return
        for _ in range(65536):
            self.next_id = (self.next_id + 1) & 0xFFFF
            if self.next_id not in self.pending:
                break
        self.pending[self.next_id] = (client, data[:2])
        self.back.sendto(self.next_id.to_bytes(2, "big") + data[2:])

    def datagram_received(self, answer, _):  # from upstream
        entry = self.pending.pop(int.from_bytes(answer[:2], "big"), None)
        if entry:
            client, qid = entry
            asyncio.get_running_loop().call_later(DELAY, self.front.sendto, qid + answer[2:],
                                                  client)


class Front(asyncio.DatagramProtocol):
    def __init__(self, relay):
        self.relay = relay

    def connection_made(self, transport):
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                                      4 << 20)
        self.relay.front = transport

    def datagram_received(self, data, client):
        self.relay.query(data, client)


async def main():
    loop = asyncio.get_running_loop()
    relay = Relay()
    relay.back, _ = await loop.create_datagram_endpoint(lambda: relay, remote_addr=UPSTREAM)
    relay.back.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    await loop.create_datagram_endpoint(lambda: Front(relay), local_addr=LISTEN)
    print("ready", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
