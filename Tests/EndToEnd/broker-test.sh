# Shared start of the end-to-end tests through Tansu; sourced with `e2e_name` set and the cepd binary as "$1".
# Starts a broker, makes a work directory (kept with KEEP_WORK=1), and on exit kills the cepd in `serve_pid` (and
# those in `cepd_pids`) and stops the broker. Defines fail, tool (scripts/kafka-tool.py), `fast` (quick group
# joins), fraud_stream, read_outputs and outputs_match_replay (the example stream and its reference) and, for a cepd
# with an admin port, admin_port_of, scrape, metrics and metric.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cepd="${1:-$root/.build/debug/cepd}"
. scripts/kafka-env.sh
kafka_setup
kafka_start
work="$(mktemp -d)"
serve_pid=""
cepd_pids=()  # more cepd processes to kill on exit (several members of a group)
cleanup() {
    [ -z "$serve_pid" ] || kill -KILL "$serve_pid" 2>/dev/null || true
    local pid
    for pid in "${cepd_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    kafka_stop
    [ -n "${KEEP_WORK:-}" ] && echo "$e2e_name: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
export LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fail() { echo "$e2e_name: FAIL: $*" >&2; exit 1; }
# wait_until WHAT SECONDS CONDITION: evaluates CONDITION (a shell command line) every 0.1 s until it succeeds;
# fails after SECONDS saying what it waited for. A deadline in seconds, not a count of tries: a busy machine makes
# each try slower, not the wait shorter.
wait_until() {
    local what=$1 limit=$2 condition=$3 deadline=$((SECONDS + $2))
    until eval "$condition"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "waited $limit s for $what"
        sleep 0.1
    done
}
tool() { "$KAFKA_PY" scripts/kafka-tool.py "$@"; }
inputs=(logins payments geo confirmations)
# Quick group joins on Tansu (it answers the first join after session.timeout.ms / 2).
fast=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=1000)

