#!/bin/bash
# test.sh - the whole test suite, as CI runs it: installs the Debian packages,
# then (1) a gcc build with -Werror and every ctest suite, (2) the same under
# AddressSanitizer + UndefinedBehaviorSanitizer, (3) a clang build, warnings
# as errors, running the libFuzzer smoke tests. Set MVM_SKIP_DEPS=1 to skip the apt step; MVM_TEST_JOBS for -j.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MVM_TEST_JOBS:-$(nproc)}
[ "${MVM_SKIP_DEPS:-0}" = 1 ] || scripts/install-deps.sh

step() { printf '\n==== %s\n' "$*"; }

step "gcc build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j "$jobs"
step "ctest (gcc)"
(cd build && ctest --output-on-failure -j "$jobs")

step "ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMVM_SANITIZE=ON -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build-asan -j "$jobs"
step "ctest (ASan + UBSan)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$jobs" -LE no-sanitize)

step "clang build (warnings are errors)"
cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-clang -j "$jobs"
step "fuzz smoke (clang libFuzzer + ASan/UBSan)"
(cd build-clang && ctest --output-on-failure -L fuzz)
step "all suites passed"
