#!/bin/sh
# quickstart.sh [--keep-running] - from a fresh Debian 12 checkout to a
# working mvmd in one command: installs the dependencies, builds into build/,
# makes a dev PKI in dev/certs (once), starts build/service/mvmd (state in
# dev/state, Unix socket dev/mvmd.sock, mTLS on 127.0.0.1:7443, Prometheus
# metrics on a free loopback port), waits for its ready file, runs
# scripts/demo.sh against it, then stops it with SIGTERM unless
# --keep-running, and prints how to talk to it.
#
# The demo boots a real microVM when the node can: /dev/kvm and a
# Firecracker binary, MVM_FIRECRACKER or `firecracker` on PATH. Its guest is
# the project's freestanding test guest (build/tests/guest/mvm-test-guest),
# unless MVM_DEMO_KERNEL and MVM_DEMO_ROOTFS (and MVM_DEMO_BOOT_ARGS) name
# another. Without Firecracker or KVM the demo says so and skips the boot.
#
# Settings (environment): MVM_SKIP_DEPS=1 skips the apt step, MVM_SKIP_BUILD=1
# the build; MVM_BUILD_DIR (default build), MVM_DEV_DIR (default dev) and
# MVM_LISTEN (default 127.0.0.1:7443) move things elsewhere.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
keep=0
case "${1:-}" in
--keep-running) keep=1 ;;
"") ;;
*) echo "usage: scripts/quickstart.sh [--keep-running]" >&2; exit 64 ;;
esac
build=${MVM_BUILD_DIR:-build}
dev=${MVM_DEV_DIR:-$root/dev}
listen=${MVM_LISTEN:-127.0.0.1:7443}
case $build in /*) ;; *) build=$root/$build ;; esac

if [ "${MVM_SKIP_DEPS:-0}" != 1 ]; then
    echo "== installing dependencies (apt)"
    scripts/install-deps.sh
fi

if [ "${MVM_SKIP_BUILD:-0}" != 1 ]; then
    echo "== building into $build"
    cmake -S . -B "$build"
    cmake --build "$build" -j"$(nproc)"
fi
cli=$build/cli/mvm-cli

mkdir -p "$dev/state"
if [ ! -f "$dev/certs/ca.pem" ]; then
    echo "== making a development PKI in $dev/certs"
    scripts/gen-certs.sh "$dev/certs"
fi

if [ -S "$dev/mvmd.sock" ] && "$cli" --endpoint "unix:$dev/mvmd.sock" \
    node info >/dev/null 2>&1; then
    echo "quickstart: an mvmd is already serving $dev/mvmd.sock; stop it first" >&2
    exit 1
fi

# Says who holds a TCP port (ss from iproute2; as root it names the process).
holder() {
    ss -Hltnp "sport = :${1##*:}" 2>/dev/null | sed 's/^/    /'
}

# The microVM the demo boots.
fc=${MVM_FIRECRACKER:-$(command -v firecracker || true)}
kernel=${MVM_DEMO_KERNEL:-$build/tests/guest/mvm-test-guest}
rootfs=${MVM_DEMO_ROOTFS:-$dev/images/rootfs.ext4}
if [ -z "${MVM_DEMO_ROOTFS:-}" ] && [ ! -f "$rootfs" ]; then
    mkdir -p "$dev/images"
    truncate -s 16M "$rootfs" # the test guest reads no disk; a pool needs one
fi
if [ ! -f "$kernel" ]; then
    echo "quickstart: no guest kernel at $kernel (build the project, or set MVM_DEMO_KERNEL)" >&2
    exit 1
fi
if [ -n "$fc" ]; then
    echo "== Firecracker: $fc"
else
    echo "== no Firecracker (set MVM_FIRECRACKER or put firecracker on PATH):" \
         "the demo will not boot a microVM"
fi

echo "== starting mvmd (log: $dev/mvmd.log)"
rm -f "$dev/ready"
# Metrics on a free port: the default 127.0.0.1:9464 may belong to another
# exporter (or another mvmd); the ready file says which port was picked.
"$build/service/mvmd" --listen "$listen" --socket "$dev/mvmd.sock" \
    --state-dir "$dev/state" --tls-cert "$dev/certs/server.pem" \
    --tls-key "$dev/certs/server.key" --client-ca "$dev/certs/ca.pem" \
    --metrics-listen 127.0.0.1:0 --ready-file "$dev/ready" \
    ${fc:+--firecracker "$fc"} >"$dev/mvmd.log" 2>&1 &
pid=$!
echo "$pid" >"$dev/mvmd.pid"

stop() {
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" || true
    fi
    rm -f "$dev/mvmd.pid"
}
# Interrupted before the end: take mvmd down too.
trap 'stop; exit 1' INT TERM HUP

# ready_value KEY: the value of the "KEY value" line of the ready file.
ready_value() {
    sed -n "s/^$1 //p" "$dev/ready" 2>/dev/null | head -n 1
}

n=0
while [ -z "$(ready_value tls)" ] || [ -z "$(ready_value metrics)" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" || true
        rm -f "$dev/mvmd.pid"
        if grep -q "Address already in use" "$dev/mvmd.log"; then
            echo "quickstart: mvmd cannot listen on $listen: another program holds it:" >&2
            holder "$listen" >&2
            echo "quickstart: stop that program, or choose another address with" \
                 "MVM_LISTEN=127.0.0.1:PORT" >&2
        else
            echo "quickstart: mvmd exited; its log:" >&2
            cat "$dev/mvmd.log" >&2
        fi
        exit 1
    fi
    n=$((n + 1))
    if [ $n -gt 600 ]; then
        echo "quickstart: mvmd did not write $dev/ready within a minute" >&2
        stop
        exit 1
    fi
    sleep 0.1
done
endpoint=$(ready_value tls)
metrics=$(ready_value metrics)
sed 's/^/  ready: /' "$dev/ready"

cat >"$dev/cli.conf" <<CONF
# mvm-cli settings for the quickstart mvmd (use with MVM_CONFIG or --config)
endpoint = $endpoint
ca = $dev/certs/ca.pem
cert = $dev/certs/client.pem
key = $dev/certs/client.key
CONF

echo "== running scripts/demo.sh"
status=0
MVM_CLI=$cli MVM_ENDPOINT=$endpoint \
    MVM_CA=$dev/certs/ca.pem MVM_CERT=$dev/certs/client.pem \
    MVM_KEY=$dev/certs/client.key MVM_DEMO_KERNEL=$kernel MVM_DEMO_ROOTFS=$rootfs \
    scripts/demo.sh || status=$?

trap - INT TERM HUP
if [ $keep -eq 0 ]; then
    echo "== stopping mvmd (SIGTERM)"
    stop
    echo "mvmd stopped. Start it again with --keep-running to keep it up."
else
    cat <<EOT

mvmd is running (pid $pid, log $dev/mvmd.log). Talk to it with:

  export MVM_CONFIG=$dev/cli.conf       # mTLS to $endpoint
  $cli node info
  $cli tenant list

or over the Unix socket, no certificates needed:

  $cli --endpoint unix:$dev/mvmd.sock tenant list

Prometheus metrics: http://$metrics/metrics

Stop it with: kill -TERM \$(cat $dev/mvmd.pid)
EOT
fi
[ $status -eq 0 ] || echo "quickstart: the demo FAILED (exit $status)" >&2
exit $status
