"""make install into a temporary DESTDIR: the files, the unit (systemd-analyze
verify and security), the man pages (rendered, and every subcommand and option
of the sources in them). Nothing outside the temporary directories changes:
the generated pages and files go to MAN_OUT and DIST_OUT in the temp dir, and
the build directory of RG_BIN is compared before and after."""
import os
import re
import stat
import subprocess

import pytest

from conftest import RG_BIN, ROOT

MODE = os.path.basename(os.path.dirname(RG_BIN))  # build/MODE/relayguard


def snapshot(d):
    out = {}
    for dirpath, _, files in os.walk(d):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def make_install(tmp, *extra):
    p = subprocess.run(["make", "-s", "--no-print-directory", "MODE=" + MODE, "install",
                        "DESTDIR=" + str(tmp / "root"), "MAN_OUT=" + str(tmp / "man"),
                        "DIST_OUT=" + str(tmp / "dist")] + list(extra),
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    build = os.path.dirname(RG_BIN)
    before = snapshot(build)
    git_before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                                capture_output=True, text=True).stdout
    make_install(tmp)
    assert snapshot(build) == before, "make install changed the build directory"
    assert subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                          text=True).stdout == git_before
    return tmp


def test_files_and_modes(installed):
    root = installed / "root"
    want = {
        "usr/local/sbin/relayguard": 0o755,
        "usr/local/share/man/man8/relayguard.8": 0o644,
        "usr/local/share/man/man5/relayguard.conf.5": 0o644,
        "usr/local/share/relayguard/dnsbl.conf": 0o644,
        "usr/local/lib/systemd/system/relayguard.service": 0o644,
        "usr/local/lib/sysusers.d/relayguard.conf": 0o644,
        "usr/local/lib/tmpfiles.d/relayguard.conf": 0o644,
        "etc/logrotate.d/relayguard": 0o644,
        "etc/relayguard/relayguard.conf": 0o640,
    }
    got = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            got[os.path.relpath(p, root)] = stat.S_IMODE(os.stat(p).st_mode)
    assert got == want
    with open(os.path.join(ROOT, "data", "dnsbl.conf")) as a, \
            open(root / "usr/local/share/relayguard/dnsbl.conf") as b:
        assert a.read() == b.read()
    unit = (root / "usr/local/lib/systemd/system/relayguard.service").read_text()
    assert "ExecStart=/usr/local/sbin/relayguard serve --config " \
           "/etc/relayguard/relayguard.conf" in unit
    assert "User=relayguard" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    tmpfiles = (root / "usr/local/lib/tmpfiles.d/relayguard.conf").read_text()
    assert re.search(r"^d /var/lib/relayguard 0750 relayguard relayguard", tmpfiles, re.M)
    assert re.search(r"^d /var/spool/relayguard 0750 relayguard relayguard", tmpfiles, re.M)
    assert "/var/spool/relayguard/audit.log" in (root / "etc/logrotate.d/relayguard").read_text()


def test_installed_config_checks_and_uses_the_system_paths(installed, run_rg):
    conf = installed / "root" / "etc/relayguard/relayguard.conf"
    r = run_rg("checkconf", "--config", conf)
    assert r.rc == 0, r.err
    assert "state /var/lib/relayguard, spool /var/spool/relayguard" in r.out
    assert "./var" not in conf.read_text()


def test_existing_config_is_kept(tmp_path):
    conf = tmp_path / "root" / "etc/relayguard/relayguard.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[gateway]\nhostname = mine.example\n")
    p = make_install(tmp_path)
    assert conf.read_text() == "[gateway]\nhostname = mine.example\n"
    assert "keeping" in p.stdout
    # PREFIX moves everything but the configuration.
    make_install(tmp_path, "PREFIX=/opt/rg")
    assert (tmp_path / "root/opt/rg/sbin/relayguard").exists()
    assert "ExecStart=/opt/rg/sbin/relayguard " in \
        (tmp_path / "root/opt/rg/lib/systemd/system/relayguard.service").read_text()
    assert conf.read_text() == "[gateway]\nhostname = mine.example\n"


def in_namespace(installed, script):
    """Runs script in a private mount namespace where the temporary root's
    /usr/local is the system's: the unit's paths then resolve as installed,
    and nothing outside the namespace sees it."""
    usr_local = installed / "root" / "usr" / "local"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                           'mount --bind "$0" /usr/local\n' + script, str(usr_local)],
                          capture_output=True, text=True, timeout=120)


def test_systemd_analyze_verify(installed):
    p = in_namespace(installed,
                     "systemd-analyze verify /usr/local/lib/systemd/system/relayguard.service")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stderr.strip() == "", p.stderr


def test_systemd_analyze_security_rates_it_ok_or_better(installed):
    unit = installed / "root/usr/local/lib/systemd/system/relayguard.service"
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for relayguard.service: ([0-9.]+) (\w+)", p.stdout)
    assert m, p.stdout + p.stderr
    exposure, rating = float(m.group(1)), m.group(2)
    assert rating in ("OK", "SAFE", "PERFECT"), p.stdout
    assert exposure <= 4.9
    # The directives the issue names are there, not only a good score.
    for want in ("NoNewPrivileges=", "ProtectSystem=", "PrivateTmp=", "ProtectHome=",
                 "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)", "RestrictAddressFamilies=~…",
                 "SystemCallFilter=~@privileged"):
        line = next((ln for ln in p.stdout.split("\n") if want in ln), "")
        assert line.lstrip().startswith("✓"), "%s: %r" % (want, line)


