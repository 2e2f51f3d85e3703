#!/usr/bin/env bash
# End to end through a real Kafka-compatible broker (Tansu), with the cepd binary as a separate process:
#  1. the example events (out of order, with malformed lines) go into four topics of three partitions;
#  2. `cepd serve` consumes them and produces alerts, dead letters and late events;
#  3. the alerts (every id and field) and dead letters must equal `cepd run` over files holding the same
#     per-partition sequences;
#  4. events an hour behind the watermark arrive in the late topic with their headers and original bytes; a 3 MB
#     poison pill is dead-lettered truncated, and cepd goes on; a tombstone is dead-lettered as one;
#  5. bad configuration gives one clear line and the documented exit status;
#  6. a restarted cepd in the same group continues from the committed position (reads nothing again);
#  7. --wait-for-topics waits for missing input topics and starts once they exist;
#  8. a stream without a `time` field takes the message timestamp;
#  9. --from TIME starts a new group at the first message at or after TIME (offsets for times);
# 10. under live traffic, a partition that gets nothing stops holding the watermark back after --idle-timeout.
#
#   Tests/EndToEnd/kafka.sh [CEPD_BINARY]     (default .build/debug/cepd; needs scripts/kafka-env.sh's setup)
e2e_name="kafka e2e"
. "$(dirname "$0")/broker-test.sh"

echo "kafka e2e: broker $KAFKA_BROKERS"
# The reference: `cepd run` on the same per-partition sequences.
fraud_stream 20000 300 0.002 7 1
alerts=$(wc -l < "$work/run-alerts.jsonl")
dead=$(wc -l < "$work/run-dead.jsonl")
late=$(wc -l < "$work/run-late.jsonl")
[ "$late" -gt 0 ] || fail "the replay has no late events to compare"
[ "$alerts" -gt 100 ] || fail "the replay found only $alerts alerts"

# cepd through Kafka. --idle-timeout 0s: a partition read to its end stops holding back the watermark at once,
# where the replay's file for it ends. --idle-wall-clock: once every partition is idle, event time follows the
# wall clock, which is past all these events — the equivalent of the end of a replay, so every window and
# timeout fires.
"$cepd" --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" --group e2e --state-dir "$work/state-e2e" --from earliest --idle-timeout 0s \
    --idle-wall-clock --commit-interval 1s "${fast[@]}" >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
fraud=$(grep -c '"topic":"fraud-alerts"' "$work/run-alerts.jsonl" || true)
payment=$(grep -c '"topic":"payment-alerts"' "$work/run-alerts.jsonl" || true)
tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" --expect "$fraud" --idle 60 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment.jsonl" --expect "$payment" --idle 30 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-dead-letters --out "$work/dead.jsonl" --expect "$dead" --idle 30 --headers 2>/dev/null
sort "$work/run-alerts.jsonl" > "$work/expected"
sort "$work/fraud.jsonl" "$work/payment.jsonl" > "$work/actual"
if ! cmp -s "$work/expected" "$work/actual"; then
    diff "$work/expected" "$work/actual" | head -n 6 >&2
    fail "alerts through Kafka differ from cepd run ($(wc -l < "$work/actual") against $alerts)"
fi
echo "kafka e2e: $alerts alerts through Kafka identical to cepd run (ids and fields)"

# Dead letters: reason, origin headers and the original bytes, as the replay reports them.
"$KAFKA_PY" - "$work/dead.jsonl" "$work/run-dead.jsonl" <<'PY' || fail "dead letters differ"
import json, sys
kafka = [json.loads(l) for l in open(sys.argv[1])]
replay = [json.loads(l) for l in open(sys.argv[2])]
got = sorted((m["headers"]["cepd-reason"], m["headers"]["cepd-source-topic"], int(m["headers"]["cepd-source-partition"]),
              int(m["headers"]["cepd-source-offset"]), m["value"]) for m in kafka)
want = sorted((r["reason"], r["topic"], r["partition"], r["offset"], r["value"]) for r in replay)
if got != want:
    print(f"{len(got)} dead letters through Kafka, {len(want)} in the replay; first difference:",
          next((g, w) for g, w in zip(got + [None] * len(want), want + [None] * len(got)) if g != w), file=sys.stderr)
    sys.exit(1)
