"""scripts/layering: the include check that keeps the layers of docs/architecture.md."""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "layering")


def run(root):
    return subprocess.run(["/usr/bin/python3", SCRIPT, str(root)], capture_output=True,
                          text=True, timeout=60)


def tree(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_repo_passes():
    p = run(ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "layering: ok" in p.stdout


def test_upward_include_fails(tmp_path):
    root = tree(tmp_path, {
        "core/str.c": '#include "core/str.h"\n',
        "smtp/session.c": '#include "core/str.h"\n#include "gateway/smtpd.h"\n',
        "gateway/smtpd.c": '#include "smtp/session.h"\n',
    })
    p = run(root)
    assert p.returncode == 1
    assert "src/smtp/session.c:2: smtp includes gateway/" in p.stdout


def test_core_and_policy_include_nothing_above(tmp_path):
    root = tree(tmp_path, {
        "core/log.c": '#include "net/dns.h"\n',
        "policy/engine.c": '#include "core/str.h"\n#include "queue/queue.h"\n',
    })
    p = run(root)
    assert p.returncode == 1
    assert "src/core/log.c:1: core includes net/" in p.stdout
    assert "src/policy/engine.c:2: policy includes queue/" in p.stdout


def test_unknown_folder_fails(tmp_path):
    root = tree(tmp_path, {"newthing/x.c": '#include "core/str.h"\n'})
    p = run(root)
    assert p.returncode == 1
    assert "src/newthing: folder has no place" in p.stdout
