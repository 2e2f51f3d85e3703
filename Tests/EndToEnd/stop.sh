#!/usr/bin/env bash
# End to end, stopping and bounded memory (issue 7), through a real Kafka-compatible broker (Tansu):
#  1. SIGTERM mid-stream: cepd stops fetching, delivers, checkpoints, commits and exits 0; restarted, it goes on,
#     and the alert topics end up holding exactly the alerts of `cepd run` on the same events, once each;
#  2. a stop that takes longer than --shutdown-timeout exits 1 in time; a second signal exits 130 at once;
#  3. --max-partial-matches under a burst of partial matches that never complete: the daemon drops the oldest,
#     counts them (metrics), warns with the key, loses no event; `cepd run` on a bigger burst stays under a memory
#     bound that the uncapped run exceeds several times over;
#  4. --log-format json writes one JSON object per line.
#
#   Tests/EndToEnd/stop.sh [CEPD_BINARY]     (default .build/debug/cepd; needs scripts/kafka-env.sh's setup)
e2e_name="stop e2e"
. "$(dirname "$0")/broker-test.sh"
serve() {  # serve LOG ARGS...: starts cepd serve on the example patterns in the background (serve_pid)
    local log=$1; shift
    "$cepd" --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" --group stop --state-dir "$work/state" --from earliest \
        --idle-timeout 0s --idle-wall-clock --checkpoint-interval 1s --metrics-port 0 "${fast[@]}" "$@" >/dev/null 2>"$log" &
    serve_pid=$!
}

