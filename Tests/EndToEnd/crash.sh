#!/usr/bin/env bash
# Crash recovery through a real Kafka-compatible broker (Tansu), with the cepd binary as a separate process:
# cepd is killed with SIGKILL seven times in the middle of a stream — at random moments (between checkpoints,
# after alerts were produced), right after a checkpoint was written, and inside a checkpoint (between the producer
# flush and the state write, where a failpoint holds it) — and restarted with
# the same group and state directory. At the end the alert topics must hold exactly the match ids `cepd run`
# finds in the same per-partition sequences (none missing, none twice), and the dead-letter and late topics
# exactly the replay's, once each.
#
#   Tests/EndToEnd/crash.sh [CEPD_BINARY]     (default .build/debug/cepd; needs scripts/kafka-env.sh's setup)
e2e_name="crash e2e"
. "$(dirname "$0")/broker-test.sh"
seed=${CRASH_SEED:-$RANDOM}
echo "crash e2e: broker $KAFKA_BROKERS, seed $seed (CRASH_SEED=$seed reruns these kill times)"
RANDOM=$seed

fraud_stream 100000 1000 0.001 21 2

start_cepd() {
    # Round 7 pauses inside each checkpoint (CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS), to be killed there.
    local pause=""
    [ "${round:-0}" != 7 ] || pause=1000
    CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS=$pause "$cepd" --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" --group crash --from earliest --idle-timeout 0s \
        --idle-wall-clock --state-dir "$work/state" --checkpoint-interval 300ms \
        -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 >/dev/null 2>>"$work/serve.log" &
    serve_pid=$!
}
# Waits until cepd's log (from line $1 on) has a line matching $2; fails after 60 s.
wait_for_log() {
    for _ in $(seq 1 600); do
        tail -n +"$1" "$work/serve.log" | grep -q -- "$2" && return 0
        kill -0 "$serve_pid" 2>/dev/null || fail "cepd exited: $(tail -n 5 "$work/serve.log")"
        sleep 0.1
    done
    fail "no '$2' in cepd's log after 60 s"
}
kill_cepd() {
    kill -KILL "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=""
    echo "crash e2e: killed cepd ($1)"
}

# Checkpoints of this run (from log line $1 on) that wrote keys: the run is in the middle of the stream.
busy_checkpoints() { tail -n +"$1" "$work/serve.log" | grep "cepd: checkpoint " | grep -vc ": 0 keys written, 0 deleted" || true; }
: > "$work/serve.log"
kills=0
for round in 1 2 3 4 5 6 7; do
    from=$(( $(wc -l < "$work/serve.log") + 1 ))
    start_cepd
    wait_for_log "$from" "cepd: assigned"
    # Mid-stream: after 1 to 3 checkpoints that wrote keys (alerts produced since the last one are then likely).
    want=$(( RANDOM % 3 + 1 ))
    for _ in $(seq 1 600); do
        [ "$(busy_checkpoints "$from")" -ge "$want" ] && break
        kill -0 "$serve_pid" 2>/dev/null || fail "cepd exited: $(tail -n 5 "$work/serve.log")"
        sleep 0.05
    done
    if [ "$round" = 7 ]; then
        # Inside a checkpoint: outputs delivered, state not yet written (a failpoint pauses cepd there).
        n=$(grep -c "failpoint: pausing" "$work/serve.log" || true)
        for _ in $(seq 1 600); do [ "$(grep -c "failpoint: pausing" "$work/serve.log" || true)" -gt "$n" ] && break; sleep 0.01; done
        sleep 0.2
        kill_cepd "inside a checkpoint, after the flush and before the write"
        paused=$(grep "failpoint: pausing" "$work/serve.log" | tail -n 1 | sed 's/.*checkpoint \([0-9]*\): failpoint.*/\1/')
    elif [ $((round % 3)) = 0 ]; then
        # Right after a checkpoint was written (before its offsets are committed).
        n=$(grep -c "cepd: checkpoint " "$work/serve.log" || true)
        for _ in $(seq 1 300); do [ "$(grep -c "cepd: checkpoint " "$work/serve.log" || true)" -gt "$n" ] && break; sleep 0.005; done
        kill_cepd "right after a checkpoint"
    else
        # At a random moment between checkpoints (or in one: a checkpoint waits for the broker's acks).
        sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
        kill_cepd "at a random moment, after $want busy checkpoints"
    fi
    kills=$((kills + 1))