def render(page):
    p = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", str(page)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0",
                                MANPAGER="cat", PAGER="cat"))
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr  # no troff warnings
    return re.sub(r".\x08", "", p.stdout)


def man_sections(text):
    """{(section header, subsection): {option names}} from a troff page."""
    out, sh, ss = {}, None, None
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        if ln.startswith(".SH "):
            sh, ss = ln[4:].strip('"'), None
        elif ln.startswith(".SS "):
            ss = ln[4:].strip('"')
        elif ln == ".TP" and i + 1 < len(lines) and lines[i + 1].startswith(".B "):
            out.setdefault((sh, ss), set()).add(lines[i + 1][3:].strip())
    return out


def source_options():
    """The options the parsers accept, read from the sources with plain regexes
    (independent of scripts/gen-man): {file kind: {section: {names}}}."""
    def read(p):
        with open(os.path.join(ROOT, p)) as f:
            return f.read()
    gw, mon = {}, {}
    row = re.compile(r'\{\s*"(\w+)",\s*"(\w+)",\s*CFG_')
    gwc = read("src/gateway/gwconf.c")
    for sec, name in row.findall(gwc):
        gw.setdefault(sec, set()).add(name)
    pol = read("src/policy/config.c")
    for sec, name in row.findall(pol) + re.findall(r'POL_OPT\("(\w+)",\s*"(\w+)"', pol):
        gw.setdefault(sec, set()).add(name)
    for name in re.findall(r'POL_LIM\("(\w+)"', pol):
        gw.setdefault("limits", set()).add(name)
    # Keys handled by code rather than a table.
    body = re.search(r"static int gw_listener_set\(.*?\n\}\n", gwc, re.S).group(0)
    gw["listener NAME"] = set(re.findall(r'strcmp\(name, "(\w+)"\)', body))
    handler = re.search(r"static int gw_handler\(.*?\n\}\n", gwc, re.S).group(0)
    for ln in handler.split("\n"):
        if 'strcmp(section, "alert")' in ln:
            gw["alert"] |= set(re.findall(r'strcmp\(name, "(\w+)"\)', ln))
    mc = read("src/cli/cli_monitor.c")
    for sec, name in row.findall(mc):
        mon.setdefault(sec, set()).add(name)
    handler = re.search(r"static int monitor_conf_handler\(.*?\n\}\n", mc, re.S).group(0)
    mon["alert"] |= set(re.findall(r'strcmp\(name, "(\w+)"\)', handler))
    return {"THE GATEWAY FILE": gw, "THE MONITOR FILE": mon}


def test_conf5_has_every_option_of_the_sources_and_no_other(installed):
    page = installed / "root/usr/local/share/man/man5/relayguard.conf.5"
    text = page.read_text()
    got = {}
    for (sh, ss), names in man_sections(text).items():
        if sh not in ("THE GATEWAY FILE", "THE MONITOR FILE") or not ss:
            continue
        sec = re.match(r"\[([\w ]+?)\]", ss).group(1)
        got.setdefault(sh, {}).setdefault(sec, set()).update(names)
    want = source_options()
    for sh in want:
        for sec, names in want[sh].items():
            have = got.get(sh, {}).get(sec, set())
            assert names - have == set(), "%s [%s]: not in relayguard.conf(5)" % (sh, sec)
        for sec, names in got.get(sh, {}).items():
            if sec == "delivery_tls" or sec.startswith("domain"):
                continue  # DOMAIN = level and the [limits] keys per domain or user
            assert names - want[sh].get(sec, set()) == set(), \
                "%s [%s]: in the page but not in the sources" % (sh, sec)
    assert sum(len(v) for v in want["THE GATEWAY FILE"].values()) > 130
    # Defaults come from the table: one example of each kind.
    assert re.search(r"\.B max_message_size\n.*\n\(type: size; default: \\fI10240000\\fR; "
                     r"from 1K to 2G; a reload applies it\.\)", text)
    assert re.search(r"\.B block_time\n.*\n\(type: duration; default: \\fI1h\\fR; "
                     r"from 1m to 365d; a reload applies it\.\)", text)
    out = render(page)
    assert "recipient_callout_negative_ttl" in out and "THE MONITOR FILE" in out


def test_man8_has_every_subcommand_of_main_c(installed):
    page = installed / "root/usr/local/share/man/man8/relayguard.8"
    with open(os.path.join(ROOT, "src/cli/main.c")) as f:
        table = re.search(r"cli_commands\[\]\s*=\s*\{(.*?)\n\};", f.read(), re.S).group(1)
    want = re.findall(r'\{"([\w-]+)",\s*cli_\w+,', table)
    assert len(want) >= 15
    text = page.read_text()
    got = re.findall(r"^\.SS (\S+)$", text, re.M)
    assert got == want
    out = render(page)
    for cmd in want:
        assert re.search(r"^   %s$" % re.escape(cmd), out, re.M), cmd
    # Each command's own --help is in the page.
    assert "relayguard relaytest - test an SMTP server" in out and "usage: relayguard user ACTION" in out
