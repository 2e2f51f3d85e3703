#!/usr/bin/env bash
# cepd against Flink CEP 2.3, side by side, in one command: prepares Flink (jars from the PyPI wheel, the harness
# compiled with javac), generates the example stream at each size (seed 5, 100 events per user, kept in
# .cache/bench-inputs), and runs Benchmarks/flink/speed.sh on it for the fraud, strict and quantifier (probes)
# patterns: events/s, the ratio, peak RSS of each, and whether the match sets are equal (exit 1 if not).
#
#   Benchmarks/sidebyside.sh [SIZE ...]      (default: 1000000 5000000)
#
# cepd runs `cepd run` (a reading/decoding thread and a matching thread, so up to two cores; and again pinned to
# one core); Flink runs at parallelism 1. Each size runs twice: three topics (one file each), and the same events in one file, each line
# with a "type" field that the streams filter on (cepd: `where type == "login"`; the harness the same).
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
    echo "== $size events (generate.py --events $size --users $((size / 100)) --seed 5), three topics"
    Benchmarks/flink/speed.sh "$dir" fraud strict probes
    # The same events in one file: each line gets "type", the files merged by event time.
    single="$dir-single"
    if [ ! -f "$single/events.jsonl" ]; then
        mkdir -p "$single"
        python3 - "$dir" "$single/events.jsonl" <<'PY'
import heapq, json, sys
def lines(name, kind):
    for line in open(f"{sys.argv[1]}/{name}.jsonl"):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        yield event["ts"], json.dumps({"type": kind, **event}, separators=(",", ":"))
with open(sys.argv[2], "w") as out:
    for _, line in heapq.merge(lines("logins", "login"), lines("geo", "geo"), lines("payments", "payment")):
        out.write(line + "\n")
PY
    fi
    echo "== $size events, one file"
    Benchmarks/flink/speed.sh "$single" fraud strict probes
done
