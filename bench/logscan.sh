#!/bin/sh
# logscan.sh [MB]: relayguard logscan against pflogsumm on the same generated
# Postfix log (tests/data/gen_logs.py bench: an hour of a busy server's
# traffic, then the next hour, ...; at least MB megabytes, default 1100),
# one after the other on one core (taskset -c 0), in the same run.
# Prints MB/s of both (CPU time and wall time) and, as the last line,
# "speedup: X" (relayguard MB/s over pflogsumm MB/s, by CPU time). The log goes to bench/out/ (not committed) and is
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

# Each side's CPU time (user + system, from /usr/bin/time) and wall time. The
# speedup uses CPU time: on a machine shared with other work, wall time also
# measures the neighbours; CPU time on one pinned core is the tool's own cost.
TIMEF="%e %U %S"
/usr/bin/time -f "$TIMEF" -o "$OUT/rg.time" $PIN "$RG_BIN" logscan --json "$LOG" \
	>"$OUT/logscan.json" || [ $? -eq 1 ]
/usr/bin/time -f "$TIMEF" -o "$OUT/pf.time" $PIN "$PFLOGSUMM" "$LOG" >"$OUT/pflogsumm.txt" 2>/dev/null

awk -v b="$BYTES" -v rgt="$(tail -1 "$OUT/rg.time")" -v pft="$(tail -1 "$OUT/pf.time")" 'BEGIN {
	mb = b / 1e6;
	split(rgt, r, " "); split(pft, p, " ");
	rc = r[2] + r[3]; pc = p[2] + p[3];
	if (rc <= 0) rc = 0.01;
	if (pc <= 0) pc = 0.01;
	printf "input:      %.0f MB Postfix log\n", mb;
	printf "relayguard: %.2f s CPU, %.0f MB/s (wall %.2f s, %.0f MB/s); logscan, every message through the policy engine\n", rc, mb / rc, r[1], mb / r[1];
	printf "pflogsumm:  %.2f s CPU, %.1f MB/s (wall %.2f s, %.1f MB/s)\n", pc, mb / pc, p[1], mb / p[1];
	printf "speedup: %.1f\n", pc / rc;
}'
