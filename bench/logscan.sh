#!/bin/sh
# logscan.sh [MB]: relayguard logscan against pflogsumm on the same generated
# Postfix log (tests/data/gen_logs.py bench: an hour of a busy server's
# traffic, then the next hour, ...; at least MB megabytes, default 1100),
# one after the other on one core (taskset -c 0), in the same run.
# Prints MB/s of both and, as the last line, "speedup: X" (relayguard MB/s
# over pflogsumm MB/s). The log goes to bench/out/ (not committed) and is
# kept for the next run when it is big enough.
#
# make check runs "bench/logscan.sh 20" as a smoke test (a small file).
set -eu
cd "$(dirname "$0")/.."
MB=${1:-1100}
OUT=bench/out
LOG=$OUT/postfix-$MB.log
mkdir -p "$OUT"
# RG_BIN: a relayguard binary to use instead of building the release one (the
# smoke test in tests/integration/test_logscan.py passes the sanitizer build).
if [ -z "${RG_BIN:-}" ]; then
	make --no-print-directory MODE=rel all >/dev/null
	RG_BIN=build/rel/relayguard
fi
if [ ! -s "$LOG" ]; then
	echo "generating $LOG ($MB MB)..." >&2
	/usr/bin/python3 tests/data/gen_logs.py bench "$LOG" --mb "$MB"
fi
PFLOGSUMM=$(command -v pflogsumm || echo /usr/sbin/pflogsumm)
[ -x "$PFLOGSUMM" ] || { echo "pflogsumm is not installed (apt-get install pflogsumm)" >&2; exit 1; }
PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"
BYTES=$(wc -c <"$LOG")
# Warm the page cache so neither side pays for the disk.
cat "$LOG" >/dev/null

now() { date +%s.%N; }
t0=$(now)
$PIN "$RG_BIN" logscan --json "$LOG" >"$OUT/logscan.json" || [ $? -eq 1 ]
t1=$(now)
$PIN "$PFLOGSUMM" "$LOG" >"$OUT/pflogsumm.txt" 2>/dev/null
t2=$(now)

awk -v b="$BYTES" -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN {
	mb = b / 1e6; rg = t1 - t0; pf = t2 - t1;
	printf "input:      %.0f MB Postfix log\n", mb;
	printf "relayguard: %.2f s, %.0f MB/s (logscan, every message through the policy engine)\n", rg, mb / rg;
	printf "pflogsumm:  %.2f s, %.1f MB/s\n", pf, mb / pf;
	printf "speedup: %.1f\n", (mb / rg) / (mb / pf);
}'
