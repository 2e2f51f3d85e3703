#!/usr/bin/env bash
# End to end, operations (issue 7), through a real Kafka-compatible broker (Tansu) with the cepd binary:
#  1. the admin port: /healthz answers while cepd still waits for its topics, /readyz says 503 until cepd
#     consumes its assigned partitions and 200 then; /metrics, scraped and parsed while events flow, moves from
#     nothing to exactly what the replay of the same per-partition sequences counts (events, malformed and late
#     messages per partition, matches per pattern, alert latencies), with consumer lag 0 and a checkpoint at the
#     end; unknown paths get 404, other methods 405;
#  3. /keys/KEY and `cepd inspect --key` for a key with a known partial match;
#  4. hot reload (SIGHUP and POST /reload): a broken file is refused with its diagnostics while the old patterns go
#     on; a changed, an added and a removed pattern are taken, the unchanged one keeps its partial match, which
#     then completes, and the added one matches.
#
#   Tests/EndToEnd/ops.sh [CEPD_BINARY]     (default .build/debug/cepd; needs scripts/kafka-env.sh's setup)
e2e_name="ops e2e"
. "$(dirname "$0")/broker-test.sh"
# start_cepd LOG ARGS...: cepd on $work/fraud.cep with the admin port on a port the system picks (admin_port).
start_cepd() {
    local log=$1; shift
    "$cepd" --pattern "$work/fraud.cep" --brokers "$KAFKA_BROKERS" --group ops --state-dir "$work/state-ops" --from earliest \
        --idle-timeout 0s --idle-wall-clock --commit-interval 1s --checkpoint-interval 1s --metrics-port 0 \
        "${fast[@]}" "$@" >/dev/null 2>"$log" &
    serve_pid=$!
    admin_port=$(admin_port_of "$log")
    [ -n "$admin_port" ] || { cat "$log" >&2; fail "cepd did not log its admin port"; }
}

# 1. Started before the topics exist (--wait-for-topics). (On a copy of the example patterns, which step 4 edits.)
cp patterns/fraud.cep "$work/fraud.cep"
start_cepd "$work/waiting.log" --wait-for-topics
wait_until "cepd to wait for its input topics (state=waiting-for-topics in its log)" 120 'logged state=waiting-for-topics "$work/waiting.log"'
[ "$(scrape /healthz)" = "200 ok" ] || fail "/healthz while waiting for topics: $(scrape /healthz)"
ready=$(scrape /readyz)
case "$ready" in 503*'"consuming":false'*) ;; *) fail "/readyz while waiting for topics: $ready" ;; esac
metrics "$work/m0.txt"
grep -q '^cepd_events_total ' "$work/m0.txt" && fail "events counted before any topic existed"
[ "$(scrape /nope | cut -d' ' -f1)" = 404 ] || fail "/nope: $(scrape /nope)"
[ "$(scrape /metrics POST | cut -d' ' -f1)" = 405 ] || fail "POST /metrics: $(scrape /metrics POST)"
[ "$(scrape /reload | cut -d' ' -f1)" = 405 ] || fail "GET /reload: $(scrape /reload)"
[ "$(scrape /keys/u1 DELETE | cut -d' ' -f1)" = 405 ] || fail "DELETE /keys/u1: $(scrape /keys/u1 DELETE)"
[ "$(scrape /keys/u%zz1 | cut -d' ' -f1)" = 400 ] || fail "a malformed %-escape: $(scrape /keys/u%zz1)"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd waiting for topics exited with $? after SIGTERM"
serve_pid=""
echo "ops e2e: /healthz 200 and /readyz 503 while waiting for topics; 404, 405 and 400 (a malformed %-escape) where due; SIGTERM there exits 0"

# 2. The topics fill (before cepd reads them: with --idle-timeout 0s, a partition read to its end while the
# producer is still busy with another topic would let the watermark pass events still to come, and the late events
# would differ from the replay's); cepd starts, and the metrics follow from nothing to the replay's counts.
fraud_stream 20000 300 0.002 7 1
start_cepd "$work/ops.log"
metrics "$work/m0.txt"
grep -q "^cepd_events_total $(($(cat "$work"/input/*.jsonl | wc -l) - $(wc -l < "$work/run-dead.jsonl")))\$" "$work/m0.txt" &&
    fail "the first scrape already had every event: nothing seen moving"
