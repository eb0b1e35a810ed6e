#!/bin/bash
# bench/check.sh - relayguard check against Debian's rblcheck, same work, one run.
#
# Checks all 256 addresses of 203.0.113.0/24 against 10 zones served by a
# local rbldnsd (2,560 lookups). rblcheck resolves through the system resolver
# (res_query, /etc/resolv.conf, port 53), so both tools run inside a network
# namespace of their own, where /etc/netns/NS/resolv.conf points at rbldnsd on
# 127.0.0.1:53. Each tool runs 3 times; the best wall time counts, the worst
# is shown beside it (a lost answer waits for a retry: issue 19). A second
# section adds 20 ms of delay on the namespace's loopback (tc netem) and runs
# each tool once. The last line is always "speedup: X" (rblcheck time /
# relayguard time, no added latency).
#
# Run as root: bash bench/check.sh. Needs rbldnsd, rblcheck, iproute2, and
# build/rel/relayguard (built here with `make MODE=rel all` if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RG=$ROOT/build/rel/relayguard
NET=203.0.113
NZONES=10
RUNS=3

# Inner mode, run inside the namespace: time one command with the monotonic
# clock, its output to a file; prints the seconds.
if [ "${1:-}" = "--timed" ]; then
	out=$2
	shift 2
	# bash has no monotonic clock; $EPOCHREALTIME (microseconds, no fork) is the
	# wall clock, fine for runs of milliseconds to minutes on an NTP-slewed host.
	t0=$EPOCHREALTIME
	"$@" >"$out" 2>&1 || true
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
	exit 0
fi

