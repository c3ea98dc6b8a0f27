#!/bin/sh
# c_only_build.sh SRC CC - what someone with only the C toolchain and
# libraries builds: a Release build (-O3, warnings as errors) of mvmd and
# mvm-cli in a temp dir, with Go, Python and the test tools hidden
# (hide_tools.sh), the clients left at AUTO and BUILD_TESTING=OFF; then
# `cmake --install` into a staging dir, checking that the programs and their
# docs land in the GNUInstallDirs places and that the programs run.
# Prints one line per check and "N passed, N failed"; exits 1 on a failure.
set -u
src=${1:?usage: c_only_build.sh SRC CC}
cc=${2:?usage: c_only_build.sh SRC CC}
. "$(dirname "$0")/hide_tools.sh"
tmp=$(mktemp -d /tmp/mvm-c-only-build-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAILED: $1"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

# shellcheck disable=SC2086 # $MVM_HIDE_TOOLS is a list of arguments
if cmake -S "$src" -B "$tmp/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
        -DMVM_WERROR=ON -DBUILD_TESTING=OFF $MVM_HIDE_TOOLS >"$tmp/configure.log" 2>&1; then
    ok "configure (Release, no Go, Python or test tools, BUILD_TESTING=OFF)"
else
    bad "configure"
    tail -30 "$tmp/configure.log"
    finish
fi
if cmake --build "$tmp/build" -j 2 >"$tmp/build.log" 2>&1; then
    ok "build, warnings as errors"
else
    bad "build"
    grep -E "error|warning" "$tmp/build.log" | head -40
    finish
fi
if DESTDIR="$tmp/root" cmake --install "$tmp/build" --prefix /usr >"$tmp/install.log" 2>&1; then
    ok "cmake --install"
else
    bad "cmake --install"
    tail -20 "$tmp/install.log"
    finish
fi

root=$tmp/root/usr
for f in sbin/mvmd bin/mvm-cli; do
    if [ -x "$root/$f" ]; then ok "installed $f"; else bad "no executable $f"; fi
done
for f in README.md docs/architecture.md docs/api.md docs/dependencies.md cli/README.md; do
    if [ -s "$root/share/doc/mvm/$f" ]; then ok "installed share/doc/mvm/$f"; else bad "no share/doc/mvm/$f"; fi
done
if "$root/sbin/mvmd" --version | grep -q "^mvmd [0-9]"; then
    ok "installed mvmd --version runs"
else
    bad "installed mvmd --version"
fi
if "$root/bin/mvm-cli" --help >/dev/null 2>&1; then
    ok "installed mvm-cli --help runs"
else
    bad "installed mvm-cli --help"
fi
finish