if not all("cepd-source-timestamp" in m["headers"] for m in kafka):
    sys.exit("a dead letter without cepd-source-timestamp")
PY
echo "kafka e2e: $dead dead letters with reason, origin and original bytes"

# Late events: the reader merges partitions by event time, so the same ones are late as in the replay.
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-late --out "$work/late-1.jsonl" --expect "$late" --idle 30 --headers 2>/dev/null
"$KAFKA_PY" - "$work/late-1.jsonl" "$work/run-late.jsonl" <<'PY' || fail "late events differ"
import json, sys
kafka = [json.loads(l) for l in open(sys.argv[1])]
replay = [json.loads(l) for l in open(sys.argv[2])]
got = sorted((m["headers"]["cepd-source-topic"], int(m["headers"]["cepd-source-partition"]),
              int(m["headers"]["cepd-source-offset"]), m["headers"]["cepd-patterns"], m["value"]) for m in kafka)
want = sorted((r["topic"], r["partition"], r["offset"], ",".join(p["pattern"] for p in r["patterns"]), r["value"])
              for r in replay)
if got != want:
    print(f"{len(got)} late events through Kafka, {len(want)} in the replay", file=sys.stderr)
    sys.exit(1)
PY
echo "kafka e2e: the same $late late events as the replay (same patterns, original bytes)"

# Late events: an hour behind everything, so behind the watermark whatever the interleaving of partitions.
printf '%s\n' '{"user":"late-1","ip":"10.0.0.1","country":"DE","ts":1767225600000}' \
    '{"user":"late-2","ip":"10.0.0.2","country":"FR","ts":1767225600001}' > "$work/late-input.jsonl"
tool produce --brokers "$KAFKA_BROKERS" --topic logins --partitions 3 --file "$work/late-input.jsonl" 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-late --out "$work/late.jsonl" --expect $((late + 2)) --idle 30 --headers 2>/dev/null
"$KAFKA_PY" - "$work/late.jsonl" "$work/late-input.jsonl" <<'PY' || fail "late events"
import json, sys
got = [m for m in map(json.loads, open(sys.argv[1])) if json.loads(m["value"])["user"].startswith("late-")]
sent = [l.rstrip("\n") for l in open(sys.argv[2])]
if sorted(m["value"] for m in got) != sorted(sent):
    sys.exit(f"late topic holds {[m['value'] for m in got]}")
for m in got:
    h = m["headers"]
    assert h["cepd-reason"] == "late" and h["cepd-source-topic"] == "logins", h
    assert m["key"] == json.loads(m["value"])["user"], m
    assert int(h["cepd-event-time"]) == json.loads(m["value"])["ts"], h
    assert "account_takeover" in h["cepd-patterns"].split(","), h
    for k in ("cepd-source-partition", "cepd-source-offset", "cepd-source-timestamp", "cepd-watermarks"):
        assert k in h, (k, h)
PY
echo "kafka e2e: late events in cepd-late with reason, patterns, watermarks and the original key and value"

# A poison pill: a 3 MB non-JSON message the broker takes but that cannot be produced again whole (it stopped cepd
# with status 4 on every restart). Its dead letter holds its first bytes and says how long it was; cepd goes on.
python3 -c 'print("x" * 3000000)' > "$work/pill.jsonl"
tool produce --brokers "$KAFKA_BROKERS" --topic logins --partitions 3 --file "$work/pill.jsonl" --max-bytes 5000000 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-dead-letters --out "$work/dead-2.jsonl" --expect $((dead + 1)) --idle 30 \
    --headers 2>/dev/null
"$KAFKA_PY" - "$work/dead-2.jsonl" <<'PY' || fail "the poison pill's dead letter"
import json, sys
pills = [m for m in map(json.loads, open(sys.argv[1])) if m["headers"].get("cepd-value-truncated")]
assert len(pills) == 1, f"{len(pills)} truncated dead letters"
assert pills[0]["headers"]["cepd-value-truncated"] == "3000000", pills[0]["headers"]
assert 0 < len(pills[0]["value"]) < 1_000_000 and set(pills[0]["value"]) == {"x"}, len(pills[0]["value"])
PY
kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "cepd stopped on the poison pill"; }
echo "kafka e2e: a 3 MB poison pill is dead-lettered truncated (with its length) and cepd goes on"