wait_until "/readyz to answer 200" 120 '[ "$(scrape /readyz | cut -d" " -f1)" = 200 ]'
ready=$(scrape /readyz)
case "$ready" in 200*'"ready":true'*) ;; *) cat "$work/ops.log" >&2; fail "/readyz never became ready: $ready" ;; esac
alerts=$(wc -l < "$work/run-alerts.jsonl")
tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud.jsonl" \
    --expect "$(grep -c '"topic":"fraud-alerts"' "$work/run-alerts.jsonl")" --idle 60 2>/dev/null
# The metrics are published once a second (and a scrape may fall in the middle of a publish): they must reach
# exactly the replay's counts within 30 s.
lines=$(cat "$work"/input/*.jsonl | wc -l)
dead=$(wc -l < "$work/run-dead.jsonl")
cat > "$work/check-metrics.py" <<'PY'
import collections, json, re, sys
text, work, lines = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
samples = collections.defaultdict(dict)
for line in text.splitlines():
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
    assert m, f"not Prometheus text: {line!r}"
    labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
    samples[m.group(1)][labels] = float(m.group(3))
def total(name): return sum(samples[name].values())
alerts = [json.loads(l) for l in open(f"{work}/run-alerts.jsonl")]
dead = sum(1 for _ in open(f"{work}/run-dead.jsonl"))
late = sum(1 for _ in open(f"{work}/run-late.jsonl"))
checks = {
    "events in, all partitions": (total("cepd_events_in_total"), lines),
    "partitions with events in": (len(samples["cepd_events_in_total"]), 12),
    "decode failures": (total("cepd_decode_failures_total"), dead),
    "late events": (total("cepd_late_events_total"), late),
    "events matched": (total("cepd_events_total"), lines - dead),
    "alerts produced": (total("cepd_alerts_produced_total"), len(alerts)),
    "alert latencies recorded": (total("cepd_alert_latency_seconds_count"),
                                 sum(1 for a in alerts if "_match" in a)),
    "consumer lag": (total("cepd_consumer_lag_messages"), 0),
    "partitions assigned": (total("cepd_partition_assigned"), 12),
    "tasks (partition i of the four topics)": (total("cepd_tasks"), 3),
    "partition watermarks": (len(samples["cepd_partition_watermark_seconds"]), 12),
    "produce errors": (total("cepd_produce_errors_total"), 0),
}
for pattern, n in collections.Counter(a["_match"]["pattern"] for a in alerts).items():
    checks[f"matches of {pattern}"] = (samples["cepd_matches_total"].get((("pattern", pattern),)), n)
# Suppressed alerts, per pattern with `suppress`: as many as the replay's summary counted ("N matches, M suppressed").
suppressed = {m.group(1): int(m.group(2)) for m in
              re.finditer(r"^  (\w+): \d+ match(?:es)?, (\d+) suppressed", open(f"{work}/run-summary.txt").read(), re.M)}
assert suppressed, "the replay's summary names no pattern with suppress"
for pattern, n in suppressed.items():
    checks[f"suppressed alerts of {pattern}"] = (samples["cepd_alerts_suppressed_total"].get((("pattern", pattern),), 0), n)
bad = {k: v for k, v in checks.items() if v[0] != v[1]}
if bad:
    sys.exit(f"metrics (got, want): {bad}")
# cepd's own part of an alert's latency is timed for alerts a batch of input completes (not those a timer or an
# idle partition releases).
timed = samples["cepd_alert_processing_seconds_count"]
engine, reader = timed.get((("stage", "engine"),), 0), timed.get((("stage", "reader"),), 0)
assert 0 < engine == reader <= checks["alert latencies recorded"][1], f"alert processing times recorded: {timed}"
assert samples["cepd_checkpoint_number"][()] >= 1, "no checkpoint counted"
assert 0 <= samples["cepd_checkpoint_age_seconds"][()] < 30, samples["cepd_checkpoint_age_seconds"]
assert samples["cepd_state_bytes"][()] > 0, "no state size"
assert samples["cepd_partial_matches"], "no partial-match census"
PY
problem="never scraped"
for i in $(seq 1 60); do
    metrics "$work/m1.txt"
    problem=$(python3 "$work/check-metrics.py" "$work/m1.txt" "$work" "$lines" 2>&1) && break
    sleep 0.5
done
[ -z "$problem" ] || { cat "$work/m1.txt" >&2; fail "metrics do not match the replay: $problem"; }
echo "ops e2e: /readyz 200 once consuming; /metrics moved from nothing to the replay's counts ($lines messages, $dead malformed, $alerts alerts)"

# 3. Explain a key: a login now for a new user opens account_takeover's partial match, waiting for a location
# signal. (The watermark follows the wall clock here, --idle-wall-clock: the login is matched once 5 s, its
# topic's lateness, have passed.)
now=$(python3 -c 'import time; print(int(time.time() * 1000))')
printf '{"user":"inspect-1","ip":"10.0.0.9","country":"DE","ts":%s}\n' "$now" > "$work/inspect.jsonl"
tool produce --brokers "$KAFKA_BROKERS" --topic logins --partitions 3 --file "$work/inspect.jsonl" 2>/dev/null
for i in $(seq 1 100); do
    scrape /keys/inspect-1 | grep -q '"state":"g"' && break
    sleep 0.2
done
answer=$(scrape /keys/inspect-1)
python3 - "$answer" "$now" <<'PY' || fail "/keys/inspect-1: $answer"
import json, sys
status, body = sys.argv[1].split(" ", 1)
assert status == "200", status
now = int(sys.argv[2])
doc = json.loads(body)
takeover = next(p for p in doc["patterns"] if p["pattern"] == "account_takeover")
[partial] = takeover["partial_matches"]
assert partial["state"] == "g" and partial["waits_for"] == ["g (geo)"], partial
[bound] = partial["bound"]
assert bound["step"] == "l" and bound["topic"] == "logins" and bound["ts"] == now, bound
assert partial["window_end"] == now + 600_000, partial          # within 10m
assert 0 < partial["window_end_beyond_watermark_ms"] <= 600_000, partial
assert takeover["watermark"] >= now, takeover
PY
"$cepd" inspect --key inspect-1 --admin-port "$admin_port" > "$work/inspect.txt" || fail "cepd inspect exited with $?"
grep -q "#1 in state g, waits for g (geo)" "$work/inspect.txt" && grep -q "     l = logins/" "$work/inspect.txt" ||
    { cat "$work/inspect.txt" >&2; fail "cepd inspect --key: unexpected report"; }
[ "$(scrape /keys/nobody | cut -c1-3)" = 200 ] && scrape /keys/nobody | grep -q '"partial_matches":\[\]' ||
    fail "/keys/nobody: $(scrape /keys/nobody)"
echo "ops e2e: /keys/inspect-1 and cepd inspect show the open partial match: bound login, waits for g (geo), window end"

# 4. Hot reload. A broken file (SIGHUP, then POST /reload) is refused with its diagnostics; the old patterns go on.
cp "$work/fraud.cep" "$work/fraud.good"
printf '\npattern broken {\n  match x: nowhere\n  emit to "x" { n: x.n }\n}\n' >> "$work/fraud.cep"
kill -HUP "$serve_pid"
wait_until "the refused reload in cepd's log (reload=refused)" 120 'logged reload=refused "$work/ops.log"'
grep -q "reload refused: $work/fraud.cep has errors; the running patterns go on" "$work/ops.log" &&
    grep -q "fraud.cep:[0-9]*:[0-9]*: error" "$work/ops.log" || { tail -n 20 "$work/ops.log" >&2; fail "SIGHUP with a broken file"; }
refused=$(scrape /reload POST)
case "$refused" in 422*"fraud.cep:"*"error"*) ;; *) fail "POST /reload with a broken file: $refused" ;; esac
scrape /keys/inspect-1 | grep -q '"state":"g"' || fail "the open partial match did not survive a refused reload"
# A changed pattern (card_testing), an added one (big_payment), a removed one (impossible_travel); SIGHUP.
python3 - "$work/fraud.good" "$work/fraud.cep" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"\n# Impossible travel.*?\n}\n", "\n", text, flags=re.S)
assert "impossible_travel" not in text
text = text.replace("probes.amount < 2", "probes.amount < 3")
text += '\npattern big_payment {\n  match p: payments where p.amount > 8000\n  emit to "payment-alerts" { user: p.user, amount: p.amount }\n}\n'
open(sys.argv[2], "w").write(text)
PY
kill -HUP "$serve_pid"
wait_until "the reload in cepd's log (reload=taken)" 120 'logged reload=taken "$work/ops.log"'
reloaded=$(grep "cepd: reloaded" "$work/ops.log" || true)
case "$reloaded" in
    *"kept (with their state): "*account_takeover*"; started empty (new or changed): card_testing, big_payment; dropped: impossible_travel"*) ;;
    *) tail -n 20 "$work/ops.log" >&2; fail "SIGHUP with a changed, an added and a removed pattern: $reloaded" ;;
esac
[ "$(scrape /reload POST)" = '200 {"kept":["account_takeover","card_testing","unconfirmed_large_payment","big_payment"],"started":[],"dropped":[]}' ] ||
    fail "POST /reload without a change: $(scrape /reload POST)"
# The removed pattern's series leave /metrics at the next publish; the added pattern's appear.
for i in $(seq 1 30); do
    metrics "$work/m2.txt"
    ! grep -q 'pattern="impossible_travel"' "$work/m2.txt" && grep -q 'cepd_partial_matches{pattern="big_payment"}' "$work/m2.txt" && break
    sleep 0.2
done
! grep -q 'pattern="impossible_travel"' "$work/m2.txt" || fail "/metrics still has series of the removed pattern"
grep -q 'cepd_partial_matches{pattern="big_payment"}' "$work/m2.txt" || fail "/metrics has no series of the added pattern"
# The kept pattern kept its partial match, and both the kept and the added pattern match what comes next.
scrape /keys/inspect-1 | grep -q '"pattern":"account_takeover".*"state":"g"' || fail "account_takeover lost its state in the reload"
now=$(python3 -c 'import time; print(int(time.time() * 1000))')
printf '{"user":"inspect-1","country":"BR","lat":-23.5,"lon":-46.6,"ts":%s}\n' "$now" > "$work/geo-1.jsonl"
printf '{"user":"inspect-1","id":"pay-1","amount":9000.0,"currency":"EUR","ts":%s}\n' "$((now + 1))" > "$work/pay-1.jsonl"
tool produce --brokers "$KAFKA_BROKERS" --topic geo --partitions 3 --file "$work/geo-1.jsonl" 2>/dev/null
tool produce --brokers "$KAFKA_BROKERS" --topic payments --partitions 3 --file "$work/pay-1.jsonl" 2>/dev/null
for i in $(seq 1 60); do
    tool consume --brokers "$KAFKA_BROKERS" --topic fraud-alerts --out "$work/fraud-after.jsonl" --idle 1 2>/dev/null
    tool consume --brokers "$KAFKA_BROKERS" --topic payment-alerts --out "$work/payment-after.jsonl" --idle 1 2>/dev/null
    grep -q '"user":"inspect-1"' "$work/fraud-after.jsonl" && grep -q '"user":"inspect-1"' "$work/payment-after.jsonl" && break
    sleep 0.5
done
grep -q '"user":"inspect-1","login_ip":"10.0.0.9","home":"DE","seen_in":"BR","amount":9000' "$work/fraud-after.jsonl" ||
    { tail -n 5 "$work/ops.log" >&2; fail "no account_takeover alert after the reload (its partial match was kept)"; }
grep -q '"user":"inspect-1","amount":9000.*"pattern":"big_payment"' "$work/payment-after.jsonl" ||
    { tail -n 5 "$work/payment-after.jsonl" >&2; fail "the added pattern did not match"; }
echo "ops e2e: reload: broken files refused with diagnostics (SIGHUP, POST /reload); changed, added and removed patterns taken; the kept pattern's partial match completed after it"

kill -TERM "$serve_pid"
wait "$serve_pid" || fail "cepd exited with $? after SIGTERM"
serve_pid=""
echo "ops e2e: passed"
