#!/bin/sh
# demo.sh - a guided tour of a running mvmd with mvm-cli: node facts,
# tenants, pools and instances with labels, a conditional update losing to a
# concurrent one (ABORTED), an error with its status code, a few watch
# events, and deleting everything again. Exits non-zero as soon as a step
# does something other than what it says it expects.
#
# When the node can run microVMs (Firecracker and KVM, as `node info` says),
# it boots one: starts an instance, shows its console, puts it to sleep and
# wakes it, stops it (Ctrl-Alt-Del), builds the pool's base snapshot, forks
# three clones of it and shows the disk they take; otherwise it says what
# the node lacks and skips that part.
#
# Needs: MVM_CLI (path of mvm-cli; default: mvm-cli on PATH), the connection
# settings mvm-cli reads (MVM_ENDPOINT, MVM_CERT, MVM_KEY, MVM_CA), and the
# images the demo pool names: MVM_DEMO_KERNEL (a Firecracker guest kernel,
# e.g. build/tests/guest/mvm-test-guest) and MVM_DEMO_ROOTFS (its root
# disk), files on the node; MVM_DEMO_BOOT_ARGS optionally (default
# "console=ttyS0 reboot=k panic=1").
set -u
CLI=${MVM_CLI:-mvm-cli}
KERNEL=${MVM_DEMO_KERNEL:?set MVM_DEMO_KERNEL to a guest kernel file on the node}
ROOTFS=${MVM_DEMO_ROOTFS:?set MVM_DEMO_ROOTFS to a root disk image file on the node}
BOOT_ARGS=${MVM_DEMO_BOOT_ARGS:-console=ttyS0 reboot=k panic=1}
T1=demo-acme
T2=demo-globex
tmp=$(mktemp -d)
watch_pid=

