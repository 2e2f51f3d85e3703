#!/usr/bin/env bash
# The main job: the fraud example end to end. Builds cepd, checks and tests the shipped patterns, generates a
# seeded stream of logins, location signals, payments and confirmations (with planted fraud, out-of-order
# arrival, a few late and malformed events), replays it through cepd in event time, and shows the alerts.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! dpkg -s pkg-config librdkafka-dev librocksdb-dev graphviz >/dev/null 2>&1; then
    echo "demo: installing the C libraries cepd links (pkg-config librdkafka-dev librocksdb-dev graphviz)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        pkg-config librdkafka-dev librocksdb-dev graphviz >/dev/null
fi

swift build -c release --product cepd
cepd=.build/release/cepd
out=out/fraud
mkdir -p "$out"

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
echo "== generating 200,000 events (examples/fraud/generate.py, seed 42)"
python3 examples/fraud/generate.py --events 200000 --users 2000 --late 0.001 --malformed 0.0005 --out "$out/input"
echo
echo "== cepd run"
"$cepd" run --pattern patterns/fraud.cep \
    --input logins="$out/input/logins.jsonl" --input geo="$out/input/geo.jsonl" \
    --input payments="$out/input/payments.jsonl" --input confirmations="$out/input/confirmations.jsonl" \
    --output "$out/alerts.jsonl" --late "$out/late.jsonl" --dead-letters "$out/dead-letters.jsonl"
echo
echo "== one alert of each pattern ($out/alerts.jsonl)"
for p in account_takeover card_testing impossible_travel unconfirmed_large_payment; do
    grep -m1 "\"pattern\":\"$p\"" "$out/alerts.jsonl" || true
done
echo
echo "== a late event and a dead letter"
head -n1 "$out/late.jsonl"
head -n1 "$out/dead-letters.jsonl"
