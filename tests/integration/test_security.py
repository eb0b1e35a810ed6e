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
