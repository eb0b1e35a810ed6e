"""relayguard check against real DNS lists served by rbldnsd on loopback.

Contract: ../shared/CLI.md "check" (JSON fields, exit codes 0/1/2/3) and the
RFC 5782 outcomes of ../shared/reference/dnsbl.md sections 1 and 5: a list
that errs, refuses, answers outside 127/8 or fails its test points is an
error, never "clean" and never "listed".
"""
import ipaddress
import re
import socket
import time

import pytest

from conftest import rg
from rbldnsd import ipv6_loopback_ok, rbldnsd_factory  # noqa: F401 (fixture)

TXT_BL = "Listed by bl.test, see http://bl.test/lookup?ip=$"

ZONES = {
    # Single IPs and a /24; TXT reasons with the queried key substituted.
    "bl.test": [("ip4set", [":127.0.0.2:" + TXT_BL, "127.0.0.2", "192.0.2.5",
                            "198.51.100.0/24"])],
    # IPv6 list: the IPv4-mapped test point must be written uncompressed.
    "v6.test": [("ip6trie", [":127.0.0.2:IPv6 listed $", "0:0:0:0:0:ffff:7f00:2",
                             "2001:db8::25", "2001:db8:bad::/48"])],
    # Domain list with the RFC 5782 "test" entry.
    "dom.test": [("dnset", [":127.0.0.2:Domain listed: $", "test", "spam.example"])],
    # A catalogued zone: its codes and error codes apply.
    "zen.spamhaus.org": [("ip4set", [":127.0.0.2:SBL listing $", "127.0.0.2", "192.0.2.5",
                                     "192.0.2.9", ":127.0.0.4:XBL listing $", "192.0.2.9",
                                     ":127.255.255.254:public resolver", "192.0.2.66"])],
    "bl.spamcop.net": [("ip4set", [":127.0.0.2:SpamCop $", "127.0.0.2", "192.0.2.5"])],
    # Catalogued bitmask domain list (URIBL): 127.0.0.6 = black|grey; 127.0.0.1 = refused.
    "multi.uribl.com": [("dnset", [":127.0.0.6:URIBL bulk $", "bulk.example",
                                   ":127.0.0.2:URIBL black $", "black.example",
                                   ":127.0.0.1:Query refused", "refused.example"])],
    # Lists every address, 127.0.0.1 included: a dead, wildcarded list.
    "wild.test": [("ip4set", ["0.0.0.0/1", "128.0.0.0/1"])],
    # No 127.0.0.2 test point.
    "notest.test": [("ip4set", [":127.0.0.2:no test point $", "192.0.2.5"])],
    # Answers outside 127/8 (a parked domain or a rewriting resolver).
    "bad.test": [("ip4set", [":198.51.100.1:", "127.0.0.2", "192.0.2.5"])],
}

NOT_SERVED = "unserved.test"  # rbldnsd answers REFUSED for zones it does not serve


@pytest.fixture(scope="module")
def srv(rbldnsd_factory):  # noqa: F811
    return rbldnsd_factory(ZONES)


def check(srv, *args, resolver=None):
    return rg("check", "--json", "--resolver", resolver or srv.resolver, *args)


def by_target(doc):
    return {r["target"]: r for r in doc["results"]}


def only(doc):
    assert len(doc["results"]) == 1, doc
    return doc["results"][0]


# ---------------------------------------------------------------- listed / clean


def test_single_ip_listed_with_txt(srv):
    r = check(srv, "--zone", "bl.test", "192.0.2.5")
    assert r.rc == 1, r.err
    res = only(r.json())
    assert res["target"] == "192.0.2.5"
    assert res["zone"] == "bl.test"
    assert res["status"] == "listed"
    assert res["outcome"] == "listed"
    assert res["codes"] == ["127.0.0.2"]
    assert len(res["meaning"]) == 1
    assert res["txt"] == "Listed by bl.test, see http://bl.test/lookup?ip=192.0.2.5"
    assert res["error"] is None
    assert res["delist"] is None  # an ad-hoc zone has no delist URL


