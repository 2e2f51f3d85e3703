#!/usr/bin/env bash
# Instructions per message through Kafka against the replay's, counted by callgrind (the figure that repeats on a
# shared, noisy machine; wall-clock rates are in run.sh). One command; prints both counts and their ratio.
#
#   Benchmarks/kafka/instructions.sh [--events N] [--cepd BINARY] [--keep DIR]
#
# Defaults: 200,000 events (examples/fraud/generate.py, 100 events per user, seed 5) of logins, geo and payments,
# produced first into 3-partition topics on a local Tansu broker; the pattern is Benchmarks/flink/fraud.cep. Then:
# 1. `cepd serve --state-dir none` under callgrind reads them all (done: its group committed every partition's
#    end), and is stopped with SIGTERM; every thread of the process counts, librdkafka's included.
# 2. `cepd run` under callgrind replays the same events from the topics' files.
# --keep DIR keeps the two callgrind outputs (live.out, replay.out) for callgrind_annotate.
# The live count includes what the process does while idle between its last commit and the stop (a few turns of
# 100 ms) and its group join: small next to the events at the default size, and the same in every run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
events=200000 cepd="" keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events="$2"; shift 2 ;;
        --cepd) cepd="$2"; shift 2 ;;
        --keep) keep="$2"; shift 2 ;;
        *) echo "usage: Benchmarks/kafka/instructions.sh [--events N] [--cepd BINARY] [--keep DIR]" >&2; exit 2 ;;
    esac
done
if [ -z "$cepd" ]; then
    [ -x .build/release/cepd ] || swift build -c release
    cepd="$root/.build/release/cepd"
fi
command -v valgrind >/dev/null || { echo "instructions: valgrind is not installed (apt-get install -y valgrind)" >&2; exit 2; }
. scripts/kafka-env.sh
kafka_setup
export LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work="$(mktemp -d)"
cepd_pid=""
cleanup() {
    [ -z "$cepd_pid" ] || kill -KILL "$cepd_pid" 2>/dev/null || true
    kafka_stop
    rm -rf "$work"
}
trap cleanup EXIT
pattern=Benchmarks/flink/fraud.cep
topics=logins,geo,payments
partitions=3

python3 examples/fraud/generate.py --events "$events" --users $((events / 100)) --seed 5 --out "$work/input" >/dev/null
total=$(cat "$work/input/logins.jsonl" "$work/input/geo.jsonl" "$work/input/payments.jsonl" | wc -l)
kafka_start
for t in ${topics//,/ }; do kafka_topic "$t" "$partitions"; done
for t in alerts cepd-late cepd-dead-letters; do kafka_topic "$t" 1; done
"$KAFKA_PY" Benchmarks/kafka/loadgen.py produce --brokers "$KAFKA_BROKERS" --input "$work/input" --topics "$topics" \
    --partitions "$partitions" --count "$total" --rate 0 --sent "$work/sent" >/dev/null

# The Ir total of a callgrind output file.
instructions() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# Valgrind 3.19 cannot read the DWARF 5 of Swift's debug info: it counts a stripped copy.
strip -o "$work/cepd" "$cepd"
cepd="$work/cepd"

# A session timeout that callgrind's slowdown cannot miss (its threads run one at a time).
valgrind --tool=callgrind --callgrind-out-file="$work/live.out" "$cepd" serve --pattern "$pattern" \
    --brokers "$KAFKA_BROKERS" --group instructions --from earliest --state-dir none --commit-interval 1s \
    -X session.timeout.ms=60000 -X heartbeat.interval.ms=3000 2>"$work/live.log" >/dev/null &
cepd_pid=$!
spec=""
for t in ${topics//,/ }; do spec="$spec${spec:+,}$t:$partitions"; done
"$KAFKA_PY" Benchmarks/kafka/loadgen.py lag --brokers "$KAFKA_BROKERS" --group instructions --topics "$spec" \
    --sent "$work/sent" --timeout 3600 >/dev/null &
lag_pid=$!
# Whichever ends first: the group at the end of every partition, or cepd (which must not end by itself).
wait -n "$lag_pid" "$cepd_pid" || true
if ! kill -0 "$cepd_pid" 2>/dev/null; then
    kill "$lag_pid" 2>/dev/null || true
    echo "instructions: cepd serve ended before it had read every message; its log:" >&2
    cat "$work/live.log" >&2
    exit 1
fi
wait "$lag_pid" || { echo "instructions: the group never reached the end of the topics" >&2; exit 1; }
kill -TERM "$cepd_pid"
wait "$cepd_pid" || { echo "instructions: cepd serve exited with $?; its log:" >&2; cat "$work/live.log" >&2; exit 1; }
cepd_pid=""

valgrind --tool=callgrind --callgrind-out-file="$work/replay.out" "$cepd" run --pattern "$pattern" \
    --input "logins=$work/input/logins.jsonl" --input "geo=$work/input/geo.jsonl" \
    --input "payments=$work/input/payments.jsonl" --output "$work/replay.jsonl" 2>"$work/replay.log"

if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work/live.out" "$work/replay.out" "$keep/"; fi
live=$(instructions "$work/live.out")
replay=$(instructions "$work/replay.out")
[ -n "$live" ] && [ -n "$replay" ] || { echo "instructions: a callgrind output has no total" >&2; exit 1; }
python3 - "$total" "$live" "$replay" "$work/live.log" "$work/replay.log" <<'PY'
import re, sys
total, live, replay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def counts(path):
    """(events, alerts) as the run's own summary says: serve's "stopped: N events, M alerts", run's report."""
    text = open(path).read()
    stopped = re.findall(r"stopped: (\d+) events, (\d+) alerts", text)
    if stopped:
        return tuple(map(int, stopped[-1]))
    events, alerts = re.search(r"cepd run: (\d+) events", text), re.search(r"alerts: (\d+)", text)
    return (int(events.group(1)), int(alerts.group(1))) if events and alerts else (None, None)
(le, la), (re_, ra) = counts(sys.argv[4]), counts(sys.argv[5])
print(f"{total:,} messages of the fraud stream, 3 topics x 3 partitions, fraud pattern (instructions, callgrind):")
print(f"  cepd serve (through Kafka) {live / total:10,.0f} per message   ({live:,} in all; {le} events, {la} alerts)")
print(f"  cepd run (replay)          {replay / total:10,.0f} per message   ({replay:,} in all; {re_} events, {ra} alerts)")
print(f"  through Kafka / replay     {live / replay:10.2f}")
print("  (alerts differ where matches are held for a window still open at the stop: the replay's end of input")
print("  closes every window, a stopped cepd serve leaves them to its restart)")
if le != re_:
    sys.exit("instructions: the two runs did not process the same events")
PY
