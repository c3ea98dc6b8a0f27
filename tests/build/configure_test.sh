#!/bin/sh
# configure_test.sh SRC CC - the build's promises about what it needs, each a
# configure (no build) in a temp dir with the optional tools hidden
# (hide_tools.sh):
#   - mvmd and mvm-cli configure with no Go, no Python and no test tools
#     (BUILD_TESTING=OFF), the clients in AUTO are skipped with a warning
#     saying why, and no test is registered;
#   - a client switched ON without its tools, or BUILD_TESTING=ON without the
#     tests' tools, fails, naming what is missing and the way out;
#   - a client switched OFF is skipped without a warning;
#   - a bad switch value fails;
#   - a test source that is missing fails the configure instead of leaving
#     a smaller suite.
# Prints one line per check and "N passed, N failed"; exits 1 on a failure.
set -u
src=${1:?usage: configure_test.sh SRC CC}
cc=${2:?usage: configure_test.sh SRC CC}
tmp=$(mktemp -d /tmp/mvm-configure-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
. "$(dirname "$0")/hide_tools.sh"
hide=$MVM_HIDE_TOOLS
n=0

# configure SRC ARGS...: configures SRC in a fresh dir ($dir); its output in $out, status in $rc.
configure() {
    n=$((n + 1))
    dir=$tmp/b$n
    from=$1
    shift
    cmake -S "$from" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release "$@" \
        >"$tmp/out" 2>&1
    rc=$?
    out=$(cat "$tmp/out")
}

ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() {
    failed=$((failed + 1))
    echo "FAILED: $1"
    echo "---- cmake output:"
    echo "$out" | tail -30
    echo "----"
}
# expect WHAT STATUS PATTERN...: $rc is STATUS (0, or "fail" for nonzero) and
# every fixed-string PATTERN is in the output.
expect() {
    what=$1 want=$2
    shift 2
    if [ "$want" = 0 ] && [ "$rc" != 0 ]; then bad "$what: configure failed (status $rc)"; return; fi
    if [ "$want" = fail ] && [ "$rc" = 0 ]; then bad "$what: configure succeeded"; return; fi
    for p in "$@"; do
        if ! printf '%s\n' "$out" | tr -s ' \n' '  ' | grep -qF -- "$p"; then
            bad "$what: no \"$p\" in the output"
            return
        fi
    done
    ok "$what"
}
# expect_not WHAT PATTERN: PATTERN is not in the output.
expect_not() {
    if printf '%s\n' "$out" | grep -qF -- "$2"; then bad "$1: \"$2\" in the output"; else ok "$1"; fi
}

# shellcheck disable=SC2086 # $hide is a list of arguments
configure "$src" $hide -DBUILD_TESTING=OFF
expect "C only: configures with Go, Python and test tools missing" 0 \
    "SKIPPED: the Python client" "/nonexistent/python3 (Debian python3)" \
    "SKIPPED: the Go client" "go (Debian golang-go)" "-DMVM_GO_CLIENT=OFF"
if [ "$rc" = 0 ]; then
    if [ -d "$dir/service/CMakeFiles/mvmd.dir" ] && [ -d "$dir/cli/CMakeFiles/mvm-cli.dir" ]; then
        ok "C only: mvmd and mvm-cli are targets"
    else
        bad "C only: no mvmd or mvm-cli target"
    fi
    if [ -d "$dir/clients/go" ] || [ -d "$dir/clients/python" ] || [ -d "$dir/tests" ]; then
        bad "C only: clients/ or tests/ configured although skipped"
    else
        ok "C only: neither clients nor tests configured"
    fi
    if (cd "$dir" && ctest -N) | grep -q "Total Tests: 0"; then
        ok "C only: BUILD_TESTING=OFF registers no test"
    else
        bad "C only: tests registered with BUILD_TESTING=OFF"
    fi
fi

configure "$src" $hide -DBUILD_TESTING=OFF -DMVM_GO_CLIENT=ON -DMVM_PYTHON_CLIENT=OFF
expect "MVM_GO_CLIENT=ON without Go fails" fail "MVM_GO_CLIENT=ON, but" "go (Debian golang-go)" \
    "Go package google.golang.org/grpc in /nonexistent/gocode (Debian golang-google-grpc-dev)"

configure "$src" $hide -DBUILD_TESTING=OFF -DMVM_GO_CLIENT=OFF -DMVM_PYTHON_CLIENT=ON
expect "MVM_PYTHON_CLIENT=ON without Python fails" fail "MVM_PYTHON_CLIENT=ON, but" \
    "/nonexistent/python3 (Debian python3)"

configure "$src" $hide -DMVM_GO_CLIENT=OFF -DMVM_PYTHON_CLIENT=OFF
expect "BUILD_TESTING=ON (the default) without the tests' tools fails" fail \
    "BUILD_TESTING is ON, but the tests cannot run; missing:" "openssl (Debian openssl)" \
    "-DBUILD_TESTING=OFF"

configure "$src" $hide -DBUILD_TESTING=OFF -DMVM_GO_CLIENT=OFF -DMVM_PYTHON_CLIENT=off
expect "clients OFF: said, without a warning" 0 "MVM_GO_CLIENT=OFF: not building the Go client" \
    "MVM_PYTHON_CLIENT=OFF: not building the Python client"
expect_not "clients OFF: no SKIPPED warning" "SKIPPED"

configure "$src" $hide -DBUILD_TESTING=OFF -DMVM_GO_CLIENT=maybe
expect "MVM_GO_CLIENT=maybe fails" fail "MVM_GO_CLIENT=maybe: want AUTO, ON or OFF"

# A copy of the tree without one unit test's source: the suite must not
# shrink quietly. The real tools are used; only the clients are off.
mkdir "$tmp/src"
(cd "$src" && tar -cf - --exclude='./build*' --exclude=./.git --exclude=./dev .) | (cd "$tmp/src" && tar -xf -)
rm "$tmp/src/tests/unit/store_pool_test.c"
configure "$tmp/src" -DMVM_GO_CLIENT=OFF -DMVM_PYTHON_CLIENT=OFF
expect "a missing test source fails the configure" fail "store_pool_test.c"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
