"""scripts/peers-check on the repository and on small fixture trees: a test
starting a program whose package bootstrap does not install, a program that
is not installed, and a run set with an MTA, a browser or a server all fail."""
import os
import subprocess

from conftest import ROOT

CHECK = os.path.join(ROOT, "scripts", "peers-check")
CHECK_SET = "python3 python3-pytest nmap openssl iproute2 swaks"


def fixture(tmp_path, run_set="openssl pkg-config", check_set=CHECK_SET, py="", sh=""):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "bootstrap").write_text(
        '#!/bin/sh\n[ "$1" = list ] || exit 2\n'
        'case "${2:-check}" in run) echo %s ;; *) echo %s %s ;; esac\n'
        % (run_set, run_set, check_set))
    (tmp_path / "tests" / "integration").mkdir(parents=True)
    (tmp_path / "bench").mkdir()
    (tmp_path / "tests" / "integration" / "test_x.py").write_text(py)
    (tmp_path / "bench" / "x.sh").write_text(sh)
    return tmp_path


def run(root):
    p = subprocess.run([CHECK, "--root", str(root)], capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout + p.stderr


def test_the_repository_passes():
    rc, out = run(ROOT)
    assert rc == 0, out
    assert out.strip().split("\n")[-1].startswith("peers-check: ok (")


GOOD_PY = '''import shutil, subprocess, sys
NMAP = shutil.which("nmap")
def test_a():
    subprocess.run([NMAP, "-V"])
    subprocess.run(["openssl", "version"])
    subprocess.run([sys.executable, "-c", "pass"])
    subprocess.Popen(["/usr/sbin/ip", "link"])
'''
GOOD_SH = '''#!/bin/bash
set -eu
wait_port() { sleep 0.1; }
out=$(swaks --version 2>&1 | head -n 1)
cat <<EOF >conf
state_dir = ./var
rbldnsd = yes
EOF
n=$((3 + 4))
wait_port
'''


def test_a_fixture_whose_peers_are_all_in_the_check_set_passes(tmp_path):
    rc, out = run(fixture(tmp_path, py=GOOD_PY, sh=GOOD_SH))
    assert rc == 0, out
    assert "ok (" in out


def test_a_peer_missing_from_the_check_set_fails(tmp_path):
    # nmap is installed on this machine, but this bootstrap does not install it:
    # the suite would pass only where someone installed it by hand.
    rc, out = run(fixture(tmp_path, check_set=CHECK_SET.replace("nmap ", ""), py=GOOD_PY))
    assert rc == 1, out
    assert "tests/integration/test_x.py:2 (and 1 more): nmap (/usr/bin/nmap) comes from nmap, " \
           "which scripts/bootstrap does not install" in out


def test_a_peer_started_by_a_bench_script_is_checked_too(tmp_path):
    rc, out = run(fixture(tmp_path, check_set=CHECK_SET.replace("swaks", ""), sh=GOOD_SH))
    assert rc == 1, out
    assert "bench/x.sh:4: swaks (/usr/bin/swaks) comes from swaks" in out


def test_a_program_that_is_not_installed_fails(tmp_path):
    py = 'import subprocess\nsubprocess.run(["relayguard-no-such-peer", "-x"])\n'
    sh = '#!/bin/sh\nif command -v rg-no-such-tool >/dev/null; then :; fi\n'
    rc, out = run(fixture(tmp_path, py=py, sh=sh))
    assert rc == 1, out
    assert "test_x.py:2: relayguard-no-such-peer is not installed" in out
    assert "bench/x.sh:2: rg-no-such-tool is not installed" in out


def test_a_run_set_with_an_mta_a_browser_or_a_server_fails(tmp_path):
    rc, out = run(fixture(tmp_path, run_set="openssl postfix chromium redis-server"))
    assert rc == 1, out
    assert "run set: postfix is an MTA (provides mail-transport-agent)" in out
    assert "run set: chromium is a web browser" in out
    assert "run set: redis-server ships a server" in out
    assert "run set: openssl" not in out
