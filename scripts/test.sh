#!/bin/bash
# test.sh - the whole test suite, as CI runs it: installs the Debian packages,
# then
#   (1) a gcc build, warnings as errors, and every ctest suite; among them
#       build_configure and build_c_only, which configure, build (Release) and
#       install mvmd and mvm-cli alone with Go, Python and the test tools hidden;
#   (2) the same under AddressSanitizer + UndefinedBehaviorSanitizer, but
#       for the slow Linux boots (label slow; they exercise the guest, not
#       more of mvmd's code);
#   (3) a clang Release build, warnings as errors, running the libFuzzer smoke
#       tests.
# The Go and Python clients are switched ON, so a missing tool fails here
# instead of leaving a smaller suite. Ends with one line, "mvm: N passed,
# N failed", over all of them. MVM_SKIP_DEPS=1 skips the apt step;
# MVM_TEST_JOBS sets -j. The real-Firecracker suites run when
# MVM_TEST_FIRECRACKER (and MVM_TEST_LINUX_KERNEL for the Linux boots) name
# the binaries (.ci/run sets them); otherwise they say SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MVM_TEST_JOBS:-$(nproc)}
[ "${MVM_SKIP_DEPS:-0}" = 1 ] || scripts/install-deps.sh

step() { printf '\n==== %s\n' "$*"; }

# Runs ctest in a build dir, keeping its summary for the closing line. A
# failed run does not stop the script: the later ones still run, and the
# exit status is 1.
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
run_ctest() {
    local dir=$1
    shift
    (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") | tee -a "$summary" || status=1
}

# Warnings are errors, every component is required.
ci=(-DMVM_WERROR=ON -DBUILD_TESTING=ON -DMVM_GO_CLIENT=ON -DMVM_PYTHON_CLIENT=ON)

step "gcc build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc "${ci[@]}" >/dev/null
cmake --build build -j "$jobs"
step "ctest (gcc)"
run_ctest build -LE manual

step "ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMVM_SANITIZE=ON -DCMAKE_C_COMPILER=gcc "${ci[@]}" \
    >/dev/null
cmake --build build-asan -j "$jobs"
step "ctest (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan -LE "no-sanitize|slow|manual"

# Only C is compiled differently by clang, so the clients are not built here.
step "clang Release build (warnings are errors)"
cmake -S . -B build-clang-release -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang \
    -DMVM_WERROR=ON -DBUILD_TESTING=ON -DMVM_GO_CLIENT=OFF -DMVM_PYTHON_CLIENT=OFF >/dev/null
cmake --build build-clang-release -j "$jobs"
step "fuzz smoke (clang libFuzzer + ASan/UBSan)"
run_ctest build-clang-release -L fuzz
step "summary"
# One closing line over every ctest run above ("N passed, N failed").
awk '/tests passed, [0-9]+ tests failed out of/ { failed += $4; total += $NF }
     END { printf "mvm: %d passed, %d failed\n", total - failed, failed }' "$summary"
exit "$status"
