"""mxsim: scripted SMTP servers on 127.0.0.x that play remote MX hosts.

Each MX has a mode, changeable while it runs:
  accept       250 to everything, the message is kept
  defer        451 4.2.0 to every RCPT
  reject_bad   550 5.1.1 to recipients starting with "bad", 250 to the others
  drop_data    closes the connection in the middle of the data
  stall        accepts the connection and never says a word
  greet421     421 at once
Options: starttls (an ssl.SSLContext to offer STARTTLS with), auth
("user", "password") to require AUTH PLAIN after TLS.

Every message kept is a dict: mail_from, rcpts, data (bytes, dot-stuffing
undone), tls (bool), auth (user or None), peer (the client's address). Servers run on one asyncio loop in
a background thread.
"""
import asyncio
import base64
import socket
import threading
import time


class MX:
    def __init__(self, ip, port, mode="accept", starttls=None, auth=None):
        self.ip, self.port, self.mode = ip, port, mode
        self.starttls, self.auth = starttls, auth
        self.messages, self.connections = [], 0
        self.rcpt_replies = []
        self.defer_first = 0  # with mode accept: defer this many RCPTs first

    async def handle(self, reader, writer):
        self.connections += 1
        peer = writer.get_extra_info("peername")[0]
        mode = self.mode
        if mode == "stall":
            try:
                await reader.read()
            except Exception:
                pass
            writer.close()
            return
        if mode == "greet421":
            writer.write(b"421 4.3.2 busy, try later\r\n")
            await writer.drain()
            writer.close()
            return
        writer.write(b"220 %s ESMTP mxsim\r\n" % self.ip.encode())
        tls, user = False, None
        mail_from, rcpts = None, []
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode("latin-1").rstrip("\r\n")
                up = cmd.upper()
                if up.startswith("EHLO"):
                    ext = ["250-%s" % self.ip, "250-PIPELINING", "250-SIZE 10000000",
                           "250-8BITMIME", "250-ENHANCEDSTATUSCODES"]
                    if self.starttls and not tls:
                        ext.append("250-STARTTLS")
                    if self.auth and tls:
                        ext.append("250-AUTH PLAIN")
                    ext.append("250 DSN")
                    writer.write(("\r\n".join(ext) + "\r\n").encode())
                elif up.startswith("HELO"):
                    writer.write(b"250 ok\r\n")
                elif up == "STARTTLS" and self.starttls and not tls:
                    writer.write(b"220 2.0.0 go ahead\r\n")
                    await writer.drain()
                    await writer.start_tls(self.starttls)
                    tls = True
                elif up.startswith("AUTH PLAIN "):
                    raw = base64.b64decode(cmd[11:])
                    parts = raw.split(b"\0")
                    if self.auth and parts[1:] == [self.auth[0].encode(), self.auth[1].encode()]:
                        user = self.auth[0]
                        writer.write(b"235 2.7.0 ok\r\n")
                    else:
                        writer.write(b"535 5.7.8 bad credentials\r\n")
                elif up.startswith("MAIL FROM:"):
                    if self.auth and not user:
                        writer.write(b"530 5.7.0 authentication required\r\n")
                        continue
                    mail_from, rcpts = cmd[10:].split(" ")[0], []
                    writer.write(b"250 2.1.0 ok\r\n")
                elif up.startswith("RCPT TO:"):
                    addr = cmd[8:].split(" ")[0].strip("<>")
                    if self.mode == "defer" or self.defer_first > 0:
                        self.defer_first = max(0, self.defer_first - 1)
                        r = b"451 4.2.0 <%s>: try again later\r\n" % addr.encode()
                    elif self.mode == "reject_bad" and addr.startswith("bad"):
                        r = b"550 5.1.1 <%s>: Recipient address rejected: User unknown\r\n" % addr.encode()
                    else:
                        rcpts.append(addr)
                        r = b"250 2.1.5 ok\r\n"
                    self.rcpt_replies.append(r)
                    writer.write(r)
                elif up == "DATA":
                    if not rcpts:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                        continue
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    data = []
                    while True:
                        l = await reader.readline()
                        if not l:
                            return
                        if self.mode == "drop_data":
                            writer.transport.abort()
                            return
                        if l == b".\r\n":
                            break
                        data.append(l[1:] if l.startswith(b".") else l)
                    self.messages.append({"mail_from": mail_from, "rcpts": rcpts,
                                          "data": b"".join(data), "tls": tls, "auth": user,
                                          "peer": peer})
                    writer.write(b"250 2.0.0 Ok: queued as %d\r\n" % len(self.messages))
                    mail_from, rcpts = None, []
                elif up == "RSET":
                    mail_from, rcpts = None, []
                    writer.write(b"250 2.0.0 ok\r\n")
                elif up == "QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    break
                elif up == "NOOP":
                    writer.write(b"250 ok\r\n")
                else:
                    writer.write(b"502 5.5.2 unknown command\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass


class MXSim:
    """Servers on ips (one port for all); start() then mx[ip]."""

    def __init__(self, ips):
        self.ips = ips
        self.port = self._common_port()
        self.mx = {ip: MX(ip, self.port) for ip in ips}
        self.loop = asyncio.new_event_loop()
        self.servers = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @staticmethod
    def _family(ip):
        return socket.AF_INET6 if ":" in ip else socket.AF_INET

    def _common_port(self):
        for _ in range(50):
            with socket.socket(self._family(self.ips[0])) as s:
                s.bind((self.ips[0], 0))
                port = s.getsockname()[1]
            ok = True
            for ip in self.ips:
                with socket.socket(self._family(ip)) as t:
                    try:
                        t.bind((ip, port))
                    except OSError:
                        ok = False
            if ok:
                return port
        raise RuntimeError("no common free port")

    def start(self):
        self.thread.start()
        for ip in self.ips:
            m = self.mx[ip]
            fut = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(m.handle, ip, self.port, reuse_address=True), self.loop)
            self.servers.append(fut.result(5))
        return self

    def stop(self):
        for s in self.servers:
            self.loop.call_soon_threadsafe(s.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def wait(self, cond, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return True
            time.sleep(0.05)
        return cond()
