"""Helpers for the admin-page tests: a serve process with an admin account,
an HTTP client with a cookie jar (stdlib only), the Postfix policy client,
and a minimal WebDriver client for chromedriver (W3C protocol over HTTP)."""
import base64
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from conftest import RG_BIN, Policy, free_port, rg  # noqa: F401 (Policy for the tests)

ADMIN, ADMIN_PW = "boss", "Admin-Pw-horse-42!"
USER, USER_PW = "sam@corp.test", "Plain-user-Pw-77?"
TOKEN = "t0k3n-for-the-api-0123456789"


class Server:
    def __init__(self, tmp, extra="", web_host="127.0.0.1", web_extra="", held=()):
        self.dir = tmp
        self.policy_port, self.web_port = free_port(), free_port()
        # one listener on a port of its own: the embedded defaults (2587, 2465,
        # 2525) would collide with any other relayguard on this machine
        self.smtp_port = free_port()
        users = tmp / "var" / "users"
        for name, pw, admin in ((ADMIN, ADMIN_PW, True), (USER, USER_PW, False)):
            args = ["user", "add", "--cost", "min", "--file", users, "--password-stdin"]
            if admin:
                args.append("--admin")
            r = rg(*args, name, stdin=pw + "\n")
            assert r.rc == 0, r.err
        if held:  # a spool with these (id, reason, sender) held, as the queue writes it
            from test_hold import make_spool
            make_spool(str(tmp / "var" / "spool"), list(held))
        self.conf = tmp / "relayguard.conf"
        self.conf.write_text(
            "[gateway]\nstate_dir = %s\nusers = %s\n"
            "[listener submission]\nlisten = 127.0.0.1:%d\nrole = submission\n"
            "[policyd]\nlisten = 127.0.0.1:%d\n"
            "[web]\nlisten = %s:%d\napi_token = %s\n%s[auth]\nip_failures = 5\ndelay = 10ms\n%s"
            % (tmp / "var", users, self.smtp_port, self.policy_port, web_host, self.web_port, TOKEN, web_extra,
               extra))
        self.log = open(tmp / "serve.log", "w")
        self.proc = subprocess.Popen([RG_BIN, "serve", "--config", str(self.conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.policy_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.web_port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "serve.log").read_text())
                time.sleep(0.05)
        self.base = "%s://127.0.0.1:%d" % ("https" if web_extra else "http", self.web_port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


class Client:
    """A browser-like HTTP client: cookies, no automatic redirects."""

    def __init__(self, base, context=None):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def req(self, path, data=None, headers=None, method=None):
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data).encode()
        r = urllib.request.Request(self.base + path, data=data, headers=headers or {},
                                   method=method)
        try:
            resp = self.opener.open(r, timeout=20)
        except urllib.error.HTTPError as e:
            resp = e
        body = resp.read().decode("utf-8", "replace")
        return resp.status, resp.headers, body

    def csrf_of(self, html):
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
        return m.group(1) if m else None

    def login(self, user=ADMIN, pw=ADMIN_PW, headers=None):
        st, _, page = self.req("/login", headers=headers)
        tok = self.csrf_of(page)
        return self.req("/login", {"csrf": tok, "user": user, "password": pw}, headers=headers)


def eom(user, ip, sender, rcpts=3):
    return dict(protocol_state="END-OF-MESSAGE", protocol_name="ESMTPA", client_address=ip,
                sasl_username=user, sender=sender, recipient="", recipient_count=str(rcpts),
                size="2048")


def compromise(policy, user="ann@corp.test"):
    """Traffic the engine reads as a hijacked account: logins from ten IPs in ten
    networks with seven envelope senders. Returns the replies."""
    replies = []
    for i in range(12):
        replies.append(policy.ask(**eom(user, "198.%d.7.%d" % (10 + 3 * i, i + 1),
                                        "x%d@corp.test" % (i % 7))))
    return replies


class WebDriver:
    """The W3C WebDriver protocol against chromedriver, standard library only."""

    def __init__(self, width=1280, height=900):
        self.port = free_port()
        self.proc = subprocess.Popen(["/usr/bin/chromedriver", "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 15
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run",
                         "--window-size=%d,%d" % (width, height)]}}}}
        self.sid = self._call("POST", "/session", caps)["value"]["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError("webdriver %s %s: %s" % (method, path, e.read()[:500]))

    def s(self, method, path, body=None):
        return self._call(method, "/session/%s%s" % (self.sid, path), body)["value"]

    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        v = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def finds(self, css):
        v = self.s("POST", "/elements", {"using": "css selector", "value": css})
        return [next(iter(e.values())) for e in v]

    def type(self, css, text):
        self.s("POST", "/element/%s/value" % self.find(css), {"text": text})

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css), {})

    def click_nav(self, css, timeout=15):
        """Clicks an element that loads a new page and waits until that page
        has loaded: the click can return before the browser has even begun
        to leave the old one, so the old document is marked and the wait
        ends when a document without the mark is complete."""
        self.js("document.rgOldPage = true;")
        self.click(css)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.js("return !document.rgOldPage && document.readyState === 'complete';"):
                    return
            except RuntimeError:
                pass  # a script run while the page was being replaced
            if time.monotonic() > deadline:
                raise RuntimeError("no new page %.0f s after clicking %s" % (timeout, css))
            time.sleep(0.05)

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def source(self):
        return self.s("GET", "/source")

    def resize(self, width, height):
        self.s("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def quit(self):
        try:
            self._call("DELETE", "/session/%s" % self.sid)
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
