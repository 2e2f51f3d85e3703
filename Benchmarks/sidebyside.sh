#!/usr/bin/env bash
# cepd against Flink CEP 2.3, side by side, in one command: prepares Flink (jars from the PyPI wheel, the harness
# compiled with javac), generates the example stream at each size (seed 5, 100 events per user, kept in
# .cache/bench-inputs), and runs Benchmarks/flink/speed.sh on it for the fraud, strict and quantifier (probes)
# patterns: events/s, the ratio, peak RSS of each, and whether the match sets are equal (exit 1 if not).
#
#   Benchmarks/sidebyside.sh [SIZE ...]      (default: 1000000 5000000)
#
# cepd runs `cepd run` (a reading/decoding thread and a matching thread, so up to two cores); Flink runs at
# parallelism 1. The three-topic input only: a single-file input needs the harness to split one file by type.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sizes=("${@:-1000000}")
[ $# -gt 0 ] || sizes=(1000000 5000000)
cd "$root"
swift build -c release 2>&1 | tail -n 1
for size in "${sizes[@]}"; do
    dir="${CEPD_CACHE:-$root/.cache}/bench-inputs/$size"
    if [ ! -f "$dir/payments.jsonl" ]; then
        python3 examples/fraud/generate.py --events "$size" --users $((size / 100)) --seed 5 --out "$dir" >/dev/null
    fi
    echo "== $size events (generate.py --events $size --users $((size / 100)) --seed 5)"
    Benchmarks/flink/speed.sh "$dir" fraud strict probes
done
