"""The build's version (git describe --always --dirty, baked in by the
Makefile) in --version, the SMTP banner and relayguard_build_info."""
import re
import socket
import subprocess
import time
import urllib.request

from conftest import ROOT, rg
from rgserve import Serve


def built_version():
    r = rg("--version")
    assert r.rc == 0, r.err
    m = re.match(r"^relayguard (\S+)\n$", r.out)
    assert m, r.out
    assert rg("version").out == r.out
    return m.group(1)


def test_version_is_the_git_describe_of_the_build():
    v = built_version()
    describe = subprocess.run(["git", "describe", "--always"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    # The commit is the checkout's; -dirty says whether the tree had changes.
    assert re.sub(r"-dirty$", "", v) == describe, (v, describe)


def test_banner_and_metric_carry_the_version(tmp_path):
    v = built_version()
    s = Serve(tmp_path).start()
    try:
        with open(s.conf) as f:
            port = int(re.search(r"\[listener submission\]\nlisten = 127.0.0.1:(\d+)",
                                 f.read()).group(1))
        deadline = time.monotonic() + 15
        while True:  # start() waits for the policy and web ports only
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, s.log()
                time.sleep(0.05)
        with c:
            banner = c.recv(512).decode()
        assert re.match(r"^220 \S+ ESMTP relayguard \(%s\)\r\n$" % re.escape(v), banner), banner
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.web,
                                      timeout=10).read().decode()
        assert '\nrelayguard_build_info{version="%s"} 1\n' % v in text
        assert "# TYPE relayguard_build_info gauge" in text
    finally:
        assert s.stop() == 0, s.log()