def test_single_ip_clean(srv):
    r = check(srv, "--zone", "bl.test", "192.0.2.1")
    assert r.rc == 0, r.err
    res = only(r.json())
    assert res["status"] == "clean"
    assert res["codes"] == [] and res["meaning"] == []
    assert res["txt"] is None and res["error"] is None and res["delist"] is None


def test_no_txt_skips_reason(srv):
    r = check(srv, "--zone", "bl.test", "--no-txt", "192.0.2.5")
    assert r.rc == 1
    doc = r.json()
    assert only(doc)["txt"] is None
    with_txt = check(srv, "--zone", "bl.test", "192.0.2.5").json()
    assert with_txt["summary"]["queries"] == doc["summary"]["queries"] + 1


def test_range_slash24_listed_and_neighbour_clean(srv):
    r = check(srv, "--zone", "bl.test", "198.51.100.0/24")
    assert r.rc == 1, r.err
    doc = r.json()
    res = doc["results"]
    assert len(res) == 256
    assert [x["target"] for x in res] == ["198.51.100.%d" % i for i in range(256)]
    assert all(x["status"] == "listed" and x["codes"] == ["127.0.0.2"] for x in res)
    assert res[77]["txt"].endswith("ip=198.51.100.77")
    s = doc["summary"]
    assert (s["targets"], s["zones"], s["listed"], s["errors"], s["clean"]) == (256, 1, 256, 0, 0)

    r = check(srv, "--zone", "bl.test", "198.51.101.0/24")
    assert r.rc == 0, r.err
    doc = r.json()
    assert len(doc["results"]) == 256
    assert all(x["status"] == "clean" for x in doc["results"])
    assert doc["summary"]["clean"] == 256 and doc["summary"]["listed"] == 0


def test_ipv6_listed_and_canonical(srv):
    r = check(srv, "--zone", "v6.test", "2001:DB8:0::25", "2001:db8::26", "2001:db8:bad::1")
    assert r.rc == 1, r.err
    t = by_target(r.json())
    assert set(t) == {"2001:db8::25", "2001:db8::26", "2001:db8:bad::1"}
    assert t["2001:db8::25"]["status"] == "listed"
    assert t["2001:db8::25"]["txt"] == "IPv6 listed 2001:db8::25"
    assert t["2001:db8::26"]["status"] == "clean"
    assert t["2001:db8:bad::1"]["status"] == "listed"  # inside a listed /48


def test_ipv6_range(srv):
    r = check(srv, "--zone", "v6.test", "2001:db8::24/126")
    assert r.rc == 1, r.err
    t = by_target(r.json())
    assert [x for x in t] == ["2001:db8::24", "2001:db8::25", "2001:db8::26", "2001:db8::27"]
    assert [x["status"] for x in t.values()] == ["clean", "listed", "clean", "clean"]


def test_domain_list(srv):
    r = check(srv, "--zone", "dom.test", "SPAM.Example.", "clean.example")
    assert r.rc == 1, r.err
    t = by_target(r.json())
    assert set(t) == {"spam.example", "clean.example"}
    assert t["spam.example"]["status"] == "listed"
    assert t["spam.example"]["txt"] == "Domain listed: spam.example"
    assert t["clean.example"]["status"] == "clean"


# ------------------------------------------------------------ catalogued zones


def test_catalogued_zone_meanings_and_delist(srv):
    r = check(srv, "--zone", "zen.spamhaus.org", "192.0.2.5", "192.0.2.9", "192.0.2.1")
    assert r.rc == 1, r.err
    t = by_target(r.json())
    a = t["192.0.2.5"]
    assert a["status"] == "listed" and a["name"] == "Spamhaus ZEN"
    assert len(a["meaning"]) == 1 and a["meaning"][0].startswith("SBL")
    assert a["delist"] == "https://check.spamhaus.org/results/?query=192.0.2.5"
    b = t["192.0.2.9"]
    assert sorted(b["codes"]) == ["127.0.0.2", "127.0.0.4"]
    assert sorted(m[:3] for m in b["meaning"]) == ["SBL", "XBL"]
    assert "SBL listing 192.0.2.9" in b["txt"] and "XBL listing 192.0.2.9" in b["txt"]
    c = t["192.0.2.1"]
    assert c["status"] == "clean" and c["delist"] is None


