#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS: build the libFuzzer targets (clang, in build-fuzz beside
# the normal build, or $QZ_FUZZ_BUILD) and run each for SECONDS seconds from its seed
# corpus tests/fuzz/corpus/TARGET/. Fails when a target crashes, leaks or times out
# (its input is kept in the build's fuzz-artifacts/TARGET/ and named); the corpus the
# run grows stays in the build directory, not in the tree. A crash found becomes a
# seed: copy its input into corpus/TARGET/ with the fix.
set -uo pipefail
seconds=${1:?usage: tests/fuzz/run.sh SECONDS}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${QZ_FUZZ_BUILD:-$src/build-fuzz}
mkdir -p "$build"
if ! { cmake -S "$src" -B "$build" -DQZ_FUZZ=ON -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$build" -j"$(nproc)"; } > "$build/fuzz-build.log" 2>&1; then
    cat "$build/fuzz-build.log" >&2
    echo "fuzz: the build failed (log above)" >&2
    exit 1
fi
failed=0
for target in job openai score_http exec_line checkpoint; do
    work=$build/fuzz-corpus/$target artifacts=$build/fuzz-artifacts/$target
    mkdir -p "$work" "$artifacts"
    # UBSan reports stop the target too (the build has -fno-sanitize-recover).
    if ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$work" "$src/tests/fuzz/corpus/$target" \
        > "$build/fuzz-$target.log" 2>&1; then
        echo "fuzz: $target: clean ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
            "$build/fuzz-$target.log" | grep -o '[0-9]*$') runs in ${seconds} s)"
    else
        failed=1
        echo "fuzz: $target: FAILED; input kept in $artifacts/:" >&2
        ls "$artifacts" >&2
        grep -m20 -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$build/fuzz-$target.log" >&2
    fi
done
exit "$failed"
