#!/usr/bin/env bash
# cepd against Flink CEP 2.3 on the same input, side by side, one pattern at a time (the harness's patterns, in
# .cep in Benchmarks/flink/patterns.cep), JSON decoding included in both, whole-process wall time and peak RSS
# (GNU time), and whether the match sets are equal (exit 1 when they differ). cepd runs twice: free to use both
# cores, and pinned to one (taskset).
#
#   Benchmarks/flink/speed.sh INPUT_DIR [PATTERN ...]   (a directory made by examples/fraud/generate.py, or one
#                                                        with a single events.jsonl whose lines carry "type";
#                                                        patterns: fraud (default), strict, probes, noskip, stepwindow, greedy)
#
# Builds cepd in release mode if needed; fetches the Flink jars and compiles the harness once (prepare.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="$1"
shift
patterns=("${@:-fraud}")
cepd="$root/.build/release/cepd"
cache="${CEPD_CACHE:-$root/.cache}/flink-2.3.0"
[ -x "$cepd" ] || (cd "$root" && swift build -c release)
. "$here/prepare.sh"
# A directory with events.jsonl is a single-file input (every line has "type"); otherwise one file per topic.
if [ -f "$dir/events.jsonl" ]; then
    single=1
    inputs=("events=$dir/events.jsonl")
else
    single=""
    inputs=("logins=$dir/logins.jsonl" "geo=$dir/geo.jsonl" "payments=$dir/payments.jsonl")
fi
events=$(for i in "${inputs[@]}"; do cat "${i#*=}"; done | wc -l)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for pattern in "${patterns[@]}"; do
    # The streams and this one pattern of patterns.cep, so that cepd runs only what Flink runs.
    python3 - "$here/patterns.cep" "$pattern" "$single" > "$work/$pattern.cep" <<'PY'
import re, sys
text, name, single = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
if single:
    # All streams read the one topic "events", told apart by their "type" field.
    kinds = {"logins": "login", "geo": "geo", "payments": "payment"}
    for topic, kind in kinds.items():
        text = text.replace(f'from "{topic}" {{', f'from "events" where type == "{kind}" {{')
    text = text.replace("fields { user: string,", "fields { type: string, user: string,")
blocks, depth, start = [], 0, None
for i, c in enumerate(text):
    if c == "{":
        if depth == 0:
            start = text.rfind("\n", 0, i) + 1
        depth += 1
    elif c == "}":
        depth -= 1
        if depth == 0:
            blocks.append(text[start:i + 1])
keep = [b for b in blocks if b.lstrip().startswith("stream ") or re.match(rf"\s*pattern {name}\b", b)]
if not any(b.lstrip().startswith("pattern ") for b in keep):
    sys.exit(f"speed.sh: no pattern '{name}' in patterns.cep")
print("\n".join(keep))
PY
    replay=()
    for i in "${inputs[@]}"; do replay+=(--input "$i"); done
    /usr/bin/time -f "%e %M" -o "$work/cepd.time" "$cepd" run --pattern "$work/$pattern.cep" "${replay[@]}" \
        --output "$work/cepd.jsonl" --quiet
    # And on one core: cepd's reading thread and matching thread then share it (Flink's parallelism 1 still uses
    # several JVM threads: the source, the operator, the garbage collector).
    /usr/bin/time -f "%e %M" -o "$work/cepd1.time" taskset -c 0 "$cepd" run --pattern "$work/$pattern.cep" \
        "${replay[@]}" --output "$work/cepd1.jsonl" --quiet
    cmp -s "$work/cepd.jsonl" "$work/cepd1.jsonl" || { echo "speed.sh: cepd's output on one core differs" >&2; exit 1; }
    /usr/bin/time -f "%e %M" -o "$work/flink.time" java -Xmx4g -cp "$cache/classes:$cache/pyflink/lib/*" \
        FlinkCepHarness "$pattern" "$work/flink.txt" "${inputs[@]}" \
        >/dev/null 2>&1
    read -r cs cm < "$work/cepd.time"
    read -r fs fm < "$work/flink.time"
    read -r c1s c1m < "$work/cepd1.time"
    python3 - "$pattern" "$events" "$cs" "$cm" "$fs" "$fm" "$work/cepd.jsonl" "$work/flink.txt" "$c1s" "$c1m" <<'PY'
import collections, json, sys
pattern, n, cs, cm, fs, fm, cepd_out, flink_out, c1s, c1m = sys.argv[1:]
n = int(n); cs, fs, c1s = float(cs), float(fs), float(c1s); cm, fm, c1m = int(cm), int(fm), int(c1m)
# The match sets, as compare.py writes them: "<pattern> <step>=<topic>:<offset> ...".
cepd = collections.Counter()
for line in open(cepd_out):
    m = json.loads(line)["_match"]
    cepd[f"{m['pattern']} " + " ".join(f"{e['step']}={e['topic']}:{e['offset']}" for e in m["events"])] += 1
flink = collections.Counter(line.rstrip("\n") for line in open(flink_out) if line.strip())
same = cepd == flink
verdict = "match sets equal" if same else \
    f"MATCH SETS DIFFER: {sum((cepd - flink).values())} only in cepd, {sum((flink - cepd).values())} only in Flink"
print(f"{pattern}: events {n}   matches: cepd {sum(cepd.values())}, flink {sum(flink.values())}   {verdict}")
print(f"  cepd       : {cs:7.2f} s  {n / cs:10,.0f} events/s  peak RSS {cm / 1024:8,.0f} MB")
print(f"  cepd 1 core: {c1s:7.2f} s  {n / c1s:10,.0f} events/s  peak RSS {c1m / 1024:8,.0f} MB")
print(f"  flink      : {fs:7.2f} s  {n / fs:10,.0f} events/s  peak RSS {fm / 1024:8,.0f} MB")
print(f"  cepd/flink: {fs / cs:.1f}x the events/s ({fs / c1s:.1f}x on one core), {cm / fm:.3f} of the peak memory")
sys.exit(0 if same else 1)
PY
done
