#!/bin/bash
# test.sh - the whole test suite, as CI runs it: installs the Debian packages,
# then (1) a gcc build with -Werror and every ctest suite, (2) the same under
# AddressSanitizer + UndefinedBehaviorSanitizer, (3) a clang build, warnings
# as errors, running the libFuzzer smoke tests. Ends with one line,
# "mvm: N passed, N failed", over all of them. MVM_SKIP_DEPS=1 skips the apt
# step; MVM_TEST_JOBS sets -j.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MVM_TEST_JOBS:-$(nproc)}
[ "${MVM_SKIP_DEPS:-0}" = 1 ] || scripts/install-deps.sh

step() { printf '\n==== %s\n' "$*"; }

# Runs ctest in a build dir, keeping its summary for the closing line.
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
run_ctest() {
    local dir=$1
    shift
    (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") | tee -a "$summary"
}

step "gcc build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j "$jobs"
step "ctest (gcc)"
run_ctest build

step "ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMVM_SANITIZE=ON -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build-asan -j "$jobs"
step "ctest (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan -LE no-sanitize

step "clang build (warnings are errors)"
cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-clang -j "$jobs"
step "fuzz smoke (clang libFuzzer + ASan/UBSan)"
run_ctest build-clang -L fuzz
step "all suites passed"
# One closing line over every ctest run above ("N passed, N failed").
awk '/tests passed, [0-9]+ tests failed out of/ { failed += $4; total += $NF }
     END { printf "mvm: %d passed, %d failed\n", total - failed, failed }' "$summary"