cleanup() {
    [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ -t 1 ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi
die() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }

# run ARGS...: shows and runs "mvm-cli ARGS", which must succeed.
run() {
    printf '$ mvm-cli %s\n' "$*"
    "$CLI" "$@" || die "mvm-cli $* exited $?"
}

# expect CODE ARGS...: shows and runs "mvm-cli ARGS", which must exit CODE.
expect() {
    want=$1
    shift
    printf '$ mvm-cli %s   # expecting exit %s\n' "$*" "$want"
    "$CLI" "$@" 2>&1
    got=$?
    [ "$got" -eq "$want" ] || die "mvm-cli $* exited $got, not $want"
    printf '(exit %s, as expected)\n' "$got"
}

# json_field NAME < JSON: the first string or number value of "NAME".
json_field() {
    sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" | head -n 1
}

# Leftovers of an interrupted earlier run would make the creates fail.
for t in "$T1" "$T2"; do
    if "$CLI" tenant get "$t" >/dev/null 2>&1; then
        die "tenant $t exists already (an earlier demo?); delete it first"
    fi
done

say "The node"
run node info
run health check

say "Two tenants, each with a /24 of its own, a quota and labels"
run tenant create "$T1" --net-id 201 --subnet 10.240.201.0/24 \
    --quota-max-instances 8 --label tier=gold --label team=web
run tenant create "$T2" --net-id 202 --subnet 10.240.202.0/24 --label tier=silver
run tenant list --label-selector tier=gold

say "A pool: the template for instances"
run pool create web --tenant "$T1" --vcpus 1 --mem-mib 128 \
    --kernel-image "$KERNEL" --rootfs-image "$ROOTFS" --boot-args "$BOOT_ARGS" --label app=frontend
run pool list --tenant "$T1"

say "Instances: an address, MAC and TAP each, from the tenant's subnet"
i1=$("$CLI" instance create --tenant "$T1" --pool web --label role=api -o json |
    json_field id) || die "instance create failed"
[ -n "$i1" ] || die "instance create printed no id"
i2=$("$CLI" instance create --tenant "$T1" --pool web --label role=worker -o json |
    json_field id)
[ -n "$i2" ] || die "second instance create printed no id"
echo "created $i1 and $i2"
run instance list --tenant "$T1"
run instance get "$i1" --tenant "$T1" -o json

say "Networking: a netns each (tap0 inside, a veth into the tenant's bridge), egress, forwards"
# With networking on (mvmd --network auto: root with /dev/net/tun), each
# instance has its netns mvm-<id>; the node log says whether it is on.
run tenant update "$T1" --egress 203.0.113.0/24 --egress 198.51.100.7/32
run instance forward "$i1" --tenant "$T1" --forward tcp:18080:80 --forward udp:15353:53
expect 6 instance forward "$i2" --tenant "$T1" --forward tcp:18080:8080
run instance get "$i1" --tenant "$T1"

say "Conditional updates: the second writer with the old version loses"
v=$("$CLI" tenant get "$T1" -o json | json_field resourceVersion)
[ -n "$v" ] || die "no resourceVersion"
echo "tenant $T1 is at resource_version $v"
run tenant update "$T1" --quota-max-instances 16 --resource-version "$v"
expect 10 tenant update "$T1" --label tier=bronze --resource-version "$v"
run tenant get "$T1"

say "Errors carry a gRPC status, which is also the exit code"
expect 5 tenant get no-such-tenant
expect 6 tenant create "$T2" --net-id 203 --subnet 10.240.203.0/24
expect 9 pool delete web --tenant "$T1"

say "Desired state: what Apply would change (a dry run), and the node's status"
cat >"$tmp/state.json" <<EOF
{"generation": 1,
 "tenants": [{"name": "$T1", "netId": 201, "subnet": "10.240.201.0/24",
              "quota": {"maxInstances": 16}, "labels": {"tier": "gold", "team": "web"}},
             {"name": "$T2", "netId": 202, "subnet": "10.240.202.0/24",
              "labels": {"tier": "silver"}}],
 "pools": [{"tenant": "$T1", "name": "web", "vcpus": 1, "memMib": 128,
            "kernelImage": "$KERNEL", "rootfsImage": "$ROOTFS", "bootArgs": "$BOOT_ARGS",
            "labels": {"app": "frontend"}, "desiredInstances": 2, "desiredWarm": 1}]}
EOF
run node apply -f "$tmp/state.json" --dry-run
run node status

say "Watching instance events"
# wait_for PATTERN: until the watch output has a line matching PATTERN.
wait_for() {
    n=0
    until grep -q "$1" "$tmp/watch"; do
        n=$((n + 1))
        [ $n -le 300 ] || die "watch never showed $1: $(cat "$tmp/watch")"
        kill -0 "$watch_pid" 2>/dev/null || die "watch ended early: $(cat "$tmp/watch")"
        sleep 0.1
    done
}
: >"$tmp/watch"
echo '$ mvm-cli instance watch --tenant '"$T1"' --send-initial &'
"$CLI" instance watch --tenant "$T1" --send-initial >"$tmp/watch" 2>&1 &
watch_pid=$!
# The initial ADDED events, one per instance, show the watch is in place.
wait_for "ADDED.*$i1"
wait_for "ADDED.*$i2"
i3=$("$CLI" instance create --tenant "$T1" --pool web -o json | json_field id)
[ -n "$i3" ] || die "third instance create printed no id"
echo "created $i3"
run instance delete "$i3" --tenant "$T1"
wait_for "ADDED.*$i3"
wait_for "DELETED.*$i3"
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null
watch_pid=
cat "$tmp/watch"

say "A microVM: boot, console, stop"
info=$("$CLI" node info -o json) || die "node info failed"
if printf '%s' "$info" | grep -q '"firecrackerOk": *true' &&
    printf '%s' "$info" | grep -q '"kvmOk": *true'; then
    run instance start "$i1" --tenant "$T1"
    # The guest's console, until it has said something (a hang guard of 60 s).
    n=0
    until "$CLI" instance logs "$i1" --tenant "$T1" 2>/dev/null | grep -q .; do
        n=$((n + 1))
        [ $n -le 600 ] || die "instance $i1 printed nothing on its console in 60 s"
        sleep 0.1
    done
    sleep 2 # a few more lines
    printf '$ mvm-cli instance logs %s --tenant %s\n' "$i1" "$T1"
    "$CLI" instance logs "$i1" --tenant "$T1" || die "instance logs failed"
    run instance get "$i1" --tenant "$T1"

    say "Sleep (a snapshot on disk, no process) and wake (restored, not rebooted)"
    run instance sleep "$i1" --tenant "$T1"
    run instance wake "$i1" --tenant "$T1"
    sleep 2
    printf '$ mvm-cli instance logs %s --tenant %s --tail-bytes 200\n' "$i1" "$T1"
    "$CLI" instance logs "$i1" --tenant "$T1" --tail-bytes 200 || die "instance logs failed"
    run instance stop "$i1" --tenant "$T1"
    run instance get "$i1" --tenant "$T1"

    say "A base snapshot of the pool, and clones of it"
    run pool update web --tenant "$T1" --ready-delay-seconds 2
    run pool build-base web --tenant "$T1"
    n=0
    until "$CLI" pool get web --tenant "$T1" -o json | grep -q BASE_SNAPSHOT_STATE_READY; do
        n=$((n + 1))
        "$CLI" pool get web --tenant "$T1" -o json | grep -q BASE_SNAPSHOT_STATE_FAILED &&
            die "the base snapshot build failed: $("$CLI" pool get web --tenant "$T1" -o json)"
        [ $n -le 1200 ] || die "the base snapshot was not READY in 120 s"
        sleep 0.1
    done
    run pool get web --tenant "$T1"
    run snapshot list --tenant "$T1"
    run instance fork --tenant "$T1" --pool web --clones 3
    run instance list --tenant "$T1"
    run node disk-usage --tenant "$T1"
    for c in $("$CLI" instance list --tenant "$T1" -o json | grep -o '"i-[0-9a-f]\{16\}"' |
        tr -d '"' | sort -u); do
        [ "$c" = "$i1" ] || [ "$c" = "$i2" ] || run instance delete "$c" --tenant "$T1"
    done

    say "The node keeps the pool at 3 instances, 1 of them a paused spare"
    # converged N: until the pool's status is CONVERGED with N managed
    # instances (none: the field is left out at 0)
    converged() {
        n=0
        until "$CLI" pool get web --tenant "$T1" -o json | tr -d ' \n' |
            grep -q "\"status\":{\"state\":\"RECONCILE_STATE_CONVERGED\"$1"; do
            n=$((n + 1))
            [ $n -le 600 ] || die "pool web did not converge: $("$CLI" pool get web --tenant "$T1")"
            sleep 0.1
        done
        # the node's status is the reconcile loop's: it follows a round later
        until "$CLI" node status -o json | tr -d ' \n' | grep -q '"converged":true'; do
            n=$((n + 1))
            [ $n -le 600 ] || die "the node's status never converged: $("$CLI" node status)"
            sleep 0.1
        done
    }
    run pool update web --tenant "$T1" --desired-instances 3 --desired-warm 1
    converged ',"instances":3'
    run node status
    run instance list --tenant "$T1"
    run pool update web --tenant "$T1" --desired-instances 0 --desired-warm 0
    converged '[,}]'
    run pool list --tenant "$T1"
else
    fc=$(printf '%s' "$info" | json_field firecrackerStatus)
    kvm=$(printf '%s' "$info" | json_field kvmStatus)
    echo "SKIPPED: this node cannot boot microVMs (Firecracker: ${fc:-?}; KVM: ${kvm:-?})."
    echo "Give mvmd --firecracker PATH (the quickstart reads MVM_FIRECRACKER) on a machine"
    echo "with /dev/kvm to see an instance boot here."
fi

say "Deleting everything"
run instance delete "$i1" --tenant "$T1"
run instance delete "$i2" --tenant "$T1"
run pool delete web --tenant "$T1"
run tenant delete "$T1"
run tenant delete "$T2"
expect 5 tenant get "$T1"

say "Demo finished: every step did what it should"
