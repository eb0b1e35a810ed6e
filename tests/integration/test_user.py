"""relayguard user: add, list, passwd, check, disable, del through the binary.

Passwords go in with --password-stdin; Argon2 runs at the "min" cost so the
tests are fast (RELAYGUARD_ARGON2=min), except one at "interactive".
"""
import json
import os
import stat

import pytest

ENV = {"RELAYGUARD_ARGON2": "min"}
GOOD = "violet-canyon-tractor-47\n"
GOOD2 = "orchid-lantern-basalt-93\n"


@pytest.fixture
def users(tmp_path):
    return str(tmp_path / "users")


def test_add_list_check_passwd_del(run_rg, users, tmp_path):
    r = run_rg("user", "add", "--file", users, "--password-stdin", "--admin", "Sam@Example.COM",
               stdin=GOOD, env=ENV)
    assert r.rc == 0, r.err
    assert "sam@example.com" in r.out.lower()
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["users"]

    r = run_rg("user", "add", "--file", users, "--password-stdin", "bob", stdin=GOOD2, env=ENV)
    assert r.rc == 0, r.err

    r = run_rg("user", "list", "--file", users, "--json", env=ENV)
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["count"] == 2
    by = {u["name"]: u for u in doc["users"]}
    assert by["Sam@example.com"]["admin"] is True
    assert by["Sam@example.com"]["flags"] == ["admin"]
    assert by["bob"]["flags"] == []
    assert all(u["algorithm"] == "argon2id" for u in doc["users"])
    assert "$argon2" not in r.out and "argon2id$" not in r.out

    r = run_rg("user", "list", "--file", users, env=ENV)
    assert r.rc == 0 and "bob" in r.out and "$argon2" not in r.out

    r = run_rg("user", "check", "--file", users, "--password-stdin", "sam@example.com",
               stdin=GOOD, env=ENV)
    assert r.rc == 0, r.err
    r = run_rg("user", "check", "--file", users, "--password-stdin", "sam@example.com",
               stdin="sam1\n", env=ENV)
    assert r.rc == 1
    r = run_rg("user", "check", "--file", users, "--password-stdin", "nobody",
               stdin=GOOD, env=ENV)
    assert r.rc == 1

    r = run_rg("user", "passwd", "--file", users, "--password-stdin", "sam@example.com",
               stdin=GOOD2, env=ENV)
    assert r.rc == 0, r.err
    r = run_rg("user", "check", "--file", users, "--password-stdin", "sam@example.com",
               stdin=GOOD, env=ENV)
    assert r.rc == 1
    r = run_rg("user", "check", "--file", users, "--password-stdin", "sam@example.com",
               stdin=GOOD2, env=ENV)
    assert r.rc == 0
    r = run_rg("user", "passwd", "--file", users, "--password-stdin", "sam@example.com",
               stdin=GOOD2, env=ENV)
    assert r.rc == 2 and "same as the current" in r.err

    r = run_rg("user", "disable", "--file", users, "bob", env=ENV)
    assert r.rc == 0, r.err
    r = run_rg("user", "check", "--file", users, "--password-stdin", "bob", stdin=GOOD2, env=ENV)
    assert r.rc == 1 and "disabled" in r.err
    r = run_rg("user", "enable", "--file", users, "bob", env=ENV)
    r = run_rg("user", "check", "--file", users, "--password-stdin", "bob", stdin=GOOD2, env=ENV)
    assert r.rc == 0

    r = run_rg("user", "del", "--file", users, "bob", env=ENV)
    assert r.rc == 0, r.err
    r = run_rg("user", "del", "--file", users, "bob", env=ENV)
    assert r.rc == 2 and "no user bob" in r.err
    doc = run_rg("user", "list", "--file", users, "--json", env=ENV).json()
    assert [u["name"] for u in doc["users"]] == ["Sam@example.com"]
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["users"]


@pytest.mark.parametrize("user,pw,reason", [
    ("sam", "sam", "shorter than 10 characters"),
    ("sam", "sam1", "shorter than 10 characters"),
    ("test", "test123", "shorter than 10 characters"),
    ("root", "root", "shorter than 10 characters"),
    ("abuse", "abuse2024", "shorter than 10 characters"),
    ("sales", "Sales2024!", "password contains the user name"),
    ("sam", "sam1234567", "password contains the user name"),
    ("bob", "Summer2024!", "password is in the list of common passwords"),
    ("bob", "Password1!", "password is in the list of common passwords"),
    ("bob", "welcome123", "password is in the list of common passwords"),
    ("bob", "aaaaaaaaaaaa", "too few different characters"),
    ("bob", "1234567890", "common passwords"),
    ("bob", "", "password is empty"),
])
def test_weak_refused(run_rg, users, user, pw, reason):
    r = run_rg("user", "add", "--file", users, "--password-stdin", user, stdin=pw + "\n", env=ENV)
    assert r.rc == 2
    assert r.err.startswith("relayguard: user: password ")
    assert reason in r.err
    assert not os.path.exists(users)


