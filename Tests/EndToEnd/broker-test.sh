# Shared start of the end-to-end tests through Tansu; sourced with `e2e_name` set and the cepd binary as "$1".
# Starts a broker, makes a work directory (kept with KEEP_WORK=1), and on exit kills the cepd in `serve_pid` and
# stops the broker. Defines fail, tool (scripts/kafka-tool.py), `fast` (quick group joins) and, for a cepd with an
# admin port, admin_port_of, scrape, metrics and metric.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cepd="${1:-$root/.build/debug/cepd}"
. scripts/kafka-env.sh
kafka_setup
kafka_start
work="$(mktemp -d)"
serve_pid=""
cleanup() {
    [ -z "$serve_pid" ] || kill -KILL "$serve_pid" 2>/dev/null || true
    kafka_stop
    [ -n "${KEEP_WORK:-}" ] && echo "$e2e_name: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
export LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fail() { echo "$e2e_name: FAIL: $*" >&2; exit 1; }
tool() { "$KAFKA_PY" scripts/kafka-tool.py "$@"; }
inputs=(logins payments geo confirmations)
# Quick group joins on Tansu (it answers the first join after session.timeout.ms / 2).
fast=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=1000)

# admin_port_of LOG: the port a cepd started with --metrics-port 0 logged for its admin server (empty if none).
admin_port_of() {
    local i
    for i in $(seq 1 100); do grep -q "admin port: http://127.0.0.1:" "$1" && break; sleep 0.1; done
    sed -n 's|.*admin port: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$1" | head -n 1
}
# scrape PATH [METHOD]: the answer of the admin port at $admin_port, "STATUS BODY" on stdout.
scrape() {
    python3 - "http://127.0.0.1:$admin_port$1" "${2:-GET}" <<'PY'
import sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.status, response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())
PY
}
# metrics FILE: scrapes /metrics into FILE (the Prometheus text).
metrics() { scrape /metrics | sed '1s/^200 //' > "$1"; }
# metric NAME: the sum of NAME's samples on the admin port (empty when absent).
metric() {
    scrape /metrics | sed '1s/^200 //' | python3 -c '
import re, sys
values = [float(m.group(1)) for m in re.finditer(rf"^{sys.argv[1]}(?:{{[^}}]*}})? (\S+)$", sys.stdin.read(), re.M)]
print(int(sum(values)) if values else "")' "$1"
}

# fraud_stream EVENTS USERS RATE SEED OUTPUT_PARTITIONS: generates the example stream (RATE of malformed and of
# late events) into the four input topics of three partitions, creates the output topics, and runs `cepd run` on
# the same per-partition sequences (partition N = the topic's Nth --input): $work/run-alerts.jsonl,
# run-late.jsonl and run-dead.jsonl are the reference.
fraud_stream() {
    python3 examples/fraud/generate.py --events "$1" --users "$2" --malformed "$3" --late "$3" --seed "$4" \
        --out "$work/input" >/dev/null
    mkdir -p "$work/split"
    local t p
    for t in "${inputs[@]}"; do kafka_topic "$t" 3; done
    for t in fraud-alerts payment-alerts cepd-late cepd-dead-letters; do kafka_topic "$t" "$5"; done
    for t in "${inputs[@]}"; do
        tool produce --brokers "$KAFKA_BROKERS" --topic "$t" --partitions 3 --file "$work/input/$t.jsonl" \
            --split "$work/split" 2>/dev/null
    done
    local replay=()
    for t in "${inputs[@]}"; do for p in 0 1 2; do replay+=(--input "$t=$work/split/$t.p$p.jsonl"); done; done
    "$cepd" run --pattern patterns/fraud.cep "${replay[@]}" --output "$work/run-alerts.jsonl" \
        --late "$work/run-late.jsonl" --dead-letters "$work/run-dead.jsonl" --quiet
}
