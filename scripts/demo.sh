#!/usr/bin/env bash
# The main job: the fraud example end to end through Kafka. Builds cepd, checks and tests the shipped patterns,
# starts a local Kafka-compatible broker (Tansu, memory only), creates the topics, generates a seeded stream of
# logins, location signals, payments and confirmations (planted fraud, out-of-order arrival, a few late and
# malformed events) into them, runs cepd on patterns/fraud.cep, and shows the alerts read back from fraud-alerts.
# cepd and the broker keep running afterwards; `bash scripts/demo.sh stop` stops them.
#
# `bash scripts/demo.sh --registry`: the same job with the events as most production topics carry them —
# logins, location signals and confirmations in Protocol Buffers, payments in Avro, each message in the Confluent
# wire format with its schema in a schema registry (scripts/test-registry.py, a small server of the registry's
# REST API), encoded by the official encoders (protoc's Python classes, fastavro). The patterns are the same:
# examples/fraud/with-formats.sh adds a `format ... registry` clause to each stream.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/fraud

stop_demo() {
    [ -f "$out/pids" ] || { echo "demo: nothing running"; return 0; }
    read -r cepd_pid broker_pid registry_pid < "$out/pids"
    # cepd first: on SIGTERM it delivers pending alerts, commits its offsets and leaves the group.
    kill -TERM "$cepd_pid" 2>/dev/null && while kill -0 "$cepd_pid" 2>/dev/null; do sleep 0.2; done
    kill -TERM "$broker_pid" 2>/dev/null || true
    [ -z "${registry_pid:-}" ] || kill -TERM "$registry_pid" 2>/dev/null || true
    rm -f "$out/pids"
    echo "demo: stopped cepd ($cepd_pid), the broker ($broker_pid)${registry_pid:+ and the schema registry ($registry_pid)}"
}
mode=json
case "${1:-}" in
    stop) stop_demo; exit 0 ;;
    --registry) mode=registry ;;
    "") ;;
    *) echo "usage: bash scripts/demo.sh [--registry | stop]" >&2; exit 2 ;;
esac
[ ! -f "$out/pids" ] || stop_demo

packages=(pkg-config librdkafka-dev librocksdb-dev libcurl4-openssl-dev graphviz)
[ "$mode" = json ] || packages+=(protobuf-compiler libprotobuf-dev)  # fraud.proto imports timestamp.proto
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    echo "demo: installing what cepd links and the demo uses (${packages[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

swift build -c release --product cepd
cepd=.build/release/cepd
rm -rf "$out"
mkdir -p "$out/split"
pattern=patterns/fraud.cep

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
registry_pid=""
if [ "$mode" = registry ]; then
    echo "   ... encoded with protoc's Python classes (examples/fraud/fraud.proto) and fastavro (payment.avsc) in the"
    echo "   Confluent wire format, the schemas in a schema registry (scripts/test-registry.py)"
    mkdir -p "$out/gen"
    protoc --include_imports --descriptor_set_out="$out/gen/fraud.desc" --python_out="$out/gen" -I examples/fraud \
        examples/fraud/fraud.proto
    "$KAFKA_PY" examples/fraud/encode.py --pb2 "$out/gen" --in "$out/input" --out "$out/framed" --registry "$out/schemas.json"
    registry_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 scripts/test-registry.py --schemas "$out/schemas.json" --port "$registry_port" 2>"$out/registry.log" &
    registry_pid=$!
    export CEPD_SCHEMA_REGISTRY="http://127.0.0.1:$registry_port"
    examples/fraud/with-formats.sh registry > "$out/fraud-registry.cep"
    pattern=$out/fraud-registry.cep
    "$cepd" check "$pattern"
fi
for t in "${inputs[@]}"; do
    values=()
    [ "$mode" = json ] || values=(--values "$out/framed/$t.b64")
    "$KAFKA_PY" scripts/kafka-tool.py produce --brokers "$KAFKA_BROKERS" --topic "$t" --partitions 3 \
        --file "$out/input/$t.jsonl" --split "$out/split" "${values[@]}"
done
echo

echo "== cepd --pattern $pattern --brokers $KAFKA_BROKERS --from earliest (log: $out/cepd.log)"
# --idle-timeout 0s: a partition read to its end stops holding back the watermark at once (as a replayed file
# that ends). --idle-wall-clock: when the generated traffic stops, event time follows the wall clock, so the
# last windows and timeouts fire without waiting for more events.
"$cepd" --pattern "$pattern" --brokers "$KAFKA_BROKERS" --group demo --from earliest --state-dir "$out/state" \
    --idle-timeout 0s --idle-wall-clock -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 --metrics-port 0 \
    >"$out/cepd.out" 2>"$out/cepd.log" &
echo "$! $TANSU_PID $registry_pid" > "$out/pids"
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
"$cepd" run --pattern "$pattern" "${replay[@]}" --output "$out/replay-alerts.jsonl" \
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
    "http://127.0.0.1:$port/metrics" | grep -E '^cepd_(events_total|alerts_produced_total|checkpoint_number) |^cepd_(matches|alerts_suppressed)_total[{]'
echo "(cepd_alerts_suppressed_total: impossible-travel matches held back by 'suppress 1h', one alert per user an hour)"
echo "(why hasn't an alert fired for a user? cepd inspect --key u000123 --admin-port $port)"
echo
read -r cepd_pid broker_pid registry_pid < "$out/pids"
echo "cepd (pid $cepd_pid) and the broker at $KAFKA_BROKERS (pid $broker_pid)${registry_pid:+ and the schema registry at ${CEPD_SCHEMA_REGISTRY:-} (pid $registry_pid)} keep running;"
echo "more events produced to the input topics are matched as they arrive. Stop them with: bash scripts/demo.sh stop"