# 1. SIGTERM mid-stream, then a restart: nothing lost, nothing twice.
fraud_stream 200000 2000 0.002 11 1
alerts=$(wc -l < "$work/run-alerts.jsonl")
total=$(($(cat "$work"/input/*.jsonl | wc -l) - $(wc -l < "$work/run-dead.jsonl")))
serve "$work/first.log"
admin_port=$(admin_port_of "$work/first.log")
[ -n "$admin_port" ] || { cat "$work/first.log" >&2; fail "no admin port"; }
wait_until "cepd_events_total above 0 on the admin port (mid-stream)" 120 \
    'seen=$(metric cepd_events_total 2>/dev/null || true); [ -n "$seen" ] && [ "$seen" -gt 0 ]'
started=$(date +%s%N)
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd exited with $? after SIGTERM"
serve_pid=""
stop_ms=$((($(date +%s%N) - started) / 1000000))
stopped=$(sed -n 's/.*stopped: \([0-9]*\) events.*/\1/p' "$work/first.log")
[ -n "$stopped" ] && [ "$stopped" -gt 0 ] && [ "$stopped" -lt "$total" ] ||
    { cat "$work/first.log" >&2; fail "the stop was not mid-stream: $stopped of $total events"; }
grep -q "checkpoint [0-9]* (tasks [0-9,]*): " "$work/first.log" || fail "no final checkpoint"
echo "stop e2e: SIGTERM after $stopped of $total events: exit 0 in $stop_ms ms (delivered, checkpointed, committed)"
serve "$work/second.log"
fraud=$(grep -c '"topic":"fraud-alerts"' "$work/run-alerts.jsonl" || true)
payment=$(grep -c '"topic":"payment-alerts"' "$work/run-alerts.jsonl" || true)
tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --expect "$fraud" --idle 90 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --expect "$payment" --idle 30 2>/dev/null
sleep 2  # anything written twice would come now
tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --idle 3 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --idle 3 2>/dev/null
sort "$work/run-alerts.jsonl" > "$work/expected"
sort "$work/fraud.jsonl" "$work/payment.jsonl" > "$work/actual"
cmp -s "$work/expected" "$work/actual" ||
    { diff "$work/expected" "$work/actual" | head -n 6 >&2; fail "alerts after a SIGTERM and a restart differ from cepd run ($(wc -l < "$work/actual") against $alerts)"; }
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "the restarted cepd exited with $?"
serve_pid=""
echo "stop e2e: restarted, it went on: the alert topics hold exactly cepd run's $alerts alerts, once each"

# 2. A stop slower than --shutdown-timeout (the failpoint pauses 5 s inside the final checkpoint) exits 1 in time.
CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS=5000 serve "$work/slow.log" --shutdown-timeout 1s --checkpoint-interval 1h
wait_until "cepd to consume (state=consuming in its log)" 120 'logged state=consuming "$work/slow.log"'
started=$(date +%s%N)
kill -TERM "$serve_pid"
status=0
wait "$serve_pid" || status=$?
serve_pid=""
slow_ms=$((($(date +%s%N) - started) / 1000000))
[ "$status" = 1 ] || { cat "$work/slow.log" >&2; fail "a stop over --shutdown-timeout exited $status, not 1"; }
[ "$slow_ms" -lt 4000 ] || fail "a stop over --shutdown-timeout 1s took $slow_ms ms"
grep -q "the stop took longer than --shutdown-timeout" "$work/slow.log" || { cat "$work/slow.log" >&2; fail "no shutdown-timeout message"; }
CEPD_FAILPOINT_CHECKPOINT_PAUSE_MS=5000 serve "$work/twice.log" --checkpoint-interval 1h
wait_until "cepd to consume (state=consuming in its log)" 120 'logged state=consuming "$work/twice.log"'
started=$(date +%s%N)
kill -TERM "$serve_pid"
wait_until "cepd to take the first SIGTERM (stop=signal in its log)" 60 'logged stop=signal "$work/twice.log"'
kill -TERM "$serve_pid"
status=0
wait "$serve_pid" || status=$?
serve_pid=""
stop_ms=$((($(date +%s%N) - started) / 1000000))
[ "$status" = 130 ] && [ "$stop_ms" -lt 3000 ] || { cat "$work/twice.log" >&2; fail "a second SIGTERM: exit $status after $stop_ms ms"; }
echo "stop e2e: a stop over --shutdown-timeout 1s exits 1 after $slow_ms ms; a second signal exits 130 after $stop_ms ms"

# 3. A burst of partial matches that never complete (a key per event, no window), under --max-partial-matches.
printf '%s\n' 'stream clicks from "burst" {' '  key user' '  time ts' '  lateness 1s' '  fields { user: string, n: int, ts: time }' \
    '}' 'pattern pair {' '  match a: clicks where a.n == 1 -> b: clicks where b.n == 2' '  emit to "pairs" { user: a.user }' \
    '}' > "$work/burst.cep"
burst() { python3 -c "
for i in range($1): print('{\"user\":\"u%07d\",\"n\":1,\"ts\":%d}' % (i, 1767225600000 + i))"; }
burst 50000 > "$work/burst.jsonl"
kafka_topic burst 1
kafka_topic pairs 1
tool produce --brokers "$KAFKA_BROKERS" --topic burst --partitions 1 --file "$work/burst.jsonl" 2>/dev/null
"$cepd" --pattern "$work/burst.cep" --brokers "$KAFKA_BROKERS" --group burst --state-dir "$work/state-burst" --from earliest \
    --idle-timeout 0s --idle-wall-clock --max-partial-matches 2000 --metrics-port 0 --log-format json "${fast[@]}" >/dev/null 2>"$work/burst.log" &
serve_pid=$!
admin_port=$(admin_port_of "$work/burst.log")
[ -n "$admin_port" ] || { cat "$work/burst.log" >&2; fail "no admin port (json log)"; }
wait_until "cepd_events_total to reach 50000 on the admin port" 120 '[ "$(metric cepd_events_total)" = 50000 ]'
sleep 1.2  # the next publish
[ "$(metric cepd_events_total)" = 50000 ] || { cat "$work/burst.log" >&2; fail "events lost under the cap: $(metric cepd_events_total)"; }
open=$(metric cepd_partial_matches)
dropped=$(metric cepd_partial_matches_dropped_total)
[ "$open" = 2000 ] && [ "$dropped" = 48000 ] || fail "under --max-partial-matches 2000: $open open, $dropped dropped (want 2000, 48000)"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd on the burst exited with $?"
serve_pid=""
python3 - "$work/burst.log" <<'PY' || fail "--log-format json"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]  # every line is one JSON object
assert all({"time", "level", "message"} <= r.keys() for r in records), records[0]
start = next(r for r in records if r["message"] == "starting")
assert start["group"] == "burst" and "session.timeout.ms=6000" in start["settings"], start
drops = [r for r in records if r["level"] == "warning" and "dropped over the cap" in r["message"]]
assert drops and drops[-1]["dropped_total"] == "48000" and drops[-1]["last_key"] == '"u0047999"', drops[-1:]
PY
echo "stop e2e: under --max-partial-matches 2000, a burst of 50,000: 2,000 open, 48,000 dropped and counted, no event lost; JSON logs"
# Memory: `cepd run` on a bigger burst, with and without the cap (peak RSS of the child, from getrusage).
burst 400000 > "$work/burst-big.jsonl"
python3 - "$cepd" "$work" <<'PY' || fail "memory under --max-partial-matches"
import resource, subprocess, sys
cepd, work = sys.argv[1], sys.argv[2]
def peak(*extra):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([cepd, "run", "--pattern", f"{work}/burst.cep", "--input", f"burst={work}/burst-big.jsonl",
                    "--output", f"{work}/burst-out.jsonl", "--quiet", *extra], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert after > before, "the uncapped run must come second to be measured"
    return after / 1024
capped = peak("--max-partial-matches", "5000")
uncapped = peak()
print(f"stop e2e: 400,000 partial matches: peak RSS {capped:.0f} MB with --max-partial-matches 5000, {uncapped:.0f} MB without")
assert capped < 80, f"capped run used {capped:.0f} MB"
assert uncapped > 3 * capped, f"the burst is too small to show the bound ({uncapped:.0f} MB uncapped)"
PY
echo "stop e2e: passed"
