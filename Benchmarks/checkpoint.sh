#!/usr/bin/env bash
# What checkpoints cost a replay with many open partial matches: `cepd run` with the fraud pattern
# (Benchmarks/flink/fraud.cep) on USERS users that each log in once within the first minute (each login opens a
# partial match that stays open: nothing completes it within the 10-minute window), then OTHER geo and payment
# events of 10,000 other users over the next four minutes. Runs it without a state directory and with
# `--state-dir --checkpoint-interval 1s`, ROUNDS times each, interleaved; prints wall time, CPU time, peak RSS
# and the replay's own checkpoint line (count, longest pause, total), and the ratios of the two.
#
#   Benchmarks/checkpoint.sh [--users N] [--other N] [--rounds R] [--cepd BINARY] [-- EXTRA cepd run ARGS]
#   (defaults: 1000000 users, 2000000 other events, 2 rounds, .build/release/cepd built here)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
users=1000000 other=2000000 rounds=2 cepd=""
while [ $# -gt 0 ]; do
    case "$1" in
        --users) users="$2"; shift 2 ;;
        --other) other="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --cepd) cepd="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "checkpoint.sh: unknown argument '$1' (see the comment at the top)" >&2; exit 2 ;;
    esac
done
if [ -z "$cepd" ]; then
    swift build -c release 2>&1 | tail -n 1
    cepd=.build/release/cepd
fi
dir="${CEPD_CACHE:-$root/.cache}/bench-inputs/openkeys-$users-$other"
if [ ! -f "$dir/payments.jsonl" ]; then
    mkdir -p "$dir"
    python3 - "$users" "$other" "$dir" <<'EOF'
import random, sys
users, other, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = 1767225600000
rnd = random.Random(7)
countries = ["GB", "US", "DE", "FR", "ES"]
with open(f"{out}/logins.jsonl", "w") as f:
    for i in range(users):
        # one login per user, in time order over the first minute
        f.write(f'{{"user":"u{i:07d}","ip":"10.0.{i % 256}.{i // 256 % 256}","country":"{countries[i % 5]}",'
                f'"ts":{t0 + i * 60000 // users}}}\n')
with open(f"{out}/geo.jsonl", "w") as g, open(f"{out}/payments.jsonl", "w") as p:
    for i in range(other):
        ts = t0 + 60000 + i * 240000 // other
        user = f"v{rnd.randrange(10000):05d}"
        if i % 2 == 0:
            g.write(f'{{"user":"{user}","country":"{countries[i % 5]}","lat":1.5,"lon":2.5,"ts":{ts}}}\n')
        else:
            p.write(f'{{"user":"{user}","id":"p{i}","amount":{rnd.randrange(1, 900)}.5,"currency":"EUR","ts":{ts}}}\n')
EOF
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run() { # LABEL [ARGS...]: one run; prints a row
    local label="$1"; shift
    rm -rf "$work/state"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$cepd" run --pattern Benchmarks/flink/fraud.cep \
        --input "logins=$dir/logins.jsonl" --input "geo=$dir/geo.jsonl" --input "payments=$dir/payments.jsonl" \
        --output "$work/alerts.jsonl" "$@" 2> "$work/summary"
    read -r wall user sys rss < "$work/time"
    local line
    line=$(grep -o 'checkpoints: .*' "$work/summary" || echo "checkpoints: none")
    printf '%-12s wall %6.2f s  cpu %6.2f s  peak %5d MB  %s\n' "$label" "$wall" "$(echo "$user + $sys" | bc)" \
        $((rss / 1024)) "$line"
    echo "$label $wall $rss" >> "$work/rows"
}
for r in $(seq "$rounds"); do
    run plain "$@"
    run checkpoints --state-dir "$work/state" --checkpoint-interval 1s "$@"
done
python3 - "$work/rows" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, rss = line.split()
    rows.setdefault(label, []).append((float(wall), int(rss)))
plain, ck = rows["plain"], rows["checkpoints"]
wall = statistics.median(w for w, _ in ck) / statistics.median(w for w, _ in plain)
added = (statistics.median(m for _, m in ck) - statistics.median(m for _, m in plain)) / 1024
print(f"checkpoints/plain: wall {wall:.2f}x (median of {len(ck)}), peak memory {added:+.0f} MB")
EOF
