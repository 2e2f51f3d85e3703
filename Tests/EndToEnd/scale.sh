#!/usr/bin/env bash
# Scale-out through a real Kafka-compatible broker (Tansu): three cepd processes in one group share the example
# stream's four input topics of six partitions (six tasks); one is killed with SIGKILL mid-stream (its tasks move
# to the others, restored from the changelog: its state directory is gone with it), and a fourth starts later
# with an empty state directory (tasks move to it, restored from the changelog). At the end the alert topics must
# hold exactly the match ids `cepd run` finds in the same per-partition sequences — none missing, none twice —
# and the dead-letter and late topics exactly the replay's, once each.
#
#   Tests/EndToEnd/scale.sh [CEPD_BINARY]     (default .build/debug/cepd; needs scripts/kafka-env.sh's setup)
e2e_name="scale e2e"
. "$(dirname "$0")/broker-test.sh"
echo "scale e2e: broker $KAFKA_BROKERS"

fraud_stream 150000 1500 0.001 33 2 6

# start_member NAME: a cepd in group "scale" with its own state directory and log ($work/NAME.log).
start_member() {
    "$cepd" --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" --group scale --from earliest --idle-timeout 0s \
        --idle-wall-clock --state-dir "$work/state-$1" --checkpoint-interval 300ms "${fast[@]}" \
        >/dev/null 2>>"$work/$1.log" &
    pids[$1]=$!
    cepd_pids+=($!)
}
# wait_for NAME PATTERN [COUNT]: waits until NAME's log has COUNT (default 1) lines matching PATTERN; fails after
# 120 s, or as soon as NAME exits.
wait_for() {
    local deadline=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$deadline" ]; do
        [ "$(grep -c -- "$2" "$work/$1.log" 2>/dev/null || true)" -ge "${3:-1}" ] && return 0
        kill -0 "${pids[$1]}" 2>/dev/null || fail "cepd $1 exited: $(tail -n 5 "$work/$1.log")"
        sleep 0.1
    done
    fail "no '$2' in $1's log after 120 s: $(tail -n 5 "$work/$1.log")"
}
busy() { grep "cepd: checkpoint " "$work/$1.log" 2>/dev/null | grep -vc ": 0 keys written, 0 deleted" || true; }

declare -A pids
for m in a b c; do start_member "$m"; done
for m in a b c; do wait_for "$m" "cepd: assigned"; done
# Mid-stream with all three at work: b has written checkpoints that changed state since its last assignment.
wait_until "b to write 2 checkpoints that changed state after catching up" 120 \
    'grep -q "tasks .* caught up" "$work/b.log" && [ "$(busy b)" -ge 2 ]'
# b's tasks: those it started since its last assignment.
last=$(grep -n "cepd: assigned" "$work/b.log" | tail -n 1 | cut -d: -f1)
b_tasks=$(tail -n +"$last" "$work/b.log" | grep "cepd: task .* \(restored\|starts empty\|resumed\)" |
    sed 's/.*cepd: task \([0-9]*\).*/\1/' | sort -u | tr '\n' ' ')
[ -n "$b_tasks" ] || fail "b runs no task: $(tail -n 5 "$work/b.log")"
kill -KILL "${pids[b]}"
wait "${pids[b]}" 2>/dev/null || true
echo "scale e2e: killed b (SIGKILL) after $(busy b) checkpoints that changed state; it had run tasks $b_tasks"
rm -rf "$work/state-b"
# The survivors take b's tasks once its session expires, restored from the changelog (b's state directory is gone).
from_a=$(wc -l < "$work/a.log") from_c=$(wc -l < "$work/c.log")
survivors_restored() {
    local t
    for t in $b_tasks; do
        # (grep -c, not -q: -q would close the pipe early, and pipefail would report that as a failure)
        [ "$( (tail -n +"$from_a" "$work/a.log"; tail -n +"$from_c" "$work/c.log") | grep -c "cepd: task $t restored from checkpoint")" -gt 0 ] ||
            return 1
    done
}
wait_until "a and c to restore b's tasks ($b_tasks) from checkpoints" 120 survivors_restored
echo "scale e2e: a and c restored b's tasks $b_tasks from its checkpoints in the changelog"
start_member d
wait_for d "cepd: assigned"

read_outputs
for m in a c d; do kill -TERM "${pids[$m]}"; done
for m in a c d; do wait "${pids[$m]}" || fail "cepd $m exited with $? after SIGTERM: $(tail -n 5 "$work/$m.log")"; done
cepd_pids=()
outputs_match_replay || {
    for m in a b c d; do echo "== $m"; grep -v "checkpoint [0-9]* (tasks" "$work/$m.log" | tail -n 15; done >&2
    fail "the topics do not hold exactly the replay's outputs"
}

# d (empty state directory) took tasks over, restored from the changelog.
applied() { { grep -o "[0-9]* checkpoints of other processes applied" "$work/$1.log" || true; } | awk '{s += $1} END {print s + 0}'; }
grep -q "cepd: task [0-9]* restored from checkpoint" "$work/d.log" || fail "d restored no task from a checkpoint: $(grep "cepd: task" "$work/d.log" | head)"
[ "$(applied d)" -gt 0 ] || fail "d applied no checkpoint from the changelog"
for m in a c d; do
    echo "scale e2e: $m: $(grep -c "cepd: task [0-9]* restored from checkpoint" "$work/$m.log" || true) task restores, " \
        "$(grep -c "cepd: task [0-9]* resumed" "$work/$m.log" || true) resumed in place, $(applied "$m") changelog checkpoints applied;" \
        "$(grep "cepd: task [0-9]* restored" "$work/$m.log" | sed -n 's/.* in \([0-9]*\) ms:.*/\1/p' | sort -n | tail -n 1 || true) ms the longest restore"
done
# (None is possible: b may die before it writes anything after its last checkpoint. Under pipefail a grep that
# finds nothing ended the test silently with status 1.)
skipped=$(cat "$work"/{a,c,d}.log | { grep -o "[0-9]* outputs already written before the restart not written again" || true; } | awk '{s += $1} END {print s + 0}')
echo "scale e2e: $skipped outputs written after a moved task's last checkpoint were not written again"
echo "scale e2e: passed"