def test_spamcop_delist_url(srv):
    r = check(srv, "--zone", "bl.spamcop.net", "192.0.2.5")
    assert r.rc == 1, r.err
    res = only(r.json())
    assert res["status"] == "listed"
    assert res["delist"] == "https://www.spamcop.net/bl.shtml?192.0.2.5"


def test_list_error_code_is_never_listed(srv):
    r = check(srv, "--zone", "zen.spamhaus.org", "192.0.2.66")
    assert r.rc == 3, r.err
    doc = r.json()
    res = only(doc)
    assert res["status"] == "error"
    assert res["outcome"] == "list_error"
    assert res["codes"] == ["127.255.255.254"]
    assert res["meaning"] == [] and res["delist"] is None
    assert "127.255.255.254" in res["error"] and "resolver" in res["error"]
    assert doc["summary"]["listed"] == 0 and doc["summary"]["errors"] == 1


def test_list_refusing_our_resolver(rbldnsd_factory):  # noqa: F811
    """Spamhaus answering 127.255.255.254 for everything (public resolver)."""
    s = rbldnsd_factory({"zen.spamhaus.org": [("ip4set", [":127.255.255.254:refused",
                                                          "0.0.0.0/1", "128.0.0.0/1"])]})
    r = check(s, "--zone", "zen.spamhaus.org", "192.0.2.5", "192.0.2.6")
    assert r.rc == 3, r.err
    doc = r.json()
    assert len(doc["results"]) == 2
    for res in doc["results"]:
        assert res["status"] == "error" and res["outcome"] == "list_error"
    assert doc["summary"]["listed"] == 0 and doc["summary"]["errors"] == 2


def test_bitmask_zone(srv):
    r = check(srv, "--zone", "multi.uribl.com", "bulk.example", "black.example",
              "refused.example", "clean.example", "192.0.2.5")
    assert r.rc == 1, r.err
    doc = r.json()
    t = by_target(doc)
    assert "192.0.2.5" not in t  # a domain list is not asked about IPs
    assert doc["summary"]["skipped"] == 1
    bulk = t["bulk.example"]
    assert bulk["status"] == "listed" and bulk["codes"] == ["127.0.0.6"]
    assert sorted(m.split(":")[0] for m in bulk["meaning"]) == ["black", "grey"]
    assert bulk["delist"] == "https://admin.uribl.com/?section=lookup"
    assert [m.split(":")[0] for m in t["black.example"]["meaning"]] == ["black"]
    ref = t["refused.example"]
    assert ref["status"] == "error" and ref["outcome"] == "list_error"
    assert ref["codes"] == ["127.0.0.1"] and ref["meaning"] == []
    assert t["clean.example"]["status"] == "clean"


def test_ip_only_catalogue_zone_skips_ipv6(srv):
    r = check(srv, "--zone", "bl.spamcop.net", "2001:db8::25")
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["results"] == [] and doc["summary"]["skipped"] == 1


# ------------------------------------------------------------ broken lists


def test_zone_not_served_is_error_not_clean(srv):
    r = check(srv, "--zone", NOT_SERVED, "192.0.2.1")
    assert r.rc == 3, r.err
    res = only(r.json())
    assert res["status"] == "error"
    assert res["outcome"] == "dns_error"
    assert res["error"]


def test_wildcard_zone_fails_selftest(srv):
    r = check(srv, "--zone", "wild.test", "192.0.2.1", "192.0.2.5", "198.51.100.7")
    assert r.rc == 3, r.err
    doc = r.json()
    assert len(doc["results"]) == 3
    for res in doc["results"]:
        assert res["status"] == "error"
        assert res["outcome"] == "selftest_failed"
        assert "127.0.0.1" in res["error"]
        assert res["codes"] == []
    assert doc["summary"]["listed"] == 0 and doc["summary"]["errors"] == 3
    # only the two self-test probes are sent: a broken zone is not asked again
    assert doc["summary"]["queries"] == 2


