#!/usr/bin/env bash
# Same matches as Flink CEP 2.3 on random patterns (constructs.py): quantifiers, greedy, optional repetitions,
# until, negations, step and quantifier windows, every skip strategy. Prepares Flink like run.sh. Exit 1 when a
# case differs (the first five are printed with their pattern, events and the differing matches).
#
#   Benchmarks/flink/constructs.sh [--cases N] [--seed N] [--cepd PATH]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cases=1000 seed=17 cepd=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) cases="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --cepd) cepd="$2"; shift 2 ;;
        *) echo "constructs.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
. "$here/prepare.sh"
find_cepd

python3 "$here/constructs.py" --cepd "$cepd" --flink-lib "$lib" --classes "$classes" --cases "$cases" --seed "$seed" \
    2> >(grep -v -e '^SLF4J' -e 'log4j' -e '^WARN' >&2)