# A tombstone (null value) is not an event: its dead letter says so and keeps the null (it said "empty line" and
# its null became empty bytes).
tool tombstone --brokers "$KAFKA_BROKERS" --topic logins --key u-deleted 2>/dev/null
tool consume --brokers "$KAFKA_BROKERS" --topic cepd-dead-letters --out "$work/dead-3.jsonl" --expect $((dead + 2)) --idle 30 \
    --headers 2>/dev/null
"$KAFKA_PY" - "$work/dead-3.jsonl" <<'PY' || fail "the tombstone's dead letter"
import json, sys
found = [m for m in map(json.loads, open(sys.argv[1])) if m["key"] == "u-deleted"]
assert len(found) == 1, f"{len(found)} dead letters for the tombstone"
assert found[0]["null"] and "tombstone" in found[0]["headers"]["cepd-reason"], found[0]
PY
echo "kafka e2e: a tombstone is dead-lettered as one, its null value kept"

# A clean stop commits; a restart in the same group reads nothing again.
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd serve exited with $? after SIGTERM"
serve_pid=""
lines=$(cat "$work"/input/*.jsonl | wc -l)
events=$((lines - dead + 2))
grep -q "stopped: $events events, $alerts alerts, $((late + 2)) late, $((dead + 2)) dead letters" "$work/serve.log" ||
    { cat "$work/serve.log" >&2; fail "stop summary: expected $events events, $alerts alerts, $((late + 2)) late, $((dead + 2)) dead letters"; }
"$cepd" --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" --group e2e --state-dir "$work/state-e2e" --from earliest --idle-timeout 0s \
    "${fast[@]}" >/dev/null 2>"$work/restart.log" &
serve_pid=$!
sleep 8
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "restarted cepd exited with $?"
serve_pid=""
grep -q "stopped: 0 events" "$work/restart.log" || { cat "$work/restart.log" >&2; fail "the restarted cepd read events again"; }
echo "kafka e2e: a restart in the same group continues from the committed offsets"

# A stream without a `time` field takes the Kafka message timestamp as its event time.
printf '%s\n' 'stream clicks from "clicks" {' '  key user' '  lateness 1s' '  fields { user: string, n: int }' '}' \
    'pattern rising {' '  match a: clicks -> b: clicks where b.n > a.n' '  within 1m' '  emit to "rising" { user: a.user, n: b.n }' \
    '}' > "$work/clicks.cep"
printf '%s\n' '{"user":"c1","n":1,"at":1767225600000}' '{"user":"c1","n":5,"at":1767225630000}' > "$work/clicks.jsonl"
kafka_topic clicks 1
kafka_topic rising 1
tool produce --brokers "$KAFKA_BROKERS" --topic clicks --partitions 1 --file "$work/clicks.jsonl" --timestamps at 2>/dev/null
"$cepd" --pattern "$work/clicks.cep" --brokers "$KAFKA_BROKERS" --group clicks --state-dir "$work/state-clicks" --from earliest --idle-timeout 0s \
    --idle-wall-clock "${fast[@]}" >/dev/null 2>"$work/clicks.log" &
serve_pid=$!
tool consume --brokers "$KAFKA_BROKERS" --topic rising --out "$work/rising.jsonl" --expect 1 --idle 30 2>/dev/null
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd on clicks exited with $?"
serve_pid=""
grep -q '"first_ts":1767225600000,"last_ts":1767225630000' "$work/rising.jsonl" ||
    { cat "$work/rising.jsonl" "$work/clicks.log" >&2; fail "event time did not come from the message timestamps"; }
echo "kafka e2e: a stream without a time field matches on the Kafka message timestamps"

# The envelope as fields: keyed by the message key, timed by the message timestamp, a header, the partition and
# offset (the value holds none of them; kafka-tool keys each message by its line's "user").
printf '%s\n' 'stream clicks from "clicks-env" {' '  key @key' '  time @timestamp' '  lateness 1s' \
    '  fields { n: int, @header.tenant: string?, @header."x-trace": string?, @header.traceparent: string?, @partition: int, @offset: int }' '}' \
    'pattern rising {' '  match a: clicks -> b: clicks where b.n > a.n' '  within 1m' \
    '  emit to "rising-env" { user: a.@key, tenant: b.@header.tenant, trace: b.@header."x-trace", p: b.@partition, o: b.@offset,' \
    '    @key: "alert-" + a.@key, @header.tenant: b.@header.tenant }' \
    '}' > "$work/envelope.cep"
printf '%s\n' '{"user":"c1","n":1,"at":1767225600000,"t":"acme"}' '{"user":"c1","n":5,"at":1767225630000,"t":"acme","x":"00-ab-01"}' \
    > "$work/envelope.jsonl"
kafka_topic clicks-env 1
kafka_topic rising-env 1
tool produce --brokers "$KAFKA_BROKERS" --topic clicks-env --partitions 1 --file "$work/envelope.jsonl" --timestamps at \
    --header tenant=t --header x-trace=x --header traceparent=x 2>/dev/null
"$cepd" --pattern "$work/envelope.cep" --brokers "$KAFKA_BROKERS" --group envelope --state-dir none --from earliest \
    --idle-timeout 0s --idle-wall-clock "${fast[@]}" >/dev/null 2>"$work/envelope.log" &
serve_pid=$!
tool consume --brokers "$KAFKA_BROKERS" --topic rising-env --out "$work/rising-env-records.jsonl" --expect 1 --idle 30 --headers 2>/dev/null
# The alert's record: the key and a header the emit set, the trace context of the last matched event carried on.
"$KAFKA_PY" - "$work/rising-env-records.jsonl" "$work/rising-env.jsonl" <<'PY' || fail "the alert's Kafka record"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
assert len(records) == 1, records
record = records[0]
assert record["key"] == "alert-c1", record
assert record["headers"]["tenant"] == "acme" and record["headers"]["traceparent"] == "00-ab-01", record["headers"]
open(sys.argv[2], "w").write(record["value"] + "\n")
PY
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd on clicks-env exited with $?"
serve_pid=""
grep -q '^{"user":"c1","tenant":"acme","trace":"00-ab-01","p":0,"o":1,"_match":.*"first_ts":1767225600000,"last_ts":1767225630000' \
    "$work/rising-env.jsonl" || { cat "$work/rising-env.jsonl" "$work/envelope.log" >&2; fail "the envelope's fields are not the message's"; }
echo "kafka e2e: a stream keyed and timed by the message, with headers, its partition and offset as fields; the alert's record keyed and headed by the emit, the trace context carried on"

# --from TIME: a new group starts at the first message with a timestamp at or after TIME, in every partition.
# Messages produced now, with a gap around TIME (Tansu finds offsets for times by append time, so the times must
# be real ones). The stream `clicks` takes its event time from the message timestamps.
kafka_topic clicks-live 1
sed -e 's/from "clicks"/from "clicks-live"/' -e 's/"rising"/"rising-from"/' "$work/clicks.cep" > "$work/clicks-from.cep"
kafka_topic rising-from 1
live() { printf '%s\n' "$1" > "$work/live.jsonl"; tool produce --brokers "$KAFKA_BROKERS" --topic clicks-live --partitions 1 --file "$work/live.jsonl" 2>/dev/null; }
live '{"user":"c1","n":1}'
sleep 1.2
from_time=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.2
live '{"user":"c1","n":5}'
live '{"user":"c1","n":9}'
"$cepd" --pattern "$work/clicks-from.cep" --brokers "$KAFKA_BROKERS" --group clicks-from --state-dir "$work/state-clicks-from" --from "$from_time" \
    --idle-timeout 0s --idle-wall-clock "${fast[@]}" >/dev/null 2>"$work/from.log" &
serve_pid=$!
tool consume --brokers "$KAFKA_BROKERS" --topic rising-from --out "$work/rising-from.jsonl" --expect 1 --idle 30 2>/dev/null
sleep 1
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd --from TIME exited with $?"
serve_pid=""
# From then on: n=5 and n=9 (one alert, 5 → 9), not n=1 (which would add 1 → 5 and 1 → 9).
grep -q "stopped: 2 events, 1 alerts" "$work/from.log" || { cat "$work/from.log" >&2; fail "--from TIME read the wrong events"; }
grep -q '^{"user":"c1","n":9,' "$work/rising-from.jsonl" || { cat "$work/rising-from.jsonl" >&2; fail "--from TIME: wrong alert"; }
echo "kafka e2e: --from TIME starts a new group at the messages from that time on"

# Live traffic into one partition of two: the empty one stops holding back the watermark after --idle-timeout,
# so alerts come while the traffic goes on (without the timeout they would wait until it stopped).
printf '%s\n' 'stream ticks from "ticks" {' '  key user' '  time at' '  lateness 1s' '  fields { user: string, n: int, at: time }' \
    '}' 'pattern second {' '  match a: ticks where a.n == 1 -> b: ticks where b.n == 2' '  within 1m' \
    '  emit to "seconds" { user: a.user }' '}' > "$work/ticks.cep"
python3 -c 'import json
for i in range(1, 301): print(json.dumps({"user": "t1", "n": i, "at": 1767225600000 + 100 * i}))' > "$work/ticks.jsonl"
kafka_topic ticks 2
kafka_topic seconds 1
"$cepd" --pattern "$work/ticks.cep" --brokers "$KAFKA_BROKERS" --group ticks --state-dir "$work/state-ticks" --from earliest --idle-timeout 2s \
    --metrics-port 0 "${fast[@]}" >/dev/null 2>"$work/ticks.log" &
serve_pid=$!
admin_port=$(admin_port_of "$work/ticks.log")
wait_until "cepd to be assigned partitions of ticks (/readyz 200 on the admin port)" 120 'scrape /readyz | grep -q "^200 "'
# 300 messages at 20 per second: 15 s of traffic.
tool produce --brokers "$KAFKA_BROKERS" --topic ticks --partitions 2 --file "$work/ticks.jsonl" --rate 20 2>/dev/null &
producer_pid=$!
tool consume --brokers "$KAFKA_BROKERS" --topic seconds --out "$work/seconds.jsonl" --expect 1 --idle 30 2>/dev/null
kill -0 "$producer_pid" 2>/dev/null || { cat "$work/ticks.log" >&2; fail "the alert came only after the traffic stopped"; }
[ "$(wc -l < "$work/seconds.jsonl")" = 1 ] || fail "no alert under live traffic"
wait "$producer_pid"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd on ticks exited with $?"
serve_pid=""
echo "kafka e2e: under live traffic an empty partition stops holding back the watermark after --idle-timeout"

# Bad configuration: one line, documented exit status.
expect_exit() {
    local want=$1 pattern=$2; shift 2
    local status=0
    "$cepd" "$@" >/dev/null 2>"$work/err" || status=$?
    [ "$status" = "$want" ] || { cat "$work/err" >&2; fail "cepd $* exited $status, expected $want"; }
    grep -q -- "$pattern" "$work/err" || { cat "$work/err" >&2; fail "cepd $*: no '$pattern' in its error"; }
}
expect_exit 2 'No such configuration property' --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" -X no.such.key=1
printf '# tuning\nsession.timeout.ms=6000\nno.such.key=1\n' > "$work/bad.conf"
expect_exit 2 'no.such.key=1: No such configuration property' --pattern patterns/fraud.cep --brokers "$KAFKA_BROKERS" \
    --config "$work/bad.conf"
printf 'session.timeout.ms=6000\nthis line has no equals sign\n' > "$work/broken.conf"
expect_exit 2 "broken.conf:2: 'this line has no equals sign' must be KEY=VALUE" --pattern patterns/fraud.cep \
    --brokers "$KAFKA_BROKERS" --config "$work/broken.conf"
expect_exit 3 "input topics 'device-events', 'deploys', 'service-errors' do not exist" \
    --pattern patterns/operations.cep --brokers "$KAFKA_BROKERS"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_exit 3 'cannot reach Kafka' --pattern patterns/fraud.cep --brokers "127.0.0.1:$port" --connect-timeout 2s
# Topics a pattern joins must be co-partitioned (the same partition count).
kafka_topic copart-a 2
kafka_topic copart-b 3
printf 'stream a from "copart-a" { key k time ts fields { k: string, ts: time } }\nstream b from "copart-b" { key k time ts fields { k: string, ts: time } }\npattern ab { match x: a -> y: b emit to "o" { k: x.k } }\n' > "$work/copart.cep"
expect_exit 3 'pattern ab joins topics with different partition counts (copart-a 2, copart-b 3)' --pattern "$work/copart.cep" \
    --brokers "$KAFKA_BROKERS"
# With a state directory every input topic needs one partition count (a task's state has one home), even for
# patterns that join nothing, and an assignor that could split a task is refused.
printf 'stream a from "copart-a" { key k time ts fields { k: string, ts: time } }\nstream b from "copart-b" { key k time ts fields { k: string, ts: time } }\npattern aa { match x: a -> y: a emit to "o" { k: x.k } }\npattern bb { match x: b -> y: b emit to "o" { k: x.k } }\n' > "$work/apart.cep"
expect_exit 3 'with --state-dir every input topic needs the same partition count (copart-a 2, copart-b 3)' \
    --pattern "$work/apart.cep" --brokers "$KAFKA_BROKERS" --state-dir "$work/state-apart"
expect_exit 2 'partition.assignment.strategy=roundrobin can split a task' --pattern patterns/fraud.cep \
    --brokers "$KAFKA_BROKERS" --state-dir "$work/state-rr" -X partition.assignment.strategy=roundrobin
# A replay's state directory is not a daemon's (serve wrote into one, and the replay resumed afterwards was wrong),
# nor the reverse.
: > "$work/no-logins.jsonl"
"$cepd" run --pattern patterns/fraud.cep --input "logins=$work/no-logins.jsonl" --output "$work/replay-out.jsonl" \
    --late "$work/replay-late.jsonl" --dead-letters "$work/replay-dead.jsonl" --state-dir "$work/state-replay" --quiet
expect_exit 2 "the state in $work/state-replay is cepd run's; cepd serve cannot use it" --pattern patterns/fraud.cep \
    --brokers "$KAFKA_BROKERS" --state-dir "$work/state-replay"
expect_exit 2 "the state in $work/state-e2e is cepd serve's; cepd run cannot use it" run --pattern patterns/fraud.cep \
    --input "logins=$work/no-logins.jsonl" --output "$work/replay-out.jsonl" --late "$work/replay-late.jsonl" \
    --dead-letters "$work/replay-dead.jsonl" --state-dir "$work/state-e2e"
printf 'stream s from "t" { key k time ts fields { k: string, ts: time } }\npattern p { match a: s -> b: nope emit to "o" { k: a.k } }\n' > "$work/bad.cep"
expect_exit 1 'bad.cep:2:' --pattern "$work/bad.cep" --brokers "$KAFKA_BROKERS"
echo "kafka e2e: bad -X key, bad --config file, missing topics, topics not co-partitioned, input topics of different partition counts with a state directory, an assignor that splits tasks, a replay's state directory, unreachable broker and a broken pattern file give one clear error each"

# --wait-for-topics: cepd waits for missing input topics, says so once, and starts when they exist.
"$cepd" --pattern patterns/operations.cep --brokers "$KAFKA_BROKERS" --group waiting --state-dir "$work/state-waiting" --wait-for-topics \
    "${fast[@]}" >/dev/null 2>"$work/wait.log" &
serve_pid=$!
wait_until "cepd to wait for its input topics (state=waiting-for-topics in its log)" 120 'logged state=waiting-for-topics "$work/wait.log"'
grep -q "waiting for input topics 'device-events', 'deploys', 'service-errors' to exist" "$work/wait.log" ||
    { cat "$work/wait.log" >&2; fail "--wait-for-topics did not say what it waits for"; }
for t in device-events deploys service-errors; do kafka_topic "$t" 1; done
wait_until "cepd --wait-for-topics to consume once the topics exist (state=consuming in its log)" 120 'logged state=consuming "$work/wait.log"'
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd --wait-for-topics exited with $?"
serve_pid=""
grep -q "cepd: consuming device-events" "$work/wait.log" || { cat "$work/wait.log" >&2; fail "cepd did not start once the topics existed"; }
echo "kafka e2e: --wait-for-topics waits, says so, and starts when the topics exist"
echo "kafka e2e: passed"
