#!/usr/bin/env bash
# Two cepd binaries on the same replay, interleaved (A B A B ...), so that the shared machine's drift hits both
# alike: median wall time and CPU time (user + system) of each, the ratio, and whether their outputs are equal.
#
#   Benchmarks/ab.sh CEPD_A CEPD_B INPUT_DIR [PATTERN_FILE] [RUNS]
#
# INPUT_DIR is made by examples/fraud/generate.py; PATTERN_FILE defaults to Benchmarks/flink/fraud.cep (it reads
# logins, geo and payments); RUNS defaults to 5 per binary. Typical use: the previous commit's release binary as A,
# the working tree's as B.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
a="$1" b="$2" dir="$3"
pattern="${4:-$here/flink/fraud.cep}"
runs="${5:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for i in $(seq "$runs"); do
    for side in a b; do
        binary="$a"; [ "$side" = b ] && binary="$b"
        /usr/bin/time -f "%e %U %S" -a -o "$work/$side.times" "$binary" run --pattern "$pattern" \
            --input "logins=$dir/logins.jsonl" --input "geo=$dir/geo.jsonl" --input "payments=$dir/payments.jsonl" \
            --output "$work/$side.jsonl" --quiet
    done
done
cmp -s "$work/a.jsonl" "$work/b.jsonl" && same="equal" || same="DIFFERENT"
python3 - "$work/a.times" "$work/b.times" "$same" "$(wc -l < "$work/a.jsonl")" <<'PY'
import statistics, sys
def load(path):
    rows = [list(map(float, line.split())) for line in open(path) if line.strip() and line[0].isdigit()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] + r[2] for r in rows), len(rows)
wa, ca, n = load(sys.argv[1])
wb, cb, _ = load(sys.argv[2])
print(f"A: wall {wa:6.2f} s  cpu {ca:6.2f} s   (median of {n})")
print(f"B: wall {wb:6.2f} s  cpu {cb:6.2f} s")
print(f"B/A: wall {wb / wa:.3f}  cpu {cb / ca:.3f}   outputs {sys.argv[3]} ({sys.argv[4]} alerts)")
PY
