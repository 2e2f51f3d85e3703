#!/usr/bin/env bash
# Protobuf and Avro events, written by the official encoders (protoc's Python classes, fastavro):
#  1. `cepd check` accepts the fraud patterns over a descriptor set and an Avro schema;
#  2. `cepd run` over the events as base64 binary lines gives byte-identical alerts, and the same late events and
#     dead letters (by position), as over the same events as JSON;
#  3. through a real broker (Tansu), `cepd serve` reading the raw binary messages gives exactly the alerts, late
#     events and dead letters of `cepd run` over the same per-partition sequences; a corrupt message is a dead
#     letter that names the format and the byte.
#
#   Tests/EndToEnd/formats.sh [CEPD_BINARY]     (needs protoc, and scripts/kafka-env.sh's setup)
e2e_name="formats e2e"
. "$(dirname "$0")/broker-test.sh"

command -v protoc >/dev/null || fail "protoc is not installed (Debian: protobuf-compiler)"
mkdir -p "$work/gen"
protoc --include_imports --descriptor_set_out="$work/fraud.desc" --python_out="$work/gen" -I examples/fraud \
    examples/fraud/fraud.proto
cp examples/fraud/payment.avsc "$work/"
# The shipped patterns, with a format for each stream: logins, geo and confirmations in Protobuf, payments in Avro.
sed -e 's|^stream logins from "logins" {|&\n  format protobuf "fraud.desc" message fraud.v1.Login|' \
    -e 's|^stream geo from "geo" {|&\n  format protobuf "fraud.desc" message fraud.v1.Geo|' \
    -e 's|^stream confirmations from "confirmations" {|&\n  format protobuf "fraud.desc" message fraud.v1.Confirmation|' \
    -e 's|^stream payments from "payments" {|&\n  format avro "payment.avsc"|' patterns/fraud.cep > "$work/fraud-binary.cep"
[ "$(grep -c '^  format ' "$work/fraud-binary.cep")" = 4 ] || fail "the streams of patterns/fraud.cep were not found"
"$cepd" check "$work/fraud-binary.cep" >/dev/null || fail "cepd check refused the binary formats"

python3 examples/fraud/generate.py --events 20000 --users 300 --malformed 0.002 --late 0.002 --seed 11 \
    --out "$work/input" >/dev/null
"$KAFKA_PY" examples/fraud/encode.py --pb2 "$work/gen" --in "$work/input" --out "$work/binary"

# 2. Files: the same events as JSON and as binary.
replay() {  # PATTERN EXTENSION DIR NAME
    local args=() t
    for t in "${inputs[@]}"; do args+=(--input "$t=$3/$t.$2"); done
    "$cepd" run --pattern "$1" "${args[@]}" --output "$work/$4-alerts.jsonl" --late "$work/$4-late.jsonl" \
        --dead-letters "$work/$4-dead.jsonl" --quiet
}
replay patterns/fraud.cep jsonl "$work/input" json
replay "$work/fraud-binary.cep" b64 "$work/binary" binary
alerts=$(wc -l < "$work/json-alerts.jsonl")
[ "$alerts" -gt 100 ] || fail "the JSON replay found only $alerts alerts"
cmp -s "$work/json-alerts.jsonl" "$work/binary-alerts.jsonl" \
    || fail "binary alerts differ from JSON ($(wc -l < "$work/binary-alerts.jsonl") against $alerts)"
"$KAFKA_PY" - "$work" <<'PY' || fail "late events or dead letters differ between JSON and binary"
import json, sys
work = sys.argv[1]
for what in ("late", "dead"):
    positions = {}
    for name in ("json", "binary"):
        try:
            positions[name] = sorted((r["topic"], r["partition"], r["offset"]) for r in map(json.loads, open(f"{work}/{name}-{what}.jsonl")))
        except FileNotFoundError:
            positions[name] = []
    if not positions["json"] or positions["json"] != positions["binary"]:
        sys.exit(f"{what}: {len(positions['json'])} from JSON, {len(positions['binary'])} from binary")
    print(f"formats e2e: the same {len(positions['json'])} {what} records from JSON and binary", file=sys.stderr)
reasons = [json.loads(l)["reason"] for l in open(f"{work}/binary-dead.jsonl")]
if not all(r.startswith(("invalid protobuf fraud.v1.", "invalid avro fraud.v1.Payment")) for r in reasons):
    sys.exit(f"a dead letter that does not name its format: {reasons[:3]}")
PY
echo "formats e2e: $alerts alerts from Protobuf/Avro files identical to JSON"

# 3. Through Kafka: the raw binary messages, partitioned by user as the JSON lines would be.
for t in "${inputs[@]}"; do kafka_topic "$t" 3; done
for t in fraud-alerts payment-alerts cepd-late cepd-dead-letters; do kafka_topic "$t" 1; done
mkdir -p "$work/split"
for t in "${inputs[@]}"; do
    tool produce --brokers "$KAFKA_BROKERS" --topic "$t" --partitions 3 --file "$work/input/$t.jsonl" \
        --values "$work/binary/$t.b64" --split "$work/split" 2>/dev/null
done
split=()
for t in "${inputs[@]}"; do for p in 0 1 2; do split+=(--input "$t=$work/split/$t.p$p.jsonl"); done; done
"$cepd" run --pattern "$work/fraud-binary.cep" "${split[@]}" --output "$work/run-alerts.jsonl" \
    --late "$work/run-late.jsonl" --dead-letters "$work/run-dead.jsonl" --quiet
"$cepd" --pattern "$work/fraud-binary.cep" --brokers "$KAFKA_BROKERS" --group formats --state-dir "$work/state" \
    --from earliest --idle-timeout 0s --idle-wall-clock --commit-interval 1s "${fast[@]}" \
    >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
read_outputs
outputs_match_replay || fail "cepd serve over binary messages differs from cepd run (log: $(tail -n 3 "$work/serve.log"))"
grep -q '"cepd-reason": "invalid protobuf fraud.v1.' "$work/dead.jsonl" || fail "no dead letter names the protobuf message"
echo "formats e2e: PASS"
