#!/usr/bin/env bash
# Fuzzes cepd's parsers of untrusted bytes for a bounded time each (issue 18), with clang's libFuzzer:
#   FuzzEvents         event messages (JSON lines) -> decoder -> every pattern -> alerts (each must be JSON)
#   FuzzBinaryEvents   Protobuf and Avro messages -> the binary decoders (schemas: Schemas/) -> patterns -> alerts
#   FuzzPatterns       .cep files -> lexer, parser, checker, compiler -> diagnostics (text, JSON), explain, a run
#   FuzzCheckpoints    engine checkpoints -> restore (refuse or accept) -> what was accepted runs on
#   FuzzAdminRequests  bytes on the admin port -> HTTP decoder -> request handler -> HTTP responses
#
# usage: Fuzz/run.sh [SECONDS_PER_TARGET (default 60)] [TARGET ...]
#
# Seeds: Fuzz/Corpus/TARGET (in the repo), for FuzzPatterns also patterns/ and the compiler's fixtures, for
# FuzzCheckpoints snapshots the target writes at start from real runs (so they carry this build's format). What a
# run discovers goes to a temporary folder and is dropped; to keep it, merge it into the corpus by hand:
#   Fuzz/.build/release/TARGET -merge=1 Fuzz/Corpus/TARGET NEW_FOLDER
# A crash, a hang (10 s on one input) or more than 4 GB fails the run: the log's end and the input (base64) are
# printed, so the case can be replayed with `Fuzz/.build/release/TARGET FILE` and kept as a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzEvents FuzzBinaryEvents FuzzPatterns FuzzCheckpoints FuzzAdminRequests)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# FuzzBinaryEvents reads its schemas from here: the descriptor set is protoc's, written now.
mkdir -p "$work/schemas"
cp Schemas/fuzz.avsc "$work/schemas/"
protoc --include_imports --descriptor_set_out="$work/schemas/fuzz.desc" -I Schemas Schemas/fuzz.proto
export CEPD_FUZZ_SCHEMAS="$work/schemas"
flags=(-c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library)
for target in "${targets[@]}"; do
    # One product at a time: building everything would also link the cepd executable, which fails under
    # -sanitize=fuzzer (libFuzzer brings a main of its own).
    if ! swift build "${flags[@]}" --product "$target" >"$work/build.log" 2>&1; then
        grep -E "error" "$work/build.log" | head -n 20 >&2
        echo "fuzz: $target did not build" >&2
        exit 1
    fi
done

failed=0
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "$work/$target-seeds"
    seeds=("Corpus/$target")
    case $target in
        FuzzPatterns) seeds+=(../patterns ../Tests/CEPCompilerTests/Fixtures) ;;
        FuzzCheckpoints) seeds=("$work/$target-seeds") ;;
    esac
    log="$work/$target.log"
    status=0
    # Swift's own crash backtracer would take the fatal signal before libFuzzer could save the input.
    SWIFT_BACKTRACE=enable=no CEPD_FUZZ_SEEDS="$work/$target-seeds" ".build/release/$target" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/$target-" \
        "$work/$target" "${seeds[@]}" >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "fuzz: $target FAILED (exit $status) after ${runs} inputs; the log's end:" >&2
        grep -v '^0x' "$log" | tail -n 60 >&2
        for artifact in "$work/$target"-crash-* "$work/$target"-timeout-* "$work/$target"-oom-* "$work/$target"-leak-*; do
            [ -f "$artifact" ] || continue
            echo "fuzz: the input ($(basename "$artifact"), base64; decode to a file and run .build/release/$target FILE):" >&2
            base64 -w 0 "$artifact" | head -c 65536 >&2
            echo >&2
        done
    else
        echo "fuzz: $target: ${runs} inputs in ${seconds} s, no failure (${coverage:-cov: ?} edges)"
    fi
done
exit $failed
