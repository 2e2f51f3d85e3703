#!/usr/bin/env bash
# The main job: the fraud example end to end through Kafka. Builds cepd, checks and tests the shipped patterns,
# starts a local Kafka-compatible broker (Tansu, memory only), creates the topics, generates a seeded stream of
# logins, location signals, payments and confirmations (planted fraud, out-of-order arrival, a few late and
# malformed events) into them, runs cepd on patterns/fraud.cep, and shows the alerts read back from fraud-alerts.
# cepd and the broker keep running afterwards; `bash scripts/demo.sh stop` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/fraud

stop_demo() {
    [ -f "$out/pids" ] || { echo "demo: nothing running"; return 0; }
    read -r cepd_pid broker_pid < "$out/pids"
    # cepd first: on SIGTERM it delivers pending alerts, commits its offsets and leaves the group.
    kill -TERM "$cepd_pid" 2>/dev/null && while kill -0 "$cepd_pid" 2>/dev/null; do sleep 0.2; done
    kill -TERM "$broker_pid" 2>/dev/null || true
    rm -f "$out/pids"
    echo "demo: stopped cepd ($cepd_pid) and the broker ($broker_pid)"
}
if [ "${1:-}" = "stop" ]; then stop_demo; exit 0; fi
[ ! -f "$out/pids" ] || stop_demo

if ! dpkg -s pkg-config librdkafka-dev librocksdb-dev libcurl4-openssl-dev graphviz >/dev/null 2>&1; then
    echo "demo: installing the C libraries cepd links (pkg-config librdkafka-dev librocksdb-dev libcurl4-openssl-dev graphviz)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        pkg-config librdkafka-dev librocksdb-dev libcurl4-openssl-dev graphviz >/dev/null
fi

swift build -c release --product cepd
cepd=.build/release/cepd
rm -rf "$out"
mkdir -p "$out/split"

echo "== cepd check patterns/*.cep"
"$cepd" check patterns/*.cep
echo
echo "== cepd test patterns/fraud.cep"
"$cepd" test patterns/fraud.cep
echo
if command -v dot >/dev/null; then
    "$cepd" explain patterns/fraud.cep --format dot | dot -Tpng -o "$out/automata.png"
    echo "== the automata: $out/automata.png (cepd explain patterns/fraud.cep for text)"
    echo
fi

echo "== a local Kafka-compatible broker (Tansu, memory only) and librdkafka 2.16 (scripts/kafka-env.sh)"
. scripts/kafka-env.sh
kafka_setup
kafka_start
export LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "broker at $KAFKA_BROKERS"
inputs=(logins payments geo confirmations)
for t in "${inputs[@]}"; do kafka_topic "$t" 3; done
for t in fraud-alerts payment-alerts cepd-late cepd-dead-letters; do kafka_topic "$t" 1; done
echo

echo "== generating 200,000 events (examples/fraud/generate.py, seed 42) into ${inputs[*]} (3 partitions each)"
python3 examples/fraud/generate.py --events 200000 --users 2000 --late 0.001 --malformed 0.0005 --out "$out/input"
for t in "${inputs[@]}"; do
    "$KAFKA_PY" scripts/kafka-tool.py produce --brokers "$KAFKA_BROKERS" --topic "$t" --partitions 3 \
        --file "$out/input/$t.jsonl" --split "$out/split"
done
echo

echo "== cepd --pattern patterns/fraud.cep --brokers $KAFKA_BROKERS --from earliest (log: $out/cepd.log)"
# --idle-timeout 0s: a partition read to its end stops holding back the watermark at once (as a replayed file
# that ends). --idle-wall-clock: when the generated traffic stops, event time follows the wall clock, so the
# last windows and timeouts fire without waiting for more events.
"$cepd" --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" --group demo --from earliest --state-dir "$out/state" \
    --idle-timeout 0s --idle-wall-clock -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 --metrics-port 0 \
    >"$out/cepd.out" 2>"$out/cepd.log" &
echo "$! $TANSU_PID" > "$out/pids"
"$KAFKA_PY" scripts/kafka-tool.py consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$out/alerts.jsonl" --idle 15
"$KAFKA_PY" scripts/kafka-tool.py consume --brokers "$KAFKA_BROKERS" --topic cepd-late --out "$out/late.jsonl" --idle 5 --headers
"$KAFKA_PY" scripts/kafka-tool.py consume --brokers "$KAFKA_BROKERS" --topic cepd-dead-letters --out "$out/dead-letters.jsonl" --idle 5 --headers
echo
echo "== one alert of each pattern, read back from fraud-alerts ($out/alerts.jsonl)"
for p in account_takeover card_testing impossible_travel; do
    grep -m1 "\"pattern\":\"$p\"" "$out/alerts.jsonl" || true
done
echo
echo "== a late event (cepd-late) and a dead letter (cepd-dead-letters), with their headers"
head -n1 "$out/late.jsonl"
head -n1 "$out/dead-letters.jsonl"
echo

echo "== the same per-partition sequences replayed from files with cepd run give the same alerts"
replay=()
for t in "${inputs[@]}"; do for p in 0 1 2; do replay+=(--input "$t=$out/split/$t.p$p.jsonl"); done; done
"$cepd" run --pattern patterns/fraud.cep "${replay[@]}" --output "$out/replay-alerts.jsonl" \
    --late "$out/replay-late.jsonl" --dead-letters "$out/replay-dead-letters.jsonl" --quiet
grep '"topic":"fraud-alerts"' "$out/replay-alerts.jsonl" | sort > "$out/replay-fraud.sorted"
sort "$out/alerts.jsonl" > "$out/kafka-fraud.sorted"
if cmp -s "$out/replay-fraud.sorted" "$out/kafka-fraud.sorted"; then
    echo "identical: $(wc -l < "$out/alerts.jsonl") fraud alerts, same match ids and fields"
else
    echo "DIFFERENT: $(wc -l < "$out/alerts.jsonl") through Kafka, $(wc -l < "$out/replay-fraud.sorted") replayed"
    exit 1
fi
echo
port=$(sed -n 's|.*admin port: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$out/cepd.log" | head -n 1)
echo "== cepd's metrics (http://127.0.0.1:$port/metrics; also /healthz, /readyz, /keys/KEY), a few of them"
python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
    "http://127.0.0.1:$port/metrics" | grep -E '^cepd_(events_total|alerts_produced_total|checkpoint_number) |^cepd_matches_total[{]'
echo "(why hasn't an alert fired for a user? cepd inspect --key u000123 --admin-port $port)"
echo
read -r cepd_pid broker_pid < "$out/pids"
echo "cepd (pid $cepd_pid) and the broker at $KAFKA_BROKERS (pid $broker_pid) keep running; more events produced"
echo "to the input topics are matched as they arrive. Stop both with: bash scripts/demo.sh stop"
