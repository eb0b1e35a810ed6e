"""One configuration for every subcommand (issue 19): with no --config a
command reads the installed file ($RELAYGUARD_CONFIG here, standing in for
/etc/relayguard/relayguard.conf), whose state and spool default to
/var/lib/relayguard and /var/spool/relayguard; status, block and hold that
find no state where they look say so and exit 2; user finds the gateway's
users file; replay and logscan take the gateway file's policy sections."""
import os
import re

from conftest import rg
from rgserve import Serve
from test_replay import brute_log


def test_installed_defaults(tmp_path):
    conf = tmp_path / "relayguard.conf"
    conf.write_text("[gateway]\nhostname = gw.test\n")
    env = {"RELAYGUARD_CONFIG": str(conf)}
    r = rg("checkconf", env=env)
    assert r.rc == 0, r.err
    assert "configuration OK (%s)" % conf in r.out
    assert "state /var/lib/relayguard, spool /var/spool/relayguard" in r.out
    # The same file through --config: the same defaults.
    r = rg("checkconf", "--config", conf, env=env)
    assert "state /var/lib/relayguard, spool /var/spool/relayguard" in r.out
    # Another file keeps the source tree's ./var; no default file: the embedded defaults.
    other = tmp_path / "other.conf"
    other.write_text("[gateway]\nhostname = gw.test\n")
    assert "state ./var, spool ./var/spool" in rg("checkconf", "--config", other, env=env).out
    r = rg("checkconf", env={"RELAYGUARD_CONFIG": ""})
    assert "configuration OK (embedded defaults)" in r.out and "state ./var," in r.out
    r = rg("checkconf", env={"RELAYGUARD_CONFIG": str(tmp_path / "absent.conf")})
    assert "configuration OK (embedded defaults)" in r.out


def test_no_state_where_it_looks(tmp_path):
    srv = Serve(tmp_path)
    env = {"RELAYGUARD_CONFIG": srv.conf}
    state = os.path.join(srv.dir, "var")
    for args in (["status"], ["block", "list"], ["block", "audit"], ["hold", "list"]):
        r = rg(*args, env=env, cwd=str(tmp_path))
        assert r.rc == 2, (args, r.out, r.err)
        # "no state in", "no state store in", "no spool in": where it looked
        assert re.search(r"no (state|state store|spool) in %s/" % re.escape(state), r.err), \
            (args, r.err)
        assert r.out == "", (args, r.out)
    assert not os.path.exists(state)
    # An account made through the configuration, then the server: every command
    # finds the same state from another directory, with no --config at all.
    r = rg("user", "add", "--password-stdin", "--config", srv.conf, "ann@corp.test",
           stdin="Ql7-vexa-Wum9-trop\n", env={"RELAYGUARD_ARGON2": "min"})
    assert r.rc == 0, r.err
    assert os.path.exists(os.path.join(state, "users"))
    r = rg("user", "list", "--json", env=env, cwd="/")
    assert [u["name"] for u in r.json()["users"]] == ["ann@corp.test"], r.out
    srv.start()
    try:
        r = rg("status", "--json", env=env, cwd="/")
        assert r.rc == 0, r.err
        r = rg("block", "add", "192.0.2.7", env=env, cwd="/")
        assert r.rc == 0, r.err
        r = rg("block", "list", "--json", env=env, cwd="/")
        assert [b["identity"] for b in r.json()["blocks"]] == ["ip:192.0.2.7"]
        r = rg("hold", "list", "--json", env=env, cwd="/")
        assert r.rc == 0 and r.json()["holds"] == [], r.err
    finally:
        assert srv.stop() == 0, srv.log()


def test_replay_reads_the_gateway_file(tmp_path):
    log = tmp_path / "brute.log"
    log.write_text(brute_log(17))
    assert rg("replay", log).rc == 1  # the default [auth] locks the IP out
    gw = tmp_path / "gw.conf"
    gw.write_text("[gateway]\nhostname = gw.test\n[listener mx]\nlisten = 127.0.0.1:2500\n"
                  "role = inbound\n[auth]\nip_failures = 100\n")
    r = rg("replay", "--config", gw, log)
    assert r.rc == 0 and r.out.endswith("0 verdicts not allow\n"), r.out + r.err
    pol = tmp_path / "policy.conf"
    pol.write_text("[auth]\nip_failures = 100\n")
    assert rg("replay", "--config", pol, log).rc == 0  # the policy-only file
    bad = tmp_path / "bad.conf"
    bad.write_text("[gateway]\nmax_recipients = many\n")
    r = rg("replay", "--config", bad, log)
    assert r.rc == 2 and "read as a gateway configuration" in r.err and "max_recipients" in r.err