# logged KEY=VALUE LOG: whether cepd logged a line with that field. Tests wait on fields, not on the wording of
# the messages: a text log line ends with its fields (` key=value`, sorted), a JSON one holds them as members.
logged() {
    local key=${1%%=*} value=${1#*=}
    # -s: a log the process has not created yet is "not yet", not an error line in the test's output.
    grep -q -s -e " $1\( \|\$\)" -e "\"$key\":\"$value\"" "$2"
}
# admin_port_of LOG: the port a cepd started with --metrics-port 0 logged for its admin server (empty if none).
admin_port_of() {
    local admin_log=$1  # (not "$1" in the condition: wait_until evaluates it with its own arguments)
    wait_until "the admin port in $admin_log (field admin_port)" 120 'grep -q -e " admin_port=" -e "\"admin_port\":" "$admin_log"'
    sed -n -e 's|.* admin_port=\([0-9]*\).*|\1|p' -e 's|.*"admin_port":"\([0-9]*\)".*|\1|p' "$1" | head -n 1
}
# scrape PATH [METHOD]: the answer of the admin port at $admin_port, "STATUS BODY" on stdout.
# A reader that stops early (`scrape ... | grep -q`) is not an error: with pipefail, a scrape that died of the
# closed pipe failed the check although grep had matched (ops.sh, once in CI).
scrape() {
    python3 - "http://127.0.0.1:$admin_port$1" "${2:-GET}" <<'PY'
import os, sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        text = f"{response.status} {response.read().decode()}"
except urllib.error.HTTPError as error:
    text = f"{error.code} {error.read().decode()}"
try:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
except BrokenPipeError:
    os._exit(0)
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

# fraud_stream EVENTS USERS RATE SEED OUTPUT_PARTITIONS [INPUT_PARTITIONS]: generates the example stream (RATE of
# malformed and of late events) into the four input topics of INPUT_PARTITIONS (default 3) partitions, creates the
# output topics, and runs `cepd run` on the same per-partition sequences (partition N = the topic's Nth --input):
# $work/run-alerts.jsonl, run-late.jsonl and run-dead.jsonl are the reference.
fraud_stream() {
    local parts=${6:-3}
    python3 examples/fraud/generate.py --events "$1" --users "$2" --malformed "$3" --late "$3" --seed "$4" \
        --out "$work/input" >/dev/null
    mkdir -p "$work/split"
    local t p
    for t in "${inputs[@]}"; do kafka_topic "$t" "$parts"; done
    for t in fraud-alerts payment-alerts cepd-late cepd-dead-letters; do kafka_topic "$t" "$5"; done
    for t in "${inputs[@]}"; do
        tool produce --brokers "$KAFKA_BROKERS" --topic "$t" --partitions "$parts" --file "$work/input/$t.jsonl" \
            --split "$work/split" 2>/dev/null
    done
    local replay=()
    for t in "${inputs[@]}"; do for p in $(seq 0 $((parts - 1))); do replay+=(--input "$t=$work/split/$t.p$p.jsonl"); done; done
    # The summary (matches and suppressed alerts per pattern) is kept for the tests that compare metrics with it.
    "$cepd" run --pattern patterns/fraud.cep "${replay[@]}" --output "$work/run-alerts.jsonl" \
        --late "$work/run-late.jsonl" --dead-letters "$work/run-dead.jsonl" 2> "$work/run-summary.txt"
}

# read_outputs: waits for the alert topics to hold as many alerts as `cepd run` found (then a little longer: a
# duplicate would show), and reads them and the dead-letter and late topics into $work/{fraud,payment,dead,late}.jsonl.
read_outputs() {
    local fraud payment
    fraud=$(grep -c '"topic":"fraud-alerts"' "$work/run-alerts.jsonl" || true)
    payment=$(grep -c '"topic":"payment-alerts"' "$work/run-alerts.jsonl" || true)
    tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --expect "$fraud" --idle 90 2>/dev/null
    tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --expect "$payment" --idle 30 2>/dev/null
    sleep 3  # anything beyond the expected alerts would be a duplicate: give it time to show
    tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --idle 5 2>/dev/null
    tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --idle 5 2>/dev/null
    tool consume --brokers "$KAFKA_BROKERS" --topic cepd-dead-letters --out "$work/dead.jsonl" --idle 5 --headers 2>/dev/null
    tool consume --brokers "$KAFKA_BROKERS" --topic cepd-late --out "$work/late.jsonl" --idle 5 --headers 2>/dev/null
}

# outputs_match_replay: whether what read_outputs read is exactly `cepd run`'s alerts (match ids), dead letters and
# late events (source positions) — none missing, none twice; prints the counts.
outputs_match_replay() {
    "$KAFKA_PY" - "$work" "$e2e_name" <<'PY'
import collections, json, sys
work, name = sys.argv[1], sys.argv[2]
def ids(path):
    return [json.loads(l)["_match"]["id"] for l in open(path) if l.strip()]
expected = collections.Counter(ids(f"{work}/run-alerts.jsonl"))
got = collections.Counter(ids(f"{work}/fraud.jsonl") + ids(f"{work}/payment.jsonl"))
missing = expected - got
twice = {i: n for i, n in got.items() if n > 1}
unexpected = set(got) - set(expected)
print(f"{name}: {sum(got.values())} alerts in the topics, {sum(expected.values())} from cepd run: "
      f"{sum(missing.values())} missing, {len(twice)} twice, {len(unexpected)} unexpected", file=sys.stderr)
ok = not missing and not twice and not unexpected
for what, path, replay in (("dead letters", "dead.jsonl", "run-dead.jsonl"), ("late events", "late.jsonl", "run-late.jsonl")):
    got = collections.Counter((m["headers"]["cepd-source-topic"], int(m["headers"]["cepd-source-partition"]),
                               int(m["headers"]["cepd-source-offset"])) for m in map(json.loads, open(f"{work}/{path}")))
    want = collections.Counter((r["topic"], r["partition"], r["offset"]) for r in map(json.loads, open(f"{work}/{replay}")))
    print(f"{name}: {sum(got.values())} {what} in the topic, {sum(want.values())} from cepd run, "
          f"{sum(1 for n in got.values() if n > 1)} twice", file=sys.stderr)
    ok = ok and got == want
sys.exit(0 if ok else 1)
PY
}
