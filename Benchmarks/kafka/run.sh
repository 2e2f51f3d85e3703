#!/usr/bin/env bash
# cepd through Kafka (a local Tansu broker): throughput against a bare librdkafka consumer's, and alert latency
# at fixed input rates. One command; prints a table and writes the figures as JSON (for Benchmarks/plots.py).
#
#   Benchmarks/kafka/run.sh [--events N] [--rates R,R,...] [--seconds S] [--out FILE] [--cepd BINARY]
#
# Defaults: 2,000,000 events for the throughput part, rates 10000,25000,50000,100000 events/s for 20 s each,
# results in out/bench/kafka.json. The pattern is the fraud pattern of Benchmarks/flink/fraud.cep (logins, geo and
# payments, 3 partitions each, keyed by user; 5 s lateness), the input examples/fraud/generate.py's stream.
#
# 1. Throughput: all events are produced first; then the bare consumer (rawconsume.c) reads the three topics to
#    their end, and a fresh cepd group does the same (its rate: committed offsets over time, after its first
#    commit, so that joining the group does not count; cepd's defaults but checkpoints every 1 s instead of 10 s,
#    so that the offsets it commits at each move often enough to time a run of seconds).
# 2. Latency: for each rate, a fresh broker and cepd; a paced producer sends the stream at that rate; an alert
#    consumer notes when each alert arrives. Latency beyond the watermark = arrival − the moment the watermark
#    could first pass the alert's last event (an event ≥ 5 s later sent to every input partition); the event
#    stream's own time runs at rate/200 × real time (the generator makes 200 events per second of event time).
#    "keeps up" = cepd's committed offsets reached the end within 13 s of the producer's last message (they move
#    at each checkpoint: every 10 s with the defaults cepd runs with here).
#    "own": cepd's own part in two stages (its cepd_alert_processing_seconds histogram, scraped at the end: the
#    bucket bounds its p50 and p99 fall under) — the reader's (a batch's first message taken from librdkafka →
#    handed over: decoding, the event-time merge waiting for the other partitions) and the engine's (→ the alert
#    handed to the producer).
#    The floor, in the same runs: relay.c consumes every input message and produces a message about it at once
#    (two broker crossings, no processing, librdkafka's defaults; a sample of ~2,000 a second is produced, all are
#    read); its latency is each relayed message's arrival −
#    its own send. cepd's latency beyond the watermark is comparable: both start when the input that completes the
#    output has been sent.
#
# CEPD_ARGS adds options to cepd serve (say, -X fetch.wait.max.ms=10); RELAY_ARGS librdkafka settings to the relay
# (say, fetch.wait.max.ms=10), for a floor with the same settings.
# Everything runs on this machine: the broker, the Python producer and consumer, and cepd share its cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
events=2000000 rates=10000,25000,50000,100000 seconds=20 out="$root/out/bench/kafka.json" cepd=""
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events="$2"; shift 2 ;;
        --rates) rates="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --cepd) cepd="$2"; shift 2 ;;
        *) echo "usage: Benchmarks/kafka/run.sh [--events N] [--rates R,...] [--seconds S] [--out FILE] [--cepd BINARY]" >&2; exit 2 ;;
    esac
done
if [ -z "$cepd" ]; then
    [ -x .build/release/cepd ] || swift build -c release
    cepd="$root/.build/release/cepd"
