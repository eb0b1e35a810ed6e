#!/bin/sh
# logscan.sh [MB]: relayguard logscan against pflogsumm on the same generated
# Postfix log (tests/data/gen_logs.py bench: an hour of a busy server's
# traffic, then the next hour, ...; at least MB megabytes, default 1100),
# one after the other on one core (taskset -c 0), in the same run.
# Each side runs RUNS times (default 3), taking turns (relayguard, pflogsumm,
# relayguard, ...), so that a neighbour's burst of work on this shared machine
# falls on both. Prints every run's CPU time, then MB/s of both from each
# side's fastest run (CPU time and its wall time) and, as the last line,
# "speedup: X" (relayguard MB/s over pflogsumm MB/s, by CPU time, best run of
# each). The log goes to bench/out/ (not committed) and is kept for the next
# run when it is big enough.
#
# make check runs "RUNS=1 bench/logscan.sh 5" as a smoke test (a small file).
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
RUNS=${RUNS:-3}
TIMEF="%e %U %S"
: >"$OUT/rg.time"
: >"$OUT/pf.time"
i=0
while [ "$i" -lt "$RUNS" ]; do
	/usr/bin/time -f "$TIMEF" -a -o "$OUT/rg.time" $PIN "$RG_BIN" logscan --json "$LOG" \
		>"$OUT/logscan.json" || [ $? -eq 1 ]
	/usr/bin/time -f "$TIMEF" -a -o "$OUT/pf.time" $PIN "$PFLOGSUMM" "$LOG" \
		>"$OUT/pflogsumm.txt" 2>/dev/null
	i=$((i + 1))
done

# "wall user sys" lines of one side: every run's CPU time, then the fastest run.
best() {
	awk '$1 ~ /^[0-9.]+$/ {
		n++; c = $2 + $3; runs = runs sprintf(" %.2f", c);
		if (n == 1 || c < bc) { bc = c; bw = $1 }
	} END { printf "%s %s %s\n", bc, bw, runs }' "$1"
}
awk -v b="$BYTES" -v rgt="$(best "$OUT/rg.time")" -v pft="$(best "$OUT/pf.time")" -v runs="$RUNS" 'BEGIN {
	mb = b / 1e6;
	nr = split(rgt, r, " "); np = split(pft, p, " ");
	rc = r[1]; pc = p[1];
	if (rc <= 0) rc = 0.01;
	if (pc <= 0) pc = 0.01;
	rr = ""; for (i = 3; i <= nr; i++) rr = rr " " r[i];
	pr = ""; for (i = 3; i <= np; i++) pr = pr " " p[i];
	printf "input:      %.0f MB Postfix log, %d runs of each, taking turns\n", mb, runs;
	printf "runs, CPU s: relayguard%s; pflogsumm%s\n", rr, pr;
	printf "relayguard: %.2f s CPU, %.0f MB/s (wall %.2f s, %.0f MB/s); logscan, every message through the policy engine\n", rc, mb / rc, r[2], mb / r[2];
	printf "pflogsumm:  %.2f s CPU, %.1f MB/s (wall %.2f s, %.1f MB/s)\n", pc, mb / pc, p[2], mb / p[2];
	printf "speedup: %.1f\n", pc / rc;
}'
