#!/usr/bin/env bash
# Scale-out on this machine: events/s of one cepd process and of several in one group, over the same preloaded
# topics, with the CPU each side used — the broker's (Tansu) and cepd's — so that the limit is visible.
#
#   Benchmarks/kafka/scale.sh [--events N] [--partitions P] [--rounds R] [--processes N,N,...] [--cepd BINARY]
#
# Defaults: 1,000,000 events of the fraud stream (Benchmarks/flink/fraud.cep: logins, geo, payments keyed by
# user), 6 partitions per topic, 2 rounds of (1 process, 2 processes) interleaved. Each run is a fresh group with
# fresh state directories (checkpoints every second and the changelog on, as in production), reading from the
# earliest offset; its rate is the group's committed offsets over time after the first commit (joining the group
# does not count; `loadgen.py lag`), and CPU is the processes' utime+stime over the same run (/proc). The release
# binary is built if missing. Prints one line per run and a summary.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
events=1000000 partitions=6 rounds=2 processes=1,2 cepd=""
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events="$2"; shift 2 ;;
        --partitions) partitions="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --processes) processes="$2"; shift 2 ;;
        --cepd) cepd="$2"; shift 2 ;;
        *) echo "usage: Benchmarks/kafka/scale.sh [--events N] [--partitions P] [--rounds R] [--processes N,...] [--cepd BINARY]" >&2; exit 2 ;;
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
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    kafka_stop
    rm -rf "$work"
}
trap cleanup EXIT
loadgen() { "$KAFKA_PY" Benchmarks/kafka/loadgen.py "$@"; }
topics=logins,geo,payments
pattern=Benchmarks/flink/fraud.cep
ticks=$(getconf CLK_TCK)
# cpu PID...: their utime+stime so far, in clock ticks.
cpu() { local pid total=0; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }

python3 examples/fraud/generate.py --events "$((events * 105 / 100))" --users "$((events / 100))" --seed 5 \
    --out "$work/input" >/dev/null
kafka_start
for t in ${topics//,/ }; do kafka_topic "$t" "$partitions"; done
for t in alerts cepd-late cepd-dead-letters; do kafka_topic "$t" 1; done
loadgen produce --brokers "$KAFKA_BROKERS" --input "$work/input" --topics "$topics" --partitions "$partitions" \
    --count "$events" --rate 0 --sent "$work/sent" >/dev/null
spec=""
for t in ${topics//,/ }; do spec="$spec${spec:+,}$t:$partitions"; done
echo "kafka scale: broker $KAFKA_BROKERS (pid $TANSU_PID), $events events in 3 topics of $partitions partitions, $(nproc) cores"

run() {  # PROCESSES NAME
    local n=$1 group=$2 i
    pids=()
    local broker_before
    broker_before=$(cpu "$TANSU_PID")
    for i in $(seq 1 "$n"); do
        "$cepd" serve --pattern "$pattern" --brokers "$KAFKA_BROKERS" --group "$group" --from earliest \
            --state-dir "$work/state-$group-$i" --checkpoint-interval 1s \
            -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 2>"$work/$group-$i.log" >/dev/null &
        pids+=($!)
    done
    local result
    result=$(loadgen lag --brokers "$KAFKA_BROKERS" --group "$group" --topics "$spec" --sent "$work/sent" --timeout 600)
    local cepd_cpu broker_cpu
    cepd_cpu=$(cpu "${pids[@]}")
    broker_cpu=$(( $(cpu "$TANSU_PID") - broker_before ))
    for i in "${pids[@]}"; do kill -TERM "$i"; done
    for i in "${pids[@]}"; do wait "$i" || { echo "kafka scale: a cepd exited with $?" >&2; tail -n 5 "$work/$group"-*.log >&2; exit 1; }; done
    pids=()
    local seconds rate
    seconds=$(awk '{print $1}' <<<"$result")
    rate=$(awk '{print $2}' <<<"$result")
    echo "$n $rate $seconds $cepd_cpu $broker_cpu" >> "$work/results"
    awk -v n="$n" -v rate="$rate" -v s="$seconds" -v c="$cepd_cpu" -v b="$broker_cpu" -v t="$ticks" 'BEGIN {
        printf "kafka scale: %d process(es): %8d events/s (%.1f s to the end); CPU: cepd %.1f s, broker %.1f s\n", n, rate, s, c / t, b / t }'
}

for r in $(seq 1 "$rounds"); do
    for n in ${processes//,/ }; do run "$n" "p$n-$r"; done
done
python3 - "$work/results" "$ticks" "$events" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
ticks, events = int(sys.argv[2]), int(sys.argv[3])
by = {}
for n, rate, seconds, cepd, broker in rows:
    by.setdefault(int(n), []).append((float(rate), float(cepd) / ticks, float(broker) / ticks))
first = min(by)
base = statistics.median(r for r, _, _ in by[first])
for n in sorted(by):
    rate = statistics.median(r for r, _, _ in by[n])
    cepd = statistics.median(c for _, c, _ in by[n]) / events * 1e6
    broker = statistics.median(b for _, _, b in by[n]) / events * 1e6
    print(f"kafka scale: {n} process(es): median {rate:.0f} events/s ({rate / base:.2f}x {first}); "
          f"CPU per million events: cepd {cepd:.2f} s, broker {broker:.2f} s")
PY
