"""The control socket: with `relayguard serve` running, block and unblock go
through it (the running engine makes the change, a range block applies at
once, no reload wait); without a server they change the store directly; the
socket is its owner's only; a bad request gets an error, not a crash."""
import json
import os
import socket
import stat

from conftest import rg
from rgserve import Serve
from test_serve import Policy, RCPT


def test_block_through_the_running_server(tmp_path):
    srv = Serve(tmp_path).start()
    try:
        path = os.path.join(srv.dir, "var", "control.sock")
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077 == 0
        c = Policy(srv.policy)
        q = dict(RCPT, sasl_username="", client_address="198.51.100.77")
        assert c.ask(**q) == "action=DUNNO"
        r = rg("block", "--config", srv.conf, "add", "198.51.100.0/24", "--reason", "guest NAT",
               "--json")
        assert r.rc == 0, r.err
        assert r.json() == {"identity": "cidr:198.51.100.0/24", "result": "blocked",
                            "via": "server"}
        # at once: the running engine made the change
        assert c.ask(**q).startswith("action=REJECT relayguard block:manual: "
                                     "cidr:198.51.100.0/24 is blocked: guest NAT")
        r = rg("unblock", "--config", srv.conf, "198.51.100.0/24", "--json")
        assert r.json()["result"] == "unblocked" and r.json()["via"] == "server"
        assert c.ask(**q) == "action=DUNNO"
        r = rg("unblock", "--config", srv.conf, "nobody@example.com")
        assert r.rc == 0 and "was not blocked" in r.out
        assert rg("block", "--config", srv.conf, "add", "not an identity!").rc == 2
        # the audit trail names the person
        audit = rg("block", "--config", srv.conf, "audit", "--json").json()["audit"]
        assert [a["action"] for a in audit] == ["block", "unblock", "unblock"]
        # garbage on the socket: an error line, and the server goes on
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"hello\n{\"cmd\": \"ping\"}\n{\"cmd\": \"explode\"}\n")
        f = s.makefile("rb")
        assert json.loads(f.readline())["ok"] is False
        pong = json.loads(f.readline())
        assert pong["ok"] is True and pong["store"] == "lmdb" and pong["fallback"] is False
        bad = json.loads(f.readline())
        assert bad["code"] == "unknown_type" and "unknown type" in bad["error"]
        s.close()
        c.close()
    finally:
        assert srv.stop() == 0, srv.log()
    # no server: the store directly, same result
    assert not os.path.exists(path)
    r = rg("block", "--config", srv.conf, "add", "eve@example.com", "--json")
    assert r.rc == 0 and r.json()["result"] == "blocked" and "via" not in r.json()


def test_checkconf_state_store_and_alerts(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[gateway]\nstate_store = redis\nredis = [::1]:6380\nredis_prefix = mx:\n"
                    "[alert]\nexec = /usr/bin/logger -t relayguard\nexec = /bin/true\n"
                    "webhook = https://hooks.example.org/relayguard\nblock_digest = 5m\n")
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
    assert "state store: redis at [::1]:6380, key prefix mx:" in r.out
    assert "alerts on blocks: 2 program(s), 1 webhook(s), 0 mail address(es); digest every 300 s" in r.out
    assert "state store: lmdb in ./var/policy" in rg("checkconf").out
    for body, msg in [
        ("[gateway]\nstate_store = etcd\n", "state_store: expected lmdb or redis"),
        ("[gateway]\nredis = *:6379\n", "a wildcard is no address to connect to"),
        ("[gateway]\nredis_timeout = forever\n", "c.conf:2: redis_timeout"),
        ("[alert]\nwebhook = ftp://example.org/\n", "c.conf:2: webhook URL must start"),
        ("[alert]\n" + "exec = /bin/true\n" * 5, "c.conf:6: more than 4 alert execs"),
        ("[alert]\nblock_digest = 0s\n", "c.conf:2: block_digest"),
    ]:
        conf.write_text(body)
        r = rg("checkconf", "--config", conf)
        assert r.rc == 2 and msg in r.err, (body, r.err)
