#!/bin/bash
# receive.sh [N] [SESSIONS]: SMTP receive throughput, relayguard against
# Postfix, in one run on this machine, then the memory of idle sessions.
#
#  1. relayguard serve (rel build), relay listener on loopback, queue with
#     fsync on, the policy engine on (limits raised so it never defers);
#     Postfix's smtp-source -s SESSIONS -m N; msgs/s from the wall time.
#  2. Postfix, configured here in its own temporary config and queue
#     directories (its own master, port and queue; the system's Postfix is
#     not touched), relaying to the discard transport: cleanup fsyncs every
#     queue file before smtpd says 250, the same durability as ours.
#     Same smtp-source run.
#  3. 1000 idle sessions held open to relayguard (greeting read): its RSS
#     before and after.
#
# Output: one line per side, the RSS lines, and last "speedup: X"
# (relayguard msgs/s over Postfix msgs/s).
set -eu
cd "$(dirname "$0")/.."
N=${1:-5000}
SESSIONS=${2:-20}
RG=build/rel/relayguard
make --no-print-directory MODE=rel all >/dev/null
command -v smtp-source >/dev/null || { echo "receive.sh: smtp-source (postfix) missing" >&2; exit 2; }
ulimit -n 8192

dir=$(mktemp -d /tmp/relayguard-receive.XXXXXX)
chmod 755 "$dir"
rgpid=""
pfdir="$dir/postfix"
cleanup() {
	[ -n "$rgpid" ] && kill "$rgpid" 2>/dev/null && wait "$rgpid" 2>/dev/null
	[ -f "$pfdir/main.cf" ] && postfix -c "$pfdir" stop >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "receive.sh: nothing listens on port $1" >&2
	return 1
}
# smtp-source -s S -m N against port; prints msgs/s.
run_source() {
	local t0 t1
	t0=$(date +%s.%N)
	smtp-source -s "$SESSIONS" -m "$N" -f bench@local.test -t rcpt@far.test "127.0.0.1:$1"
	t1=$(date +%s.%N)
	python3 -c "print('%.0f' % ($N / ($t1 - $t0)))"
}

# ---- relayguard ----
rgport=$(free_port)
cat >"$dir/rg.conf" <<EOF
[gateway]
hostname = bench.local.test
state_dir = $dir/rg
spool_dir = $dir/rg/spool
log_level = warn
queue_fsync = yes
max_connections = 5000
max_connections_per_client = 5000
[policyd]
listen =
[web]
listen =
[delivery]
# queue only, as Postfix's discard transport: the delivery workers wait
poll_interval = 60s
[listener relay]
listen = 127.0.0.1:$rgport
role = relay
tls = none
[limits]
msg_minute = 100000000
msg_hour = 100000000
msg_day = 100000000
rcpt_hour = 100000000
rcpt_day = 100000000
uniq_rcpt_hour = 100000000
uniq_domain_hour = 100000000
bytes_hour = 100000000000
EOF
$RG serve --config "$dir/rg.conf" 2>"$dir/rg.log" &
rgpid=$!
wait_port "$rgport"
rg_rate=$(run_source "$rgport")
queued=$(python3 -c "import sys; sys.path.insert(0, 'tests/integration'); from spool import read_spool; print(len(read_spool('$dir/rg/spool')))")
echo "relayguard: $rg_rate msgs/s ($N messages, $SESSIONS sessions, fsync on; $queued in the queue)"

# ---- Postfix ----
pfport=$(free_port)
mkdir -p "$pfdir" "$dir/pfqueue" "$dir/pfdata"
sed "s/^smtp \{1,\}inet .*/127.0.0.1:$pfport inet n - n - - smtpd/" /etc/postfix/master.cf >"$pfdir/master.cf"
cat >"$pfdir/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/pfqueue
data_directory = $dir/pfdata
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.local.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
default_transport = discard:bench
relay_transport = discard:bench
local_transport = discard:bench
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
maillog_file_prefixes = /tmp, /var
maillog_file = $dir/postfix.log
default_process_limit = 200
smtpd_client_connection_count_limit = 0
EOF
chown postfix "$dir/pfdata"
postfix -c "$pfdir" set-permissions >/dev/null 2>&1 || true
postfix -c "$pfdir" check >/dev/null 2>&1 || true
postfix -c "$pfdir" start >/dev/null 2>&1 || { echo "receive.sh: Postfix did not start (see $dir/postfix.log)" >&2; exit 1; }
wait_port "$pfport"
pf_rate=$(run_source "$pfport")
echo "postfix: $pf_rate msgs/s ($N messages, $SESSIONS sessions, $(postconf -d -h mail_version), queue files fsynced, discard transport)"
postfix -c "$pfdir" stop >/dev/null 2>&1 || true
rm -f "$pfdir/main.cf"

# ---- idle sessions ----
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$rgpid/status"; }
before=$(rss)
after=$(python3 - "$rgport" "$rgpid" <<'PY'
import resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
port, pid = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    socks.append(s)
for s in socks:
    assert s.recv(200).startswith(b"220")
with open("/proc/%s/status" % pid) as f:
    print([l.split()[1] for l in f if l.startswith("VmRSS:")][0])
for s in socks:
    s.close()
PY
)
echo "relayguard RSS: $((before / 1024)) MB before, $((after / 1024)) MB with 1000 idle sessions ($(((after - before) / 1000)) KB per session; target < 100 MB)"
python3 -c "print('speedup: %.1f' % ($rg_rate / $pf_rate))"
