#!/bin/sh
# quickstart.sh [--keep-running] - from a fresh Debian 12 checkout to a
# working mvmd in one command: installs the dependencies, builds into build/,
# makes a dev PKI in dev/certs (once), starts build/service/mvmd (state in
# dev/state, Unix socket dev/mvmd.sock, mTLS on 127.0.0.1:7443), waits for
# its ready file, runs scripts/demo.sh against it, then stops it with
# SIGTERM unless --keep-running, and prints how to talk to it.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
keep=0
case "${1:-}" in
--keep-running) keep=1 ;;
"") ;;
*) echo "usage: scripts/quickstart.sh [--keep-running]" >&2; exit 64 ;;
esac

echo "== installing dependencies (apt)"
scripts/install-deps.sh

echo "== building into build/"
cmake -S . -B build
cmake --build build -j"$(nproc)"

dev=$root/dev
mkdir -p "$dev/state"
if [ ! -f "$dev/certs/ca.pem" ]; then
    echo "== making a development PKI in dev/certs"
    scripts/gen-certs.sh "$dev/certs"
fi

if [ -S "$dev/mvmd.sock" ] && build/cli/mvm-cli --endpoint "unix:$dev/mvmd.sock" \
    node info >/dev/null 2>&1; then
    echo "quickstart: an mvmd is already serving dev/mvmd.sock; stop it first" >&2
    exit 1
fi

echo "== starting mvmd (log: dev/mvmd.log)"
rm -f "$dev/ready"
build/service/mvmd --listen 127.0.0.1:7443 --socket "$dev/mvmd.sock" \
    --state-dir "$dev/state" --tls-cert "$dev/certs/server.pem" \
    --tls-key "$dev/certs/server.key" --client-ca "$dev/certs/ca.pem" \
    --ready-file "$dev/ready" >"$dev/mvmd.log" 2>&1 &
pid=$!
echo "$pid" >"$dev/mvmd.pid"

stop() {
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" || true
    fi
    rm -f "$dev/mvmd.pid"
}

n=0
while [ ! -s "$dev/ready" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "quickstart: mvmd exited; its log:" >&2
        cat "$dev/mvmd.log" >&2
        exit 1
    fi
    n=$((n + 1))
    if [ $n -gt 600 ]; then
        echo "quickstart: mvmd did not write dev/ready within a minute" >&2
        stop
        exit 1
    fi
    sleep 0.1
done
sed 's/^/  ready: /' "$dev/ready"

cat >"$dev/cli.conf" <<CONF
# mvm-cli settings for the quickstart mvmd (use with MVM_CONFIG or --config)
endpoint = 127.0.0.1:7443
ca = $dev/certs/ca.pem
cert = $dev/certs/client.pem
key = $dev/certs/client.key
CONF

echo "== running scripts/demo.sh"
status=0
MVM_CLI=$root/build/cli/mvm-cli MVM_ENDPOINT=127.0.0.1:7443 \
    MVM_CA=$dev/certs/ca.pem MVM_CERT=$dev/certs/client.pem \
    MVM_KEY=$dev/certs/client.key scripts/demo.sh || status=$?

if [ $keep -eq 0 ]; then
    echo "== stopping mvmd (SIGTERM)"
    stop
    echo "mvmd stopped. Start it again with --keep-running to keep it up."
else
    cat <<EOT

mvmd is running (pid $pid, log dev/mvmd.log). Talk to it with:

  export MVM_CONFIG=$dev/cli.conf       # mTLS to 127.0.0.1:7443
  $root/build/cli/mvm-cli node info
  $root/build/cli/mvm-cli tenant list

or over the Unix socket, no certificates needed:

  $root/build/cli/mvm-cli --endpoint unix:$dev/mvmd.sock tenant list

Stop it with: kill -TERM \$(cat $dev/mvmd.pid)
EOT
fi
[ $status -eq 0 ] || echo "quickstart: the demo FAILED (exit $status)" >&2
exit $status