def test_zone_without_test_point_fails_selftest(srv):
    r = check(srv, "--zone", "notest.test", "192.0.2.5", "192.0.2.1")
    assert r.rc == 3, r.err
    for res in r.json()["results"]:
        assert res["status"] == "error" and res["outcome"] == "selftest_failed"
        assert "127.0.0.2" in res["error"]


def test_answer_outside_loopback_is_bad_answer(srv):
    r = check(srv, "--zone", "bad.test", "192.0.2.5", "192.0.2.1")
    assert r.rc == 3, r.err
    for res in r.json()["results"]:
        assert res["status"] == "error" and res["outcome"] == "bad_answer"
        assert "198.51.100.1" in res["error"]
        assert res["meaning"] == []


def test_no_selftest(srv):
    r = check(srv, "--zone", "notest.test", "--no-selftest", "--no-txt", "192.0.2.5", "192.0.2.1")
    assert r.rc == 1, r.err
    doc = r.json()
    t = by_target(doc)
    assert t["192.0.2.5"]["status"] == "listed"
    assert t["192.0.2.1"]["status"] == "clean"
    assert doc["summary"]["queries"] == 2  # no probes
    # bad answers are still caught without the self-test
    r = check(srv, "--zone", "bad.test", "--no-selftest", "192.0.2.5", "192.0.2.1")
    assert r.rc == 3, r.err
    t = by_target(r.json())
    assert t["192.0.2.5"]["outcome"] == "bad_answer"
    assert t["192.0.2.5"]["codes"] == ["198.51.100.1"]
    assert t["192.0.2.1"]["status"] == "clean"


# ---------------------------------------------------------------- summary, exit codes


def test_summary_counts_and_exit_codes(srv):
    r = check(srv, "--zone", "bl.test", "--zone", NOT_SERVED, "--zone", "wild.test",
              "192.0.2.5", "192.0.2.1")
    assert r.rc == 1, r.err  # listed somewhere wins over errors
    doc = r.json()
    s = doc["summary"]
    assert len(doc["results"]) == 6
    assert (s["targets"], s["zones"], s["listed"], s["errors"], s["clean"]) == (2, 3, 1, 4, 1)
    # results ordered by target, then zone
    assert [(x["target"], x["zone"]) for x in doc["results"]] == [
        (t, z) for t in ("192.0.2.5", "192.0.2.1") for z in ("bl.test", NOT_SERVED, "wild.test")]
    # errors and clean only: 3
    r = check(srv, "--zone", "bl.test", "--zone", NOT_SERVED, "192.0.2.1")
    assert r.rc == 3
    assert r.json()["summary"]["errors"] == 1 and r.json()["summary"]["clean"] == 1


@pytest.mark.parametrize("args, needle", [
    (["not_an_ip!"], "not_an_ip!"),
    (["192.0.2.300"], "192.0.2.300"),
    (["10.0.0.0/16"], "max-range"),
    (["--max-range", "100", "198.51.100.0/24"], "max-range"),
    (["--zone", "dnsbl.sorbs.net", "192.0.2.5"], "SORBS"),
    (["--zone", "bad zone!", "192.0.2.5"], "zone"),
    (["--resolver", "nonsense", "192.0.2.5"], "resolver"),
    (["--timeout", "0", "192.0.2.5"], "timeout"),
    (["--bogus-option", "192.0.2.5"], ""),
    ([], "target"),
])
def test_usage_errors_exit_2(srv, args, needle):
    r = rg("check", "--json", "--resolver", srv.resolver, *args)
    assert r.rc == 2, (r.rc, r.out, r.err)
    assert needle in r.err
    assert r.out == ""


def test_live_list_named_is_accepted_and_max_range_raise(srv):
    r = check(srv, "--zone", "bl.spamcop.net", "192.0.2.1")
    assert r.rc == 0, r.err
    assert only(r.json())["status"] == "clean"
    r = check(srv, "--zone", "bl.test", "--no-txt", "--max-range", "256", "198.51.100.0/24")
    assert r.rc == 1 and len(r.json()["results"]) == 256


