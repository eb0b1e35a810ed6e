"""relayguard score: the inbound listener's weighted DNSBL decision (src/dnsbl/
score.c) against real lists served by rbldnsd on loopback, and the same client
IPs replayed through Postfix postscreen with the same weights: the same
accept/reject decisions.

Weights as in the issue: zen.spamhaus.org*3, bl.spamcop.net*2,
list.dnswl.org*-5, threshold 3, allow-list threshold -1.
"""
import json
import os
import shutil
import pathlib
import subprocess
import sys
import tempfile

import pytest

from conftest import RG_BIN, rg
from rbldnsd import rbldnsd_factory  # noqa: F401 (fixture)

HERE = os.path.dirname(os.path.abspath(__file__))

# (ip, zen answer, spamcop answer, dnswl answer)
CLIENTS = [
    ("192.0.2.10", "127.0.0.2", None, None),          # SBL: 3, reject
    ("192.0.2.11", "127.0.0.11", None, None),         # PBL: 3, reject
    ("192.0.2.12", "127.255.255.254", None, None),    # zen's error code: never counts
    ("192.0.2.13", "127.255.255.252", None, None),    # another error code
    ("192.0.2.20", None, "127.0.0.2", None),          # spamcop only: 2, pass
    ("192.0.2.21", "127.0.0.4", "127.0.0.2", None),   # XBL + spamcop: 5, reject
    ("192.0.2.30", "127.0.0.2", None, "127.0.10.2"),  # SBL but on dnswl: -2, allow-listed
    ("192.0.2.31", None, "127.0.0.2", "127.0.5.1"),   # spamcop + dnswl: -3
    ("192.0.2.32", None, "127.0.0.2", "127.0.0.255"), # dnswl's error code: spamcop 2, pass
    ("192.0.2.33", None, None, "127.0.3.3"),          # dnswl only: -5
    ("198.51.100.1", None, None, None),               # clean
    ("198.51.100.2", None, None, None),
    ("198.51.100.3", None, None, None),
] + [("203.0.113.%d" % i, "127.0.0.3", None, None) for i in range(1, 9)] + [
    ("203.0.113.%d" % i, None, "127.0.0.2", None) for i in range(20, 26)]

# Spamhaus' and dnswl's documented reply filters: what a careful postscreen
# admin writes. relayguard refuses the error codes even without them.
SITES = ("zen.spamhaus.org=127.0.0.[2..11]*3, bl.spamcop.net*2, "
         "list.dnswl.org=127.0.[0..255].[1..3]*-5")
SITES_PLAIN = "zen.spamhaus.org*3, bl.spamcop.net*2, list.dnswl.org*-5"


def zones():
    z = {"zen.spamhaus.org": [], "bl.spamcop.net": [], "list.dnswl.org": []}
    names = list(z)
    for ip, *answers in CLIENTS:
        for name, a in zip(names, answers):
            if a:
                z[name].append(":%s:listed $\n%s" % (a, ip))
    for name in names:  # RFC 5782 test points
        z[name].append(":127.0.0.2:test\n127.0.0.2")
    return z


def expected(ip, filtered=True):
    _, zen, cop, wl = next(c for c in CLIENTS if c[0] == ip)
    score = 0
    if zen and not zen.startswith("127.255."):
        score += 3
    if cop:
        score += 2
    if wl and wl.split(".")[-1] in ("1", "2", "3"):
        score -= 5
    return "reject" if score >= 3 else ("allowlist" if score <= -1 else "pass")


@pytest.fixture(scope="module")
def srv(rbldnsd_factory):  # noqa: F811
    z = zones()
    return rbldnsd_factory({k: [("ip4set", v)] for k, v in z.items()})


def score(srv, sites, ips):
    r = rg("score", "--json", "--resolver", srv.resolver, "--sites", sites, "--threshold", "3",
           "--allowlist-threshold", "-1", *ips)
    assert r.rc in (0, 1, 3), r.err
    return r, {x["client"]: x for x in r.json()["results"]}


def test_threshold_names_the_list(srv):
    r, res = score(srv, SITES_PLAIN, ["192.0.2.10", "192.0.2.21", "198.51.100.1"])
    assert r.rc == 1
    assert res["192.0.2.10"]["decision"] == "reject"
    assert res["192.0.2.10"]["score"] == 3
    assert "blocked using zen.spamhaus.org" in res["192.0.2.10"]["reply"]
    assert res["192.0.2.21"]["score"] == 5
    assert "zen.spamhaus.org" in res["192.0.2.21"]["reply"]  # the heaviest list
    assert {h["zone"] for h in res["192.0.2.21"]["hits"]} == {"zen.spamhaus.org",
                                                             "bl.spamcop.net"}
    assert res["198.51.100.1"]["decision"] == "pass"
    assert res["198.51.100.1"]["reply"] is None