die() { echo "bench/check.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it makes a network namespace)"
for t in rbldnsd rblcheck ip; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing (scripts/bootstrap installs it)"
done
if [ ! -x "$RG" ]; then
	echo "building the release binary: make MODE=rel all"
	make -C "$ROOT" MODE=rel all -j2 >/dev/null
fi

NS=rgbench$$
DIR=$(mktemp -d /tmp/rgbench.XXXXXX)
RBL_PID=
PROXY_PID=
cleanup() {
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null || true
		wait "$PROXY_PID" 2>/dev/null || true
	fi
	if [ -n "$RBL_PID" ]; then
		kill "$RBL_PID" 2>/dev/null || true
		wait "$RBL_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS" "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Zones: zone k lists the addresses n of the /24 with n % 8 == k % 8, plus the
# RFC 5782 test point 127.0.0.2, with a TXT reason.
zones=()
specs=()
for k in $(seq 0 $((NZONES - 1))); do
	z=bl$k.bench.test
	zones+=("$z")
	{
		echo ":127.0.0.2:Listed by $z: \$"
		echo "127.0.0.2"
		for n in $(seq $((k % 8)) 8 255); do echo "$NET.$n"; done
	} >"$DIR/$z"
	specs+=("$z:ip4set:$z")
done
chmod 755 "$DIR"
chmod 644 "$DIR"/*

ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "/etc/netns/$NS"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"

ip netns exec "$NS" rbldnsd -n -b 127.0.0.1/53 -b 127.0.0.2/53 -w "$DIR" -u nobody "${specs[@]}" \
	>"$DIR/rbldnsd.log" 2>&1 &
RBL_PID=$!
ready=0
for _ in $(seq 1 100); do
	if ip netns exec "$NS" "$RG" check --resolver 127.0.0.1:53 --timeout 100 --tries 1 \
		--no-selftest --no-txt --zone "${zones[0]}" 127.0.0.2 >/dev/null 2>&1; then
		:
	elif [ $? -eq 1 ]; then
		ready=1
		break
	fi
	kill -0 "$RBL_PID" 2>/dev/null || break
	sleep 0.1
done
[ "$ready" = 1 ] || { cat "$DIR/rbldnsd.log" >&2; die "rbldnsd did not start"; }

addrs=()
for n in $(seq 0 255); do addrs+=("$NET.$n"); done
rbl_args=(-c)
rg_args=(check --resolver 127.0.0.1:53 --no-txt --json)
for z in "${zones[@]}"; do
	rbl_args+=(-s "$z")
	rg_args+=(--zone "$z")
done
rg_args+=("$NET.0/24")
LOOKUPS=$((256 * NZONES))

timed() { ip netns exec "$NS" "$0" --timed "$@"; }
run_rg() { timed "$DIR/rg.out" "$RG" "${rg_args[@]}"; }
run_rbl() { timed "$DIR/rbl.out" rblcheck "${rbl_args[@]}" "${addrs[@]}"; }
best() { printf '%s\n' "$@" | sort -g | head -n 1; }
worst() { printf '%s\n' "$@" | sort -g | tail -n 1; }
rate() { awk -v q="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? q / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
rg_queries() { sed -n 's/.*"queries": *\([0-9]*\).*/\1/p' "$DIR/rg.out"; }
rg_listed() { sed -n 's/.*"listed": *\([0-9]*\).*/\1/p' "$DIR/rg.out" | tail -n 1; }
rg_errors() { sed -n 's/.*"errors": *\([0-9]*\).*/\1/p' "$DIR/rg.out" | tail -n 1; }
rbl_listed() { grep -c '^[^ ]* listed by ' "$DIR/rbl.out" || true; }

echo "relayguard check vs rblcheck: 256 addresses ($NET.0/24) x $NZONES zones = $LOOKUPS lookups"
echo "rbldnsd on 127.0.0.1:53 in network namespace $NS; best of $RUNS runs each"
echo

rg_times=()
rbl_times=()
for _ in $(seq 1 $RUNS); do
	rg_times+=("$(run_rg)")
	rbl_times+=("$(run_rbl)")
done
rg_t=$(best "${rg_times[@]}")
rbl_t=$(best "${rbl_times[@]}")
rg_q=$(rg_queries)
echo "relayguard: ${rg_t} s best, $(worst "${rg_times[@]}") s worst  (runs: ${rg_times[*]})  $rg_q queries, $(rate "$rg_q" "$rg_t") queries/s;" \
	"$(rg_listed) listed, $(rg_errors) errors"
echo "rblcheck:   ${rbl_t} s best, $(worst "${rbl_times[@]}") s worst  (runs: ${rbl_times[*]})  $LOOKUPS queries, $(rate "$LOOKUPS" "$rbl_t") queries/s;" \
	"$(rbl_listed) listed"
speedup=$(ratio "$rbl_t" "$rg_t")
if [ "$(rg_listed)" != "$(rbl_listed)" ]; then
	echo "warning: the two tools disagree on the number of listings"
fi
echo "targets: relayguard < 1 s: $(awk -v t="$rg_t" 'BEGIN { print (t < 1 ? "yes" : "NO") }');" \
	">= 20x rblcheck: $(awk -v s="$speedup" 'BEGIN { print (s >= 20 ? "yes" : "NO") }')"
echo

latency_runs() {
	lrg_t=$(run_rg)
	echo "relayguard: ${lrg_t} s  $(rg_queries) queries, $(rate "$(rg_queries)" "$lrg_t") queries/s;" \
		"$(rg_listed) listed, $(rg_errors) errors"
	lrbl_t=$(run_rbl)
	echo "rblcheck:   ${lrbl_t} s  $LOOKUPS queries, $(rate "$LOOKUPS" "$lrbl_t") queries/s;" \
		"$(rbl_listed) listed"
	echo "with latency: rblcheck / relayguard = $(ratio "$lrbl_t" "$lrg_t")"
}

echo "simulated resolver latency, one run each:"
if ip netns exec "$NS" tc qdisc add dev lo root netem delay 20ms 2>"$DIR/tc.err"; then
	echo "tc netem delay 20ms on the namespace's lo (40 ms per query round trip)"
	latency_runs
	ip netns exec "$NS" tc qdisc del dev lo root 2>/dev/null || true
else
	echo "note: tc netem is not available ($(head -n 1 "$DIR/tc.err") - no sch_netem in this" \
		"kernel); using bench/udp-delay.py instead: a relay on 127.0.0.3:53 holding each" \
		"answer 20 ms (20 ms per query round trip)"
	ip netns exec "$NS" /usr/bin/python3 "$ROOT/bench/udp-delay.py" 127.0.0.3:53 127.0.0.2:53 20 \
		>"$DIR/proxy.log" 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 1 50); do
		grep -q ready "$DIR/proxy.log" 2>/dev/null && break
		sleep 0.1
	done
	if grep -q ready "$DIR/proxy.log"; then
		echo "nameserver 127.0.0.3" >"/etc/netns/$NS/resolv.conf"
		rg_args[2]=127.0.0.3:53
		latency_runs
	else
		echo "note: the delay relay did not start; latency section skipped"
		cat "$DIR/proxy.log"
	fi
fi
echo
echo "speedup: $speedup"
