#!/usr/bin/env bash
# The main job for now: build cepd, check every shipped pattern file, and explain the fraud patterns
# (text, plus a PNG of the automata when Graphviz is present).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! dpkg -s pkg-config librdkafka-dev librocksdb-dev >/dev/null 2>&1; then
    echo "demo: installing the C libraries cepd links (pkg-config librdkafka-dev librocksdb-dev graphviz)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        pkg-config librdkafka-dev librocksdb-dev graphviz >/dev/null
fi

swift build -c release --product cepd
cepd=.build/release/cepd

echo "== cepd check patterns/*.cep"
"$cepd" check patterns/*.cep
echo
echo "== cepd explain patterns/fraud.cep"
"$cepd" explain patterns/fraud.cep
if command -v dot >/dev/null; then
    mkdir -p out
    "$cepd" explain patterns/fraud.cep --format dot | dot -Tpng -o out/fraud.png
    echo "== wrote out/fraud.png"
fi
