#!/usr/bin/env bash
# Same matches as Flink CEP 2.3: prepares Flink (the jars of the PyPI wheel apache-flink-libraries==2.3.0, the
# harness compiled with javac), generates events with the example generator, and compares the match sets of cepd
# and Flink CEP for the patterns of patterns.cep. Exit 1 when they differ.
#
#   Benchmarks/flink/run.sh [--events N] [--users N] [--seed N] [--ties] [--cepd PATH]
#
# Without --ties every event time is unique; with --ties times are whole seconds and only the payments topic is
# compared (Flink orders equal timestamps of different inputs by arrival, which is not deterministic there).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
events=200000 users=2000 seed=11 ties="" cepd=""
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events="$2"; shift 2 ;;
        --users) users="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --ties) ties=1; shift ;;
        --cepd) cepd="$2"; shift 2 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
. "$here/prepare.sh"
find_cepd

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -n "$ties" ]; then
    python3 "$root/examples/fraud/generate.py" --events "$events" --users "$users" --seed "$seed" --ties --out "$work"
    inputs=(--input "payments=$work/payments.jsonl")
    patterns=probes
else
    python3 "$root/examples/fraud/generate.py" --events "$events" --users "$users" --seed "$seed" --out "$work"
    inputs=(--input "logins=$work/logins.jsonl" --input "geo=$work/geo.jsonl" --input "payments=$work/payments.jsonl")
    patterns=fraud,strict,probes,noskip,stepwindow,greedy
fi
python3 "$here/compare.py" --cepd "$cepd" --flink-lib "$lib" --classes "$classes" --patterns "$patterns" "${inputs[@]}" \
    2> >(grep -v -e '^SLF4J' -e 'log4j' -e '^WARN' >&2)
