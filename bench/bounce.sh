#!/bin/bash
# bench/bounce.sh - relayguard bounce over a big mbox, one binary or two.
#
# Builds an mbox of COPIES x the labelled corpus (tests/data/bounces/corpus,
# every text wrapped in its MTA's bounce format, 177 bounces a copy) plus the
# sample files of tests/data/bounces, then times `relayguard bounce --json`
# over it RUNS times per binary; the best wall and CPU (user + sys) times
# count.
#
#   bash bench/bounce.sh [BINARY [OLD_BINARY]]
#
# BINARY defaults to build/rel/relayguard. With OLD_BINARY, both run on the
# same mbox and the last line is "ratio: X" (new CPU time / old).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NEW=${1:-$ROOT/build/rel/relayguard}
OLD=${2:-}
COPIES=${COPIES:-20}
RUNS=${RUNS:-5}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ -x "$NEW" ] || make -C "$ROOT" MODE=rel all >/dev/null

/usr/bin/python3 - "$ROOT" "$TMP/big.mbox" "$COPIES" <<'PY'
import glob, os, sys
root, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.path.join(root, "tests", "integration"))
import test_bounce_corpus as c
rows = c.load()
samples = []
for p in sorted(glob.glob(os.path.join(root, "tests", "data", "bounces", "*.eml"))):
    with open(p, encoding="utf-8", errors="replace") as f:
        t = f.read()
    samples.append(t if t.startswith("From ") else "From MAILER-DAEMON  Sun Dec  6 04:00:00 2026\n" + t)
n = 0
with open(out, "w", encoding="utf-8") as f:
    for k in range(copies):
        for i, row in enumerate(rows):
            f.write(c.FORMATS[row["mta"]](row, f"u{k}-{i}@example.net") + "\n")
            n += 1
        for s in samples:
            f.write(s.rstrip("\n") + "\n\n")
            n += 1
print(f"messages: {n}, bytes: {os.path.getsize(out)}")
PY

# Best of RUNS: "wall cpu" seconds (cpu = user + sys, steadier on a busy host).
best() {
	local bin=$1 bw="" bc=""
	for _ in $(seq "$RUNS"); do
		local t
		t=$( { TIMEFORMAT='%R %U %S'; time "$bin" bounce --json "$TMP/big.mbox" >"$TMP/out.json" || [ $? -eq 1 ]; } 2>&1 | tail -1)
		local w c
		w=$(echo "$t" | cut -d' ' -f1)
		c=$(echo "$t" | awk '{print $2 + $3}')
		if [ -z "$bw" ] || [ "$(echo "$w < $bw" | bc -l)" = 1 ]; then bw=$w; fi
		if [ -z "$bc" ] || [ "$(echo "$c < $bc" | bc -l)" = 1 ]; then bc=$c; fi
	done
	echo "$bw $bc"
}

read -r nw nc <<<"$(best "$NEW")"
printf 'new: wall %.3f s, cpu %.3f s (%s)\n' "$nw" "$nc" "$NEW"
if [ -n "$OLD" ]; then
	read -r ow oc <<<"$(best "$OLD")"
	printf 'old: wall %.3f s, cpu %.3f s (%s)\n' "$ow" "$oc" "$OLD"
	printf 'ratio: %.2f\n' "$(echo "$nc / $oc" | bc -l)"
fi
