#!/bin/sh
# policy.sh [SECONDS]: Postfix policy decisions per second, relayguard's policy
# service against postfwd (Debian package postfwd: postfwd2), in one run, with
# the same load client and the same rule: at most 600 messages an hour per SASL
# user, counted at RCPT (postfwd's rate() counts every request it sees).
#
# The load client is bench/policy_load.c (C, epoll): CONNS persistent
# connections (default 8), each with DEPTH requests in flight (default 32),
# sasl_username cycling over USERS accounts (default 10000). relayguard runs
# pinned to one core (taskset), postfwd as it ships (its default pre-forked
# pool of policy servers, free to use every core; postfwd2 1.35 does not start
# its policy servers with --min_servers/--max_servers given). Both listen on free loopback ports and are stopped at the end.
#
# Prints both rates; the last line is "speedup: X" (relayguard / postfwd).
# Targets (docs/policy.md): >= 100,000 decisions/s on one core, >= 50x postfwd.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_RUN=${1:-${BENCH_SECONDS:-10}}
CONNS=${CONNS:-8}
DEPTH=${DEPTH:-32}
USERS=${USERS:-10000}

make --no-print-directory MODE=rel all >/dev/null
mkdir -p build/rel/bench
cc -std=c11 -O2 -Wall -Wextra -Werror -o build/rel/bench/policy_load bench/policy_load.c
LOAD=$ROOT/build/rel/bench/policy_load

TMP=$(mktemp -d /tmp/rg-bench-policy-XXXXXX)
RG_PID=
cleanup() {
	[ -n "$RG_PID" ] && kill "$RG_PID" 2>/dev/null || true
	if [ -f "$TMP/postfwd.pid" ]; then
		kill "$(cat "$TMP/postfwd.pid")" 2>/dev/null || true
		sleep 1
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	i=0
	while ! /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1).close()" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "policy.sh: nothing listens on port $1" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# ---- relayguard ----
RG_PORT=$(free_port)
cat >"$TMP/relayguard.conf" <<EOF
[gateway]
state_dir = $TMP/var
log_level = warn
[policyd]
listen = 127.0.0.1:$RG_PORT
count_at = rcpt
max_connections = 1000
[web]
listen =
[limits]
msg_hour = 600
msg_minute = 0
msg_day = 0
EOF
PIN=
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"
$PIN build/rel/relayguard serve --config "$TMP/relayguard.conf" 2>"$TMP/serve.log" &
RG_PID=$!
wait_port "$RG_PORT"
"$LOAD" 127.0.0.1 "$RG_PORT" "$CONNS" "$DEPTH" 1 "$USERS" >/dev/null || true # warm up
# CPU time the server used (user + system, clock ticks): on a busy machine the
# wall-clock rate undersells one core, so the rate per CPU-second is printed too.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
T0=$(cpu_ticks "$RG_PID")
RG_OUT=$("$LOAD" 127.0.0.1 "$RG_PORT" "$CONNS" "$DEPTH" "$SECONDS_RUN" "$USERS") ||
	{ echo "policy.sh: the load against relayguard failed: $(cat "$TMP/serve.log")" >&2; exit 1; }
T1=$(cpu_ticks "$RG_PID")
kill "$RG_PID"
wait "$RG_PID" 2>/dev/null || true
RG_PID=
echo "relayguard policyd (one core): $RG_OUT"

# ---- postfwd ----
PFW=
for p in postfwd3 postfwd2; do
	if command -v $p >/dev/null 2>&1; then
		PFW=$(command -v $p)
		break
	fi
	[ -x /usr/sbin/$p ] && PFW=/usr/sbin/$p && break
done
if [ -z "$PFW" ]; then
	echo "policy.sh: postfwd is not installed (apt-get install postfwd)" >&2
	exit 1
fi
PF_PORT=$(free_port)
PF_CACHE=$(free_port)
cat >"$TMP/postfwd.cf" <<'EOF'
id=RATE01; sasl_username=~/^.+$/; action=rate(sasl_username/600/3600/450 4.7.1 rate limit exceeded)
EOF
chmod 755 "$TMP"
chmod 644 "$TMP/postfwd.cf"
# postfwd2 always detaches (Net::Server::Daemonize); its pid file is how we stop it.
if ! "$PFW" -d -f "$TMP/postfwd.cf" -i 127.0.0.1 -p "$PF_PORT" \
	--cache_socket "tcp:127.0.0.1:$PF_CACHE" --pidfile "$TMP/postfwd.pid" \
	-u nobody -g nogroup --nodns --perfmon --noidlestats >"$TMP/postfwd.log" 2>&1; then
	echo "policy.sh: $PFW did not start: $(cat "$TMP/postfwd.log")" >&2
	exit 1
fi
wait_port "$PF_PORT"
"$LOAD" 127.0.0.1 "$PF_PORT" "$CONNS" "$DEPTH" 1 "$USERS" >/dev/null || true # warm up
PF_OUT=$("$LOAD" 127.0.0.1 "$PF_PORT" "$CONNS" "$DEPTH" "$SECONDS_RUN" "$USERS") ||
	{ echo "policy.sh: the load against postfwd failed" >&2; exit 1; }
echo "postfwd ($(basename "$PFW"), pre-forked): $PF_OUT"

RG_RATE=$(echo "$RG_OUT" | sed -n 's/.*: \([0-9]*\)\/s.*/\1/p')
PF_RATE=$(echo "$PF_OUT" | sed -n 's/.*: \([0-9]*\)\/s.*/\1/p')
RG_ANS=$(echo "$RG_OUT" | sed -n 's/^answers \([0-9]*\) .*/\1/p')
HZ=$(getconf CLK_TCK)
echo "relayguard: $RG_RATE decisions/s ($(awk -v n="$RG_ANS" -v t=$((T1 - T0)) -v hz="$HZ" \
	'BEGIN { if (t > 0) printf "%.0f", n / (t / hz); else print "?" }') per CPU-second of the server)"
echo "postfwd: $PF_RATE decisions/s"
awk -v a="$RG_RATE" -v b="$PF_RATE" 'BEGIN { if (b > 0) printf "speedup: %.1f\n", a / b; else print "speedup: inf" }'