def test_dnswl_listed_client_passes(srv):
    _, res = score(srv, SITES_PLAIN, ["192.0.2.30", "192.0.2.31", "192.0.2.33"])
    assert res["192.0.2.30"]["score"] == -2
    assert res["192.0.2.30"]["decision"] == "allowlist"
    assert res["192.0.2.31"]["decision"] == "allowlist"
    assert res["192.0.2.33"]["score"] == -5


def test_error_code_never_blocks(srv):
    # no reply filter: postscreen would count 127.255.255.254 as a listing
    r, res = score(srv, SITES_PLAIN, ["192.0.2.12", "192.0.2.13", "192.0.2.32"])
    assert r.rc == 3  # nothing rejected, some lists answered with errors
    for ip in ("192.0.2.12", "192.0.2.13"):
        assert res[ip]["decision"] == "pass"
        assert res[ip]["score"] == 0
        assert any("zen.spamhaus.org" in e for e in res[ip]["errors"])
    # dnswl's "over limit" (127.0.0.255) is no allow-listing either
    assert res["192.0.2.32"]["score"] == 2
    assert res["192.0.2.32"]["decision"] == "pass"


def test_every_client_as_expected(srv):
    ips = [c[0] for c in CLIENTS]
    _, res = score(srv, SITES, ips)
    for ip in ips:
        assert res[ip]["decision"] == expected(ip), ip


def test_human_output_and_usage(srv):
    r = rg("score", "--resolver", srv.resolver, "--sites", SITES_PLAIN, "--threshold", "3",
           "192.0.2.10")
    assert r.rc == 1
    assert "reject" in r.out and "zen.spamhaus.org(+3)" in r.out
    assert rg("score", "192.0.2.1").rc == 2
    assert rg("score", "--sites", "zen.spamhaus.org*x", "192.0.2.1").rc == 2
    assert rg("score", "--sites", SITES, "not-an-ip").rc == 2
    assert rg("score", "--sites", "dnsbl.sorbs.net", "192.0.2.1").rc == 2  # defunct
    assert rg("score", "--help").rc == 0


def namespaces_ok():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("postfix"):
        return False
    r = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not namespaces_ok(), reason="needs root, unshare and Debian postfix")
def test_same_decisions_as_postscreen():
    """Every client through postscreen (postscreen_dnsbl_sites with the same
    weights, same rbldnsd) and through relayguard: the same accept/reject."""
    # Postfix's daemons run as postfix and rbldnsd as nobody: a directory they
    # can reach (pytest's tmp_path sits under a 0700 directory)
    top = tempfile.mkdtemp(prefix="rg-postscreen-")
    try:
        os.chmod(top, 0o755)
        check_against_postscreen(pathlib.Path(top))
    finally:
        if not os.environ.get("RG_KEEP"):
            shutil.rmtree(top, ignore_errors=True)


def check_against_postscreen(work):
    (work / "zones").mkdir(parents=True)
    z = zones()
    spec = {
        "ips": [c[0] for c in CLIENTS],
        "lo_nets": ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"],
        "zones": [[k, "ip4set", v] for k, v in z.items()],
        "sites": SITES,
        "threshold": 3,
        "allowlist_threshold": -1,
        "rg_bin": RG_BIN,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    with open(work / "ns.log", "w") as log:
        subprocess.run(["unshare", "--mount", "--net", "--fork", sys.executable,
                        os.path.join(HERE, "postscreen_ns.py"), str(work)],
                       stdout=log, stderr=subprocess.STDOUT, timeout=150)
    out = json.loads((work / "out.json").read_text())
    assert out["relayguard"], out.get("relayguard_err") or out["log"][-3000:]
    ours = {x["client"]: x for x in out["relayguard"]["results"]}
    theirs = out["postscreen"]
    assert set(theirs) == set(spec["ips"]), out["log"][-3000:]
    same = 0
    for ip in spec["ips"]:
        ps = theirs[ip]["decision"]
        assert ps in ("pass", "reject"), (ip, theirs[ip], out["log"][-3000:])
        rgd = "reject" if ours[ip]["decision"] == "reject" else "pass"
        assert rgd == ps, (ip, ours[ip], theirs[ip])
        if ps == "reject":
            # both name the list that weighed most
            zone = ours[ip]["reply"].split("blocked using ")[1].split(";")[0]
            assert zone in theirs[ip]["text"], (ip, ours[ip]["reply"], theirs[ip]["text"])
        same += 1
    print("postscreen and relayguard agree on %d of %d clients (%d rejected)" %
          (same, len(spec["ips"]),
           sum(1 for ip in spec["ips"] if theirs[ip]["decision"] == "reject")))