def test_min_length_only_raises(run_rg, users):
    r = run_rg("user", "add", "--file", users, "--password-stdin", "--min-length", "30", "bob",
               stdin=GOOD, env=ENV)
    assert r.rc == 2 and "shorter than 30" in r.err
    r = run_rg("user", "add", "--file", users, "--min-length", "4", "bob", env=ENV)
    assert r.rc == 2 and "only raise" in r.err
    r = run_rg("user", "add", "--file", users, "--weak-ok", "bob", env=ENV)
    assert r.rc == 2 and "unknown option" in r.err


def test_usage_and_errors(run_rg, users, tmp_path):
    r = run_rg("user", "--help")
    assert r.rc == 0 and "user ACTION" in r.out
    assert run_rg("user").rc == 2
    assert run_rg("user", "frobnicate").rc == 2
    r = run_rg("user", "add", "--file", users, "--password-stdin", "bad:name", stdin=GOOD, env=ENV)
    assert r.rc == 2 and "':'" in r.err
    r = run_rg("user", "add", "--file", users, "bob", stdin=GOOD, env=ENV)
    assert r.rc == 2 and "--password-stdin" in r.err
    r = run_rg("user", "add", "--file", users, "--password-stdin", "bob", stdin="", env=ENV)
    assert r.rc == 2 and "no password" in r.err
    assert run_rg("user", "add", "--file", users, "--password-stdin", "bob", stdin=GOOD,
                  env=ENV).rc == 0
    r = run_rg("user", "add", "--file", users, "--password-stdin", "BOB", stdin=GOOD2, env=ENV)
    assert r.rc == 2 and "already exists" in r.err
    r = run_rg("user", "add", "--file", users, "--password-stdin", "--cost", "fast", "amy",
               stdin=GOOD2, env=ENV)
    assert r.rc == 2 and "argon2 cost" in r.err


def test_corrupt_file_changes_nothing(run_rg, users):
    assert run_rg("user", "add", "--file", users, "--password-stdin", "bob", stdin=GOOD,
                  env=ENV).rc == 0
    with open(users, "a") as f:
        f.write("mallory\n")
    before = open(users).read()
    r = run_rg("user", "add", "--file", users, "--password-stdin", "amy", stdin=GOOD2, env=ENV)
    assert r.rc == 2
    assert "%s:3: expected user:hash" % users in r.err
    assert open(users).read() == before
    assert run_rg("user", "list", "--file", users, env=ENV).rc == 2


def test_env_file_and_interactive_cost(run_rg, tmp_path):
    path = str(tmp_path / "sub" / "users")
    env = {"RELAYGUARD_USERS": path, "RELAYGUARD_ARGON2": "interactive"}
    r = run_rg("user", "add", "--password-stdin", "info@example.org", stdin=GOOD, env=env)
    assert r.rc == 0, r.err
    assert "$argon2id$v=19$m=65536,t=2,p=1$" in open(path).read()
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    r = run_rg("user", "check", "--password-stdin", "info@example.org", stdin=GOOD, env=env)
    assert r.rc == 0
    doc = run_rg("user", "list", "--json", env=dict(env, RELAYGUARD_ARGON2="default")).json()
    assert doc["users"][0]["needs_rehash"] is True
    assert json.dumps(doc).find("$argon2") < 0


def test_extra_common_list(run_rg, users, tmp_path):
    extra = tmp_path / "extra.txt"
    extra.write_text("# site list\nAcmeRocketSled77\n")
    env = dict(ENV, RELAYGUARD_COMMON_PASSWORDS=str(extra))
    r = run_rg("user", "add", "--file", users, "--password-stdin", "bob",
               stdin="acmerocketsled77\n", env=env)
    assert r.rc == 2 and "list of common passwords" in r.err
    env["RELAYGUARD_COMMON_PASSWORDS"] = str(tmp_path / "missing.txt")
    r = run_rg("user", "add", "--file", users, "--password-stdin", "bob", stdin=GOOD, env=env)
    assert r.rc == 2 and "missing.txt" in r.err
    # the shipped list is compiled in: works from any directory
    r = run_rg("user", "add", "--file", users, "--password-stdin", "bob",
               stdin="Winter2023!\n", env=ENV, cwd=str(tmp_path))
    assert r.rc == 2 and "common passwords" in r.err