done
[ "$kills" -ge 5 ] || fail "only $kills kills"

# The last run goes to the end (no failpoint).
round=0
from=$(( $(wc -l < "$work/serve.log") + 1 ))
start_cepd
wait_for_log "$from" "cepd: assigned"
expected=$(wc -l < "$work/run-alerts.jsonl")
fraud=$(grep -c '"topic":"fraud-alerts"' "$work/run-alerts.jsonl" || true)
payment=$(grep -c '"topic":"payment-alerts"' "$work/run-alerts.jsonl" || true)
tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --expect "$fraud" --idle 60 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --expect "$payment" --idle 30 2>/dev/null
sleep 3  # anything beyond the expected alerts would be a duplicate: give it time to show
tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --idle 5 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --idle 5 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-dead-letters --out "$work/dead.jsonl" --idle 5 --headers 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-late --out "$work/late.jsonl" --idle 5 --headers 2>/dev/null
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "the last cepd exited with $?"
serve_pid=""

"$KAFKA_PY" - "$work" <<'PY' || { tail -n 40 "$work/serve.log" >&2; fail "the topics do not hold exactly the replay's outputs"; }
import collections, json, sys
work = sys.argv[1]
def ids(path):
    return [json.loads(l)["_match"]["id"] for l in open(path) if l.strip()]
expected = collections.Counter(ids(f"{work}/run-alerts.jsonl"))
got = collections.Counter(ids(f"{work}/fraud.jsonl") + ids(f"{work}/payment.jsonl"))
missing = expected - got
twice = {i: n for i, n in got.items() if n > 1}
unexpected = set(got) - set(expected)
print(f"crash e2e: {sum(got.values())} alerts in the topics, {sum(expected.values())} from cepd run: "
      f"{sum(missing.values())} missing, {len(twice)} twice, {len(unexpected)} unexpected", file=sys.stderr)
ok = not missing and not twice and not unexpected
def side(path, replay):
    got = collections.Counter((m["headers"]["cepd-source-topic"], int(m["headers"]["cepd-source-partition"]),
                               int(m["headers"]["cepd-source-offset"])) for m in map(json.loads, open(path)))
    want = collections.Counter((r["topic"], r["partition"], r["offset"]) for r in map(json.loads, open(replay)))
    return got, want
for name, path, replay in (("dead letters", "dead.jsonl", "run-dead.jsonl"), ("late events", "late.jsonl", "run-late.jsonl")):
    got, want = side(f"{work}/{path}", f"{work}/{replay}")
    twice = sum(1 for n in got.values() if n > 1)
    print(f"crash e2e: {sum(got.values())} {name} in the topic, {sum(want.values())} from cepd run, {twice} twice",
          file=sys.stderr)
    ok = ok and got == want
sys.exit(0 if ok else 1)
PY
# The checkpoint that was killed inside never happened: the next start restored the one before it.
grep -q "cepd: restored checkpoint $((paused - 1)) " "$work/serve.log" ||
    fail "after the kill inside checkpoint $paused, cepd did not restore checkpoint $((paused - 1))"
restores=$(grep -c "cepd: restored checkpoint" "$work/serve.log" || true)
skipped=$(grep -o "[0-9]* outputs written after it" "$work/serve.log" | awk '{s += $1} END {print s + 0}')
[ "$restores" -ge "$kills" ] || fail "only $restores restores for $kills kills"
# The kills must have hit between alerts and their checkpoint, or the duplicate check tested nothing.
[ "$skipped" -gt 0 ] || fail "no restart found outputs already written: the kills never tested duplicates"
echo "crash e2e: $kills kills, $restores restores from checkpoints, $skipped outputs found already written at restarts"
echo "crash e2e: passed"