def test_list_zones_json():
    r = rg("check", "--list-zones", "--json")
    assert r.rc == 0, r.err
    zones = {z["zone"]: z for z in r.json()["zones"]}
    zen = zones["zen.spamhaus.org"]
    assert zen["status"] == "active" and zen["type"] == "ip4+ip6" and zen["default"] is True
    assert zen["delist"] == "https://check.spamhaus.org/results/?query=%IP%"
    assert zones["multi.uribl.com"]["type"] == "domain"
    assert zones["*.sorbs.net"]["status"] == "dead"
    assert zones["bl.spamcop.net"]["status"] == "active"
    for z in zones.values():
        assert set(z) >= {"zone", "name", "type", "role", "status", "default", "reason", "delist"}


# ---------------------------------------------------------------- resolver, output, timeout


@pytest.mark.skipif(not ipv6_loopback_ok(), reason="no IPv6 loopback")
def test_resolver_ipv6(srv):
    assert srv.ipv6
    r = check(srv, "--zone", "bl.test", "192.0.2.5", "192.0.2.1", resolver=srv.resolver6)
    assert r.rc == 1, r.err
    t = by_target(r.json())
    assert t["192.0.2.5"]["status"] == "listed" and t["192.0.2.1"]["status"] == "clean"


def test_human_output(srv):
    r = rg("check", "--resolver", srv.resolver, "--zone", "bl.test", "--zone", NOT_SERVED,
           "192.0.2.5", "192.0.2.1")
    assert r.rc == 1, r.err
    lines = r.out.splitlines()
    listed = [l for l in lines if l.startswith("LISTED")]
    assert len(listed) == 1
    assert re.match(r"LISTED\s+192\.0\.2\.5\s+bl\.test\s+127\.0\.0\.2\b", listed[0])
    assert any("reason: " + TXT_BL.replace("$", "192.0.2.5") in l for l in lines)
    assert sum(l.startswith("ERROR") for l in lines) == 2
    assert not any(l.startswith("clean") for l in lines)  # clean only with -v
    assert re.search(r"^2 targets x 2 zones: 1 listed, 2 errors, 1 clean \(\d+ queries in "
                     r"[0-9.]+ s\)$", r.out, re.M)
    v = rg("check", "-v", "--resolver", srv.resolver, "--zone", "bl.test", "192.0.2.1")
    assert v.rc == 0
    assert re.search(r"^clean\s+192\.0\.2\.1\s+bl\.test", v.out, re.M)
    assert "1 target x 1 zone: 0 listed, 0 errors, 1 clean" in v.out


def test_human_output_catalogued_delist(srv):
    r = rg("check", "--resolver", srv.resolver, "--zone", "zen.spamhaus.org", "192.0.2.5")
    assert r.rc == 1
    assert re.search(r"^LISTED\s+192\.0\.2\.5\s+zen\.spamhaus\.org\s+127\.0\.0\.2 SBL", r.out, re.M)
    assert "delist: https://check.spamhaus.org/results/?query=192.0.2.5" in r.out


def test_timeout_is_error_not_clean():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # receives, never answers
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        r = rg("check", "--json", "--resolver", "127.0.0.1:%d" % port, "--zone", "bl.test",
               "--timeout", "200", "--tries", "1", "192.0.2.5", "192.0.2.1")
        elapsed = time.monotonic() - t0
        s.settimeout(0)
        got = 0
        try:
            while True:
                s.recvfrom(4096)
                got += 1
        except BlockingIOError:
            pass
    assert r.rc == 3, (r.out, r.err)
    doc = r.json()
    assert len(doc["results"]) == 2
    for res in doc["results"]:
        assert res["status"] == "error" and res["outcome"] == "dns_error"
        assert res["error"] == "timeout"
    assert doc["summary"]["errors"] == 2 and doc["summary"]["clean"] == 0
    assert got >= 2  # the queries did reach the silent server
    assert elapsed < 2.5, elapsed
