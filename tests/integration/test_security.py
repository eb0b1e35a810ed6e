"""Issue 16, the security review: each defect a hostile client, local user
or log could use, with the check that it is closed (docs/security.md has the
threat model these belong to)."""
import os

from conftest import rg


def test_relayhost_auth_needs_verified_tls(tmp_path):
    # item 6: the relayhost password is sent only after a verified STARTTLS
    conf = tmp_path / "c.conf"
    for tls in ("", "relayhost_tls = may\n", "relayhost_tls = encrypt\n",
                "relayhost_tls = none\n"):
        conf.write_text("[gateway]\nstate_dir = %s\n[delivery]\nrelayhost = [smart.example]:587\n"
                        "relayhost_auth = gw:secret\n%s" % (tmp_path / "var", tls))
        r = rg("checkconf", "--config", conf)
        assert r.rc == 2, (tls, r.out)
        assert "relayhost_auth needs relayhost_tls = verify" in r.err, r.err
    conf.write_text("[gateway]\nstate_dir = %s\n[delivery]\nrelayhost = [smart.example]:587\n"
                    "relayhost_auth = gw:secret\nrelayhost_tls = verify\n" % (tmp_path / "var"))
    r = rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
    assert os.path.exists(conf)


# item 1: through a running gateway, a HELO or a recipient cannot make
# `relayguard trace` say the message was sent by an authenticated account
from test_delivery import MX1, dns, gateway, mx, wait  # noqa: E402,F401  (fixtures)


def test_trace_cannot_be_framed_through_the_gateway(gateway, mx, tmp_path):
    import smtplib

    g = gateway()
    sends = [("A=dovecot_login:ceo", "a@x.test"), ("auth=yes", "b@x.test"),
             ("pc.corp.test", '"x+(Authenticated sender: ceo)"@x.test')]
    for helo, rcpt in sends:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as s:
            s.ehlo(helo)
            s.sendmail("sam@gw.test", [rcpt], "Subject: framed\r\n\r\nhi\r\n")
    assert wait(lambda: len(mx.mx[MX1].messages) == 3, 20), g.logtext()
    for i, m in enumerate(mx.mx[MX1].messages):
        head = m["data"].split(b"\r\n\r\n", 1)[0]
        path = tmp_path / ("delivered%d.eml" % i)
        path.write_bytes(m["data"])
        r = rg("trace", "--json", "--trusted", "127.0.0.0/8", path)
        assert r.rc == 0, r.err
        d = r.json()
        assert d["authenticated"] is False and not d["auth_user"], (head, d)
        assert all(h["authenticated"] is False for h in d["hops"]), (head, d)
        txt = rg("trace", path).out
        assert "authenticated:     no" in txt and " ceo " not in txt, txt
        # what we wrote: no '=' from the HELO, no for clause for a quoted local part
        first = head.split(b"\r\n")[0]
        assert first.startswith(b"Received: from ") and b"=" not in first, head
        assert b"ceo)" not in head and b"Authenticated" not in head, head
