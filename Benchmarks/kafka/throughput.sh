#!/usr/bin/env bash
# Throughput of several cepd binaries or settings side by side, over the same preloaded topics: events/s, peak
# memory, CPU in all and per thread, with the bare librdkafka consumer's rate before each run (the machine is
# shared and noisy: compare within one invocation, as ratios).
#
#   Benchmarks/kafka/throughput.sh [--events N | --input DIR] [--rounds R] [--keep-logs DIR] LABEL=BINARY[,ARG,...] ...
#
# e.g. Benchmarks/kafka/throughput.sh --events 3000000 --rounds 2 base=/tmp/cepd-base head=.build/release/cepd \
#        small=.build/release/cepd,-X,queued.min.messages=5000
#
# --input DIR takes logins.jsonl, geo.jsonl and payments.jsonl from DIR (e.g. Benchmarks/checkpoint.sh's million
# open keys) instead of generating them. A label's arguments go after the defaults below, so that
# `--state-dir,STATE,--checkpoint-interval,1s` turns checkpoints on (STATE: a fresh directory per run); its log's
# checkpoint lines are summed up. --keep-logs DIR keeps each run's cepd log as DIR/LABEL-N.log (N counts the runs),
# for the checkpoint lines' details (waiting events written, how long each capture held up matching).
#
# Defaults: 1,000,000 events of the fraud stream (Benchmarks/flink/fraud.cep; 10,000 users per million events) in
# three topics of 3 partitions on a local Tansu broker, 1 round. Each run is a fresh group of one `cepd serve
# --state-dir none --commit-interval 1s` reading from the earliest offset; its rate is the group's committed offsets
# over time after its first commit (`loadgen.py lag`, ends from the producer's record); peak memory is VmHWM and CPU
# utime+stime from /proc when the group has committed the end (the join included).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
events=1000000 rounds=1 runs=() input="" keep=""
usage="usage: Benchmarks/kafka/throughput.sh [--events N | --input DIR] [--rounds R] [--keep-logs DIR] LABEL=BINARY[,ARG,...] ..."
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events="$2"; shift 2 ;;
        --input) input="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --keep-logs) keep="$2"; mkdir -p "$keep"; shift 2 ;;
        *=*) runs+=("$1"); shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
[ ${#runs[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
. scripts/kafka-env.sh
kafka_setup
export LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work="$(mktemp -d)"
pid=""
cleanup() {
    [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
    kafka_stop
    rm -rf "$work"
}
trap cleanup EXIT
loadgen() { "$KAFKA_PY" Benchmarks/kafka/loadgen.py "$@"; }
spec=logins:3,geo:3,payments:3

if [ -n "$input" ]; then
    mkdir -p "$work/input"
    for t in logins geo payments; do cp "$input/$t.jsonl" "$work/input/"; done
else
    python3 examples/fraud/generate.py --events "$events" --users $((events / 100)) --seed 5 --out "$work/input" >/dev/null
fi
total=$(cat "$work/input/logins.jsonl" "$work/input/geo.jsonl" "$work/input/payments.jsonl" | wc -l)
kafka_start
for t in logins geo payments; do kafka_topic "$t" 3; done
for t in alerts cepd-late cepd-dead-letters; do kafka_topic "$t" 1; done
loadgen produce --brokers "$KAFKA_BROKERS" --input "$work/input" --topics logins,geo,payments --partitions 3 \
    --count "$total" --rate 0 --sent "$work/sent" >/dev/null
gcc -O2 -o "$work/rawconsume" Benchmarks/kafka/rawconsume.c $(pkg-config --cflags --libs rdkafka)
echo "throughput: $total messages in 3 topics x 3 partitions"

n=0
for round in $(seq "$rounds"); do
    for run in "${runs[@]}"; do
        n=$((n + 1))
        label="${run%%=*}"
        IFS=, read -r -a command <<<"${run#*=}"
        command=("${command[@]//STATE/$work/state-$n}")  # a fresh state directory per run
        raw=$("$work/rawconsume" "$KAFKA_BROKERS" "$spec" 2>/dev/null | awk '{print $7}')
        "${command[0]}" serve --pattern Benchmarks/flink/fraud.cep --brokers "$KAFKA_BROKERS" --group "g$n" \
            --from earliest --state-dir none --commit-interval 1s -X session.timeout.ms=6000 \
            -X heartbeat.interval.ms=1000 "${command[@]:1}" 2>"$work/cepd-$n.log" >/dev/null &
        pid=$!
        rate=$(loadgen lag --brokers "$KAFKA_BROKERS" --group "g$n" --topics "$spec" --sent "$work/sent" \
            --timeout 900 | awk '{print $2}')
        peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
        cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$pid/stat")
        threads=$(for t in /proc/$pid/task/*; do awk '{printf "%.2f\n", ($14 + $15) / 100}' "$t/stat"; done \
            | sort -rn | head -3 | paste -sd/ -)
        kill -TERM "$pid"
        wait "$pid" || { echo "throughput: $label exited with $?; its log:" >&2; cat "$work/cepd-$n.log" >&2; exit 1; }
        pid=""
        [ -z "$keep" ] || cp "$work/cepd-$n.log" "$keep/$label-$n.log"
        awk -v l="$label" -v r="$rate" -v raw="$raw" -v p="$peak" -v c="$cpu" -v t="$threads" -v m="$total" \
            'BEGIN { printf "%-14s %9.0f events/s  (%.2f of the bare consumer'"'"'s %.0f)  peak %4.0f MB  CPU %6.2f s (%.2f s per 1M; busiest threads %s s)\n", l, r, r / raw, raw, p / 1024, c, c * 1e6 / m, t }'
        # Checkpoints, if any: how many, keys written, the longest write and, where the log says it, the longest
        # time one held up matching.
        { grep -o 'checkpoint [0-9]* (tasks [0-9,]*): [0-9]* keys written[^"]*' "$work/cepd-$n.log" || true; } | python3 -c '
import re, sys
rows = list(sys.stdin)
if rows:
    keys = sum(int(re.search(r"\): (\d+) keys written", r).group(1)) for r in rows)
    write = max(float(re.search(r"bytes in ([\d.]+) ms", r).group(1)) for r in rows)
    taken = [float(m.group(1)) for r in rows for m in [re.search(r"taken in ([\d.]+) ms", r)] if m]
    held = f", longest held up matching {max(taken):.0f} ms" if taken else " (each written on the engine thread)"
    print(f"               {len(rows)} checkpoints, {keys} keys written, longest write {write:.0f} ms{held}")
'
    done
done
