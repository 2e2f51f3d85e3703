#!/usr/bin/env bash
# `cepd run` throughput against the number of keys: the same number of events (default 1M) of the example stream
# spread over 100 to 1M users, fraud pattern (Benchmarks/flink/fraud.cep), whole process (reading, decoding,
# matching), events/s and peak RSS from GNU time. Writes out/bench/keys.json (for Benchmarks/plots.py).
#
#   Benchmarks/keys.sh [EVENTS] [USERS ...]      (default: 1000000 and 100 1000 10000 100000 1000000 users)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
events="${1:-1000000}"
shift || true
users=("$@")
[ ${#users[@]} -gt 0 ] || users=(100 1000 10000 100000 1000000)
swift build -c release 2>&1 | tail -n 1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rows=()
for u in "${users[@]}"; do
    dir="${CEPD_CACHE:-$root/.cache}/bench-inputs/$events-u$u"
    [ -f "$dir/payments.jsonl" ] || python3 examples/fraud/generate.py --events "$events" --users "$u" --seed 5 --out "$dir" >/dev/null
    n=$(cat "$dir/logins.jsonl" "$dir/geo.jsonl" "$dir/payments.jsonl" | wc -l)
    /usr/bin/time -f "%e %M" -o "$work/time" .build/release/cepd run --pattern Benchmarks/flink/fraud.cep \
        --input "logins=$dir/logins.jsonl" --input "geo=$dir/geo.jsonl" --input "payments=$dir/payments.jsonl" \
        --output "$work/alerts.jsonl" --quiet
    read -r seconds rss < "$work/time"
    alerts=$(wc -l < "$work/alerts.jsonl")
    echo "$u users: $n events in $seconds s ($(python3 -c "print(f'{$n / $seconds:,.0f}')") events/s), peak RSS $((rss / 1024)) MB, $alerts alerts"
    rows+=("{\"users\": $u, \"events\": $n, \"seconds\": $seconds, \"peak_rss_kb\": $rss, \"alerts\": $alerts}")
done
mkdir -p out/bench
(IFS=,; echo "[${rows[*]}]") > out/bench/keys.json
echo "written to out/bench/keys.json"
