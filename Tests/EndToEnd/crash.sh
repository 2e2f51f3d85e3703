#!/usr/bin/env bash
# Crash recovery through a real Kafka-compatible broker (Tansu), with the cepd binary as a separate process:
# cepd is killed with SIGKILL nine times in the middle of a stream — at random moments (between checkpoints,
# after alerts were produced), right after a checkpoint was written, inside a checkpoint (between the producer
# flush and the state write, where a failpoint holds it), and in the middle of a checkpoint's changelog records
# (then, twice, with the state directory deleted: restored from the changelog alone) — and restarted with
# the same group. At the end the alert topics must hold exactly the match ids `cepd run`
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
    # Round 7 hangs inside its checkpoint number $hang_at that records tasks (CEPD_FAILPOINT_CHECKPOINT_HANG), round
    # 8 in the middle of the changelog records of its checkpoint number $hang_at whose first task wrote changes
    # (CEPD_FAILPOINT_CHANGELOG_HANG): each is killed there when it logs so, whatever the machine's load.
    local hang="" changelog_hang=""
    [ "${round:-0}" != 7 ] || hang=$hang_at
    [ "${round:-0}" != 8 ] || changelog_hang=$hang_at
    CEPD_FAILPOINT_CHECKPOINT_HANG=$hang CEPD_FAILPOINT_CHANGELOG_HANG=$changelog_hang "$cepd" --pattern patterns/fraud.cep \
        --brokers "$KAFKA_BROKERS" --group crash --from earliest --idle-timeout 0s --log-format json \
        --idle-wall-clock --state-dir "$work/state" --checkpoint-interval 300ms \
        -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 >/dev/null 2>>"$work/serve.log" &
    serve_pid=$!
}
# Waits until cepd's log (from line $1 on) has a line matching $2; fails after $3 s (default 120) saying what it
# waited for, or as soon as cepd exits.
wait_for_log() {
    local deadline=$((SECONDS + ${3:-120}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        # (grep -q would stop reading at the first match: tail then dies of SIGPIPE, and under pipefail the
        # pipeline fails although the line is there — this check failed in CI that way, with the line in its output.)
        tail -n +"$1" "$work/serve.log" | grep -- "$2" >/dev/null && return 0
        kill -0 "$serve_pid" 2>/dev/null || fail "cepd exited while waiting for '$2' in its log: $(tail -n 5 "$work/serve.log")"
        sleep 0.05
    done
    fail "no '$2' in cepd's log after ${3:-120} s (round $round)"
}
# Waits until the count of log lines (from line $1 on) matching $2 exceeds $3; fails after 120 s saying so.
wait_for_count() {
    local deadline=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$deadline" ]; do
        [ "$(tail -n +"$1" "$work/serve.log" | grep -c -- "$2" || true)" -gt "$3" ] && return 0
        kill -0 "$serve_pid" 2>/dev/null || fail "cepd exited while waiting for more than $3 '$2' lines: $(tail -n 5 "$work/serve.log")"
        sleep 0.02
    done
    fail "not more than $3 '$2' lines in cepd's log after 120 s (round $round)"
}
kill_cepd() {
    kill -KILL "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=""
    echo "crash e2e: killed cepd ($1)"
}

: > "$work/serve.log"
kills=0
for round in 1 2 3 4 5 6 7 8 9; do
    from=$(( $(wc -l < "$work/serve.log") + 1 ))
    # Mid-stream: after 1 to 3 checkpoints that wrote keys (alerts produced since the last one are then likely);
    # round 7 hangs in its checkpoint number 2 to 4 instead, round 8 in its first checkpoint that writes changes
    # (by round 8 the rest of the stream may fit in one or two: with seed 1250 it did, and round 8 waited for a
    # fourth that never came).
    want=$(( RANDOM % 3 + 1 ))
    hang_at=$((want + 1))
    [ "$round" != 8 ] || hang_at=1
    start_cepd
    wait_for_log "$from" '"message":"assigned'
    if [ "$round" != 7 ] && [ "$round" != 8 ]; then
        # Checkpoints of the tasks, whether they wrote keys or not: late in the stream none may write any more.
        wait_for_count "$from" '"message":"checkpoint [0-9]* (tasks [0-9,]*): ' $((want - 1))
    fi
    if [ "$round" = 8 ]; then
        # In the middle of a checkpoint's changelog records (task 0's changes written, its record not), and the
        # state directory lost with the process: the restart restores from the changelog alone, must not apply
        # the unfinished checkpoint, and must write its keys again (round 9 restores from the changelog again,
        # past that point, and would apply them otherwise).
        wait_for_log "$from" '"failpoint":"changelog"'
        kill_cepd "inside a checkpoint's changelog records, state directory deleted"
        rm -rf "$work/state"
        repaired_from=$(( $(wc -l < "$work/serve.log") + 1 ))
    elif [ "$round" = 9 ]; then
        sleep "0.$(( RANDOM % 10 ))"
        kill_cepd "at a random moment, after $want busy checkpoints, state directory deleted"
        rm -rf "$work/state"
    elif [ "$round" = 7 ]; then
        # Inside a checkpoint of the tasks: outputs delivered, state not yet written (a failpoint holds cepd there
        # until it is killed).
        wait_for_log "$from" '"failpoint":"checkpoint"'
        kill_cepd "inside a checkpoint, after the flush and before the write"
        # The checkpoint it was in, and the tasks and numbers it was writing: "0@12,1@12,2@11".
        line=$(grep -n '"failpoint":"checkpoint"' "$work/serve.log" | tail -n 1)
        number=$(sed 's/.*"message":"checkpoint \([0-9]*\) (tasks.*/\1/' <<<"$line")
        written=$(tail -n +"${line%%:*}" "$work/serve.log" | grep -c "\"message\":\"checkpoint $number (tasks [0-9,]*): [0-9]* keys written" || true)
        [ "$written" = 0 ] || fail "the failpoint did not hold cepd: checkpoint $number was written"
        paused=$(sed 's/.*"tasks":"\([0-9@,]*\)".*/\1/' <<<"$line")
        paused_from=$(( $(wc -l < "$work/serve.log") + 1 ))
    elif [ $((round % 3)) = 0 ]; then
        # Right after a checkpoint was written (before its offsets are committed).
        n=$(tail -n +"$from" "$work/serve.log" | grep -c '"message":"checkpoint ' || true)
        wait_for_count "$from" '"message":"checkpoint ' "$n"
        kill_cepd "right after a checkpoint"
    else
        # At a random moment between checkpoints (or in one: a checkpoint waits for the broker's acks).
        sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
        kill_cepd "at a random moment, after $want busy checkpoints"
    fi
    kills=$((kills + 1))
done
[ "$kills" -ge 5 ] || fail "only $kills kills"
# After round 8 the unfinished checkpoint was found and its keys written again.
tail -n +"$repaired_from" "$work/serve.log" | grep '"message":"task 0: [1-9][0-9]* changelog records of an unfinished checkpoint are written again' >/dev/null ||
    fail "the restart after the kill inside the changelog records did not repair the unfinished checkpoint"

# The last run goes to the end (no failpoint).
round=0
from=$(( $(wc -l < "$work/serve.log") + 1 ))
start_cepd
wait_for_log "$from" '"message":"assigned'
read_outputs
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "the last cepd exited with $?"
serve_pid=""
outputs_match_replay || { tail -n 40 "$work/serve.log" >&2; fail "the topics do not hold exactly the replay's outputs"; }
# The checkpoint that was killed inside never happened: the next start restored, for each task, the one before.
for entry in ${paused//,/ }; do
    task=${entry%@*} number=${entry#*@}
    tail -n +"$paused_from" "$work/serve.log" | grep "\"message\":\"task $task restored from checkpoint $((number - 1)) " >/dev/null ||
        fail "after the kill inside task $task's checkpoint $number, cepd did not restore its checkpoint $((number - 1)); \
the paused checkpoint: $(grep '"failpoint":"checkpoint"' "$work/serve.log" | tail -n 1); what task $task did after it: \
$(tail -n +"$paused_from" "$work/serve.log" | grep -E "task $task (restored|resumed|has|started)|assigned|revoked" | head -n 12)"
done
restores=$(grep -c '"message":"task [0-9]* restored from checkpoint' "$work/serve.log" || true)
skipped=$({ grep -o "[0-9]* outputs written after them" "$work/serve.log" || true; } | awk '{s += $1} END {print s + 0}')
[ "$restores" -ge "$kills" ] || fail "only $restores task restores for $kills kills"
# The kills must have hit between alerts and their checkpoint, or the duplicate check tested nothing.
[ "$skipped" -gt 0 ] || fail "no restart found outputs already written: the kills never tested duplicates"
echo "crash e2e: $kills kills, $restores task restores from checkpoints, $skipped outputs found already written at restarts"
echo "crash e2e: passed"