fi
. scripts/kafka-env.sh
kafka_setup
export LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work="$(mktemp -d)"
cepd_pid="" alerts_pid="" relay_pid="" relayed_pid=""
cleanup() {
    local pid
    for pid in "$cepd_pid" "$alerts_pid" "$relay_pid" "$relayed_pid"; do
        [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
    done
    kafka_stop
    rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -o "$work/rawconsume" Benchmarks/kafka/rawconsume.c $(pkg-config --cflags --libs rdkafka)
gcc -O2 -o "$work/relay" Benchmarks/kafka/relay.c $(pkg-config --cflags --libs rdkafka)
loadgen() { "$KAFKA_PY" Benchmarks/kafka/loadgen.py "$@"; }
topics=logins,geo,payments
partitions=3
pattern=Benchmarks/flink/fraud.cep

largest=$events
for rate in ${rates//,/ }; do [ $((rate * seconds)) -gt "$largest" ] && largest=$((rate * seconds)); done
# 10,000 users per million events, as in the other benchmarks (each key has about ten events per 10-minute window).
users=$(( largest / 100 ))
python3 examples/fraud/generate.py --events "$((largest * 105 / 100))" --users "$users" --seed 5 --out "$work/input" >/dev/null

fresh_broker() {
    kafka_stop
    kafka_start
    local t
    for t in ${topics//,/ }; do kafka_topic "$t" "$partitions"; done
    for t in alerts relayed cepd-late cepd-dead-letters; do kafka_topic "$t" 1; done
}

# cepd's default settings: a state directory, checkpoints every 10 s (each commits the offsets). Only a short
# session timeout is added, as in the end-to-end tests: with librdkafka's default (45 s) Tansu takes ~20 s to hand
# a new group its partitions. START_ARGS: what this run adds (the throughput part checkpoints every second, so that
# the committed offsets it measures the rate with move often enough).
start_cepd() {  # GROUP [ARGS...]
    local group="$1"; shift
    "$cepd" serve --pattern "$pattern" --brokers "$KAFKA_BROKERS" --group "$group" --from earliest \
        --state-dir "$work/state-$group" -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 "$@" \
        ${CEPD_ARGS:-} 2>"$work/cepd-$group.log" >/dev/null &
    cepd_pid=$!
}

stop_cepd() {
    kill -TERM "$cepd_pid"
    wait "$cepd_pid" || { echo "kafka bench: cepd exited with $?; its log:" >&2; cat "$work/cepd-$1.log" >&2; exit 1; }
    cepd_pid=""
}

# 1. Throughput.
fresh_broker
echo "kafka bench: broker $KAFKA_BROKERS; producing $events events" >&2
loadgen produce --brokers "$KAFKA_BROKERS" --input "$work/input" --topics "$topics" --partitions "$partitions" \
    --count "$events" --rate 0 --sent "$work/sent-all" >/dev/null
spec=""
for t in ${topics//,/ }; do spec="$spec${spec:+,}$t:$partitions"; done
raw=$("$work/rawconsume" "$KAFKA_BROKERS" "$spec")
raw_rate=$(awk '{print $7}' <<<"$raw")
start_cepd throughput --checkpoint-interval 1s
cepd_rate=$(loadgen lag --brokers "$KAFKA_BROKERS" --group throughput --topics "$spec" --sent "$work/sent-all" | awk '{print $2}')
stop_cepd throughput
echo "kafka bench: raw consumer $raw_rate events/s, cepd $cepd_rate events/s" >&2

# 2. Latency at fixed rates.
rows=()
for rate in ${rates//,/ }; do
    fresh_broker
    start_cepd "latency-$rate" --metrics-port 0
    # A sample of ~2,000 relayed messages a second: the Python consumer that times them keeps up.
    "$work/relay" "$KAFKA_BROKERS" "$spec" relayed $(( rate / 2000 > 1 ? rate / 2000 : 1 )) ${RELAY_ARGS:-} \
        2>"$work/relay-$rate.log" &
    relay_pid=$!
    rm -f "$work/stop"
    loadgen alerts --brokers "$KAFKA_BROKERS" --topic alerts --out "$work/alerts-$rate" --stop "$work/stop" &
    alerts_pid=$!
    loadgen alerts --brokers "$KAFKA_BROKERS" --topic relayed --out "$work/relayed-$rate" --stop "$work/stop" &
    relayed_pid=$!
    sleep 6  # cepd joins its group before the first event is sent
    produced=$(loadgen produce --brokers "$KAFKA_BROKERS" --input "$work/input" --topics "$topics" \
        --partitions "$partitions" --count $((rate * seconds)) --rate "$rate" --sent "$work/sent-$rate")
    behind=$(loadgen lag --brokers "$KAFKA_BROKERS" --group "latency-$rate" --topics "$spec" --sent "$work/sent-$rate" --timeout 120 | awk '{print $1}')
    # cepd's own part of its alerts' latency, per stage (cepd_alert_processing_seconds), from its histogram.
    port=$(sed -n 's|.* admin_port=\([0-9]*\).*|\1|p' "$work/cepd-latency-$rate.log" | head -n 1)
    own=$(python3 - "$port" <<'PY'
import json, re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
stages = {}
for labels, value in re.findall(r'^cepd_alert_processing_seconds_bucket\{([^}]*)\} (\S+)$', text, re.M):
    fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    if fields["le"] != "+Inf":
        stages.setdefault(fields["stage"], []).append((float(fields["le"]), float(value)))
counts = {k: float(v) for k, v in re.findall(r'^cepd_alert_processing_seconds_count\{stage="(\w+)"\} (\S+)$', text, re.M)}
def bound(stage, q):
    total = counts.get(stage, 0)
    return next((le * 1000 for le, n in sorted(stages.get(stage, [])) if total and n >= q * total), None)
print(json.dumps({"timed": int(counts.get("engine", 0)),
                  **{f"{s}_{q}_le_ms": bound(s, p) for s in ("reader", "engine") for q, p in (("p50", .5), ("p99", .99))}}))
PY
)
    kill -TERM "$relay_pid"
    wait "$relay_pid" || { echo "kafka bench: the relay failed; its log:" >&2; cat "$work/relay-$rate.log" >&2; exit 1; }
    relay_pid=""
    touch "$work/stop"
    # One wait each: `wait A B` returns B's status only, and a timing consumer that failed must fail the run.
    wait "$alerts_pid"
    wait "$relayed_pid"
    alerts_pid="" relayed_pid=""
    stop_cepd "latency-$rate"
    latency=$(loadgen analyze --sent "$work/sent-$rate" --alerts "$work/alerts-$rate" --lateness-ms 5000 --topics "$topics")
    floor=$(loadgen analyze --sent "$work/sent-$rate" --alerts "$work/relayed-$rate" --lateness-ms 0 --topics "$topics" --relay)
    rows+=("{\"rate\": $rate, \"produced\": $produced, \"catch_up_s\": $behind, \"latency\": $latency, \"floor\": $floor, \"own\": $own}")
    echo "kafka bench: rate $rate: $produced; committed the end $behind s after the last send; $latency" >&2
done

mkdir -p "$(dirname "$out")"
python3 - "$out" "$events" "$raw_rate" "$cepd_rate" "${rows[@]}" <<'PY'
import json, sys
out, events, raw, cepd, *rows = sys.argv[1:]
result = {"events": int(events), "raw_consume_per_s": float(raw), "cepd_per_s": float(cepd),
          "rates": [json.loads(r) for r in rows]}
json.dump(result, open(out, "w"), indent=1)
print(f"throughput, {events} events in 3 topics x 3 partitions (fraud pattern):")
print(f"  bare librdkafka consumer {float(raw):12,.0f} events/s")
print(f"  cepd serve               {float(cepd):12,.0f} events/s   ({float(cepd) / float(raw):.2f} of the bare consumer)")
print("latency beyond the watermark (ms), at fixed input rates, and the relay floor in the same run:")
print(f"  {'rate/s':>8} {'sent/s':>8} {'alerts':>7} {'p50':>8} {'p99':>8} {'p99.9':>8} {'max':>8}"
      f" {'floor p50':>10} {'floor p99':>10}  reader p50/p99 ≤  engine p50/p99 ≤  keeps up")
for r in result["rates"]:
    l, f, o = r["latency"], r["floor"], r["own"]
    # (The committed offsets move at each checkpoint: every 10 s by default.)
    ok = "yes" if r["catch_up_s"] <= 13 else f"no ({r['catch_up_s']:.1f} s behind)"
    print(f"  {r['rate']:>8} {r['produced']['rate']:>8} {l['alerts']:>7} {l.get('p50_ms', 0):>8} {l.get('p99_ms', 0):>8}"
          f" {l.get('p999_ms', 0):>8} {l.get('max_ms', 0):>8} {f.get('p50_ms', 0):>10} {f.get('p99_ms', 0):>10}"
          f" {str(o['reader_p50_le_ms']):>7}/{str(o['reader_p99_le_ms']):<8} {str(o['engine_p50_le_ms']):>7}/{str(o['engine_p99_le_ms']):<8}  {ok}")
print(f"written to {out}")
PY
