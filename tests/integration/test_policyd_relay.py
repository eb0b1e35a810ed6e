"""The policy service identifies by sender behind a trusted relay (issue 15
item 2, docs/deploy-postfix.md "The organisation's own server behind
Postfix"): an internal server at 10.0.0.5 relays through Postfix for 40
mailboxes of corp.test without SASL, and Postfix delegates at RCPT with an
`instance` per message. With [gateway] identify_sender (or [policyd]
identify = sender) each request is decided for its envelope sender: one
mailbox spraying 200 messages of 10 recipients is held within 50 messages
(HOLD, never REJECT: the internal server would bounce to its own user), the
39 others get DUNNO throughout, the server's ip: identity is never blocked,
and a sender outside the local domains is counted on that ip: identity."""
from conftest import rg
from test_policyd_instance import counters
from test_policyd_instance import serving as instance_serving

RELAY = "10.0.0.5"
SPRAY = "spray@corp.test"
COLLEAGUES = ["user%02d@corp.test" % i for i in range(39)]
BASE = ("[gateway]\nlocal_domains = corp.test\n"
        "trusted_networks = 127.0.0.0/8, 10.0.0.0/24\n%s"
        # docs/deploy-smarthost.md: a mailbox past a volume of 5 messages an
        # hour is held and blocked on that signal alone
        "[signals]\nvolume_floor_hour = 5\n[actions]\nscore_hold = 30\nscore_block = 30\n%s")


def msgs(c):
    """Messages counted on an identity today (its msg_day counter)."""
    return c["limits"]["msg_day"] if c["found"] else 0


def blocks(srv):
    r = rg("block", "--config", srv.conf, "list", "--json")
    assert r.rc == 0, r.err
    return {b["identity"] for b in r.json()["blocks"]}


def serving(tmp_path, gateway="identify_sender = %s/32\n" % RELAY, extra=""):
    return instance_serving(tmp_path, BASE % (gateway, extra))


def message(pol, sender, instance, rcpts, ip=RELAY):
    """RCPT requests of one message as Postfix sends them (no sasl_username:
    the internal server does not authenticate); the actions."""
    out = []
    for n, r in enumerate(rcpts):
        out.append(pol.ask(protocol_state="RCPT", protocol_name="ESMTP", client_address=ip,
                           client_name="mail.corp.test", reverse_client_name="mail.corp.test",
                           helo_name="mail.corp.test", sasl_method="", sasl_username="",
                           sender=sender, recipient=r, recipient_count=str(n), size="0",
                           queue_id="", instance=instance))
    return out


def test_sender_behind_trusted_relay(tmp_path):
    with serving(tmp_path) as (srv, pol):
        spray, office, k = [], [], 0
        for i in range(200):
            rcpts = ["victim%d@example%d.net" % (i * 10 + j, j) for j in range(10)]
            spray.append(message(pol, SPRAY, "5a.6752a1f0.%x.%d" % (i, i), rcpts))
            # the colleagues' mail interleaved, 3 messages each
            while k < 3 * len(COLLEAGUES) and (i % 5 == 4 or i == 199):
                office += message(pol, COLLEAGUES[k % len(COLLEAGUES)],
                                  "6b.6752a1f0.%x.%d" % (k, k), ["friend%d@example.org" % k])
                k += 1
                if k % 3 == 0 and i < 199:
                    break
        assert k == 3 * len(COLLEAGUES)
        first = next((m for m, acts in enumerate(spray)
                      if any(not a.startswith("action=DUNNO") for a in acts)), None)
        assert first is not None and first < 50, first
        print("sprayer held from message %d of 200" % (first + 1))
        refused = [a for acts in spray[first:] for a in acts if not a.startswith("action=DUNNO")]
        # held, never refused: every later recipient of the sprayer is HOLD
        assert all(a.startswith("action=HOLD") for a in refused), set(refused)
        assert all(a.startswith("action=HOLD") for acts in spray[first + 1:] for a in acts)
        assert all(a == "action=DUNNO" for a in office), [a for a in office if a != "action=DUNNO"]

        b = blocks(srv)
        assert "user:%s" % SPRAY in b, b
        assert not any(x.startswith("ip:") for x in b), b  # the relay is never blocked
        for who in COLLEAGUES:
            assert counters(srv, who)["messages_today"] == 3, who
        relay = counters(srv, "ip:%s" % RELAY)
        assert relay["found"], relay
        # the relay counts the sum over its senders: the 117 colleagues' at least
        assert msgs(relay) > 116, relay

        # a sender outside the local domains from the server: counted on the
        # relay's identity, not on its own, and not refused
        acts = message(pol, "someone@elsewhere.example", "7c.6752a1f0.1.0", ["x@example.org"])
        assert acts[0].startswith("action=WARN") or acts[0] == "action=DUNNO", acts
        after = counters(srv, "ip:%s" % RELAY)
        assert msgs(after) - msgs(relay) > 0.95, (relay, after)
        assert not counters(srv, "someone@elsewhere.example")["found"]
        assert not any(x.startswith("ip:") for x in blocks(srv))
        assert "relay_foreign_sender" in srv.log() or "relay_foreign_sender" in acts[0]


def test_policyd_identify_sender_every_trusted_client(tmp_path):
    """[policyd] identify = sender: every trusted client without
    sasl_username, without naming it in identify_sender; an untrusted client
    naming a local sender stays its ip: identity."""
    with serving(tmp_path, gateway="", extra="[policyd]\nidentify = sender\n") as (srv, pol):
        assert message(pol, "ann@corp.test", "1.6752a1f0.1.0", ["a@example.org"]) \
            == ["action=DUNNO"]
        assert message(pol, "ann@corp.test", "1.6752a1f0.2.0", ["a@example.org"],
                       ip="192.0.2.9") == ["action=DUNNO"]
        assert counters(srv, "ann@corp.test")["messages_today"] == 1
        assert msgs(counters(srv, "ip:192.0.2.9")) > 0.95
        assert msgs(counters(srv, "ip:%s" % RELAY)) > 0.95  # the relay above ann


def test_keyed_by_client_without_the_setting(tmp_path):
    """Neither setting: a request without sasl_username is its client's."""
    with serving(tmp_path, gateway="") as (srv, pol):
        assert message(pol, "ann@corp.test", "1.6752a1f0.1.0", ["a@example.org"]) \
            == ["action=DUNNO"]
        assert not counters(srv, "ann@corp.test")["found"]
        assert msgs(counters(srv, "ip:%s" % RELAY)) > 0.95


def test_checkconf(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[policyd]\nidentify = maybe\n")
    r = rg("checkconf", "--config", conf)
    assert r.rc == 2 and "[policyd] identify: expected client or sender" in r.err, r.err
    conf.write_text("[gateway]\nidentify_sender = 10.0.0.5/32\n[policyd]\nidentify = sender\n")
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
    assert "identified by sender on every listener and the policy service: 10.0.0.5/32" in r.out
    assert "policy service: 127.0.0.1:10040; trusted clients without sasl_username " \
        "identified by sender" in r.out, r.out
