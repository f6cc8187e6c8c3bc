#!/usr/bin/env bash
# ctest: "nic HOST NAME HWADDR MTU BRIDGE" end to end, inside a network namespace made for the test (never
# the host's): a privileged busybox container run by `hyperlxd-nsexec run` from there sees eth0/net1 up
# with their address and mtu while the host ends are up (one on a bridge); a missing bridge or a taken
# host name fails the start naming it, and pairs made before go with the dead container's namespace.
# Usage: test_nic.sh NSEXEC
set -uo pipefail

NSX=$1
NS=hlx-shim-nic-$$
failures=0

[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 1; }
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[[ -x $BUSYBOX ]] || { echo "needs busybox-static"; exit 1; }

T=$(mktemp -d /tmp/hlx-shims-nic.XXXXXX)
chmod 755 "$T"
cleanup() {
    ip netns delete "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
wait_for() { for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done; return 1; }
in_ns() { ip netns exec "$NS" "$@"; }

R=$T/rootfs
mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp}
cp "$BUSYBOX" "$R/bin/busybox"
for c in sh cat; do ln -s busybox "$R/bin/$c"; done

ip netns add "$NS" || exit 1
in_ns ip link add hlxbr0 type bridge || exit 1
in_ns ip link set hlxbr0 up || exit 1

# sysfs mounted in the container's netns lists its interfaces; flags bit 0 is IFF_UP. The container
# stays up a moment so the host ends can be checked while it runs.
cat >"$T/spec" <<SPEC
rootfs $R
nic hlxh0 eth0 00:16:3e:00:00:10 0 -
nic hlxh1 net1 - 1400 hlxbr0
arg /bin/sh
arg -c
arg for\x20i\x20in\x20eth0\x20net1;\x20do\x20echo\x20\$i\x20\$(cat\x20/sys/class/net/\$i/flags)\x20\$(cat\x20/sys/class/net/\$i/address)\x20\$(cat\x20/sys/class/net/\$i/mtu);\x20done;\x20ls\x20/sys/class/net;\x20sleep\x203
SPEC
in_ns "$NSX" run --spec "$T/spec" >"$T/out" 2>&1 &
runner=$!
up() { ip netns exec "$NS" ip -o link show hlxh1 2>/dev/null | grep -q "master hlxbr0"; }
check "the host end of net1 is on the bridge while the container runs" wait_for up
check "the host end of eth0 is up and on no bridge" bash -c "ip netns exec $NS ip -o link show hlxh0 | grep -q '<.*UP.*>' && ! ip netns exec $NS ip -o link show hlxh0 | grep -q master"
wait $runner
rc=$?
out=$(cat "$T/out")
check "run with two nics succeeded (rc=$rc: $out)" test $rc -eq 0
check "eth0 is up with its address" grep -q '^eth0 0x1[0-9a-f]*[13579bdf] 00:16:3e:00:00:10 1500$' <<<"$out"
check "net1 is up with its mtu" grep -q '^net1 0x1[0-9a-f]*[13579bdf] .* 1400$' <<<"$out"
check "the container has lo, eth0 and net1 only" test "$(tail -n +3 <<<"$out" | tr -s ' \n' ' ')" = "eth0 lo net1 "
gone0() { ! ip netns exec "$NS" ip link show hlxh0 >/dev/null 2>&1 && ! ip netns exec "$NS" ip link show hlxh1 >/dev/null 2>&1; }
check "the host ends went with the container's namespace" wait_for gone0

# A missing bridge: the start fails naming it; the pair made before it dies with the container's netns.
printf 'rootfs %s\nnic hlxh2 eth0 - 0 hlxbr0\nnic hlxh3 eth1 - 0 hlxnope\narg /bin/true\n' "$R" >"$T/bad.spec"
out=$(in_ns "$NSX" run --spec "$T/bad.spec" 2>&1)
rc=$?
check "a missing bridge fails the start (rc=$rc)" test $rc -ne 0
check "the error names the nic and the bridge ($out)" grep -q 'nic eth1: bridge hlxnope: No such device' <<<"$out"
gone() { ! ip netns exec "$NS" ip link show hlxh2 >/dev/null 2>&1; }
check "the pair made before the failure is gone with the container" wait_for gone

# A host end that already exists: EEXIST names it, nothing is replaced.
in_ns ip link add hlxh4 type bridge || exit 1
printf 'rootfs %s\nnic hlxh4 eth0 - 0 -\narg /bin/true\n' "$R" >"$T/dup.spec"
out=$(in_ns "$NSX" run --spec "$T/dup.spec" 2>&1)
check "a taken host name fails the start naming it ($out)" grep -q 'nic eth0: Failed creating it (host end hlxh4): File exists' <<<"$out"

# Bad names never reach the kernel.
printf 'rootfs %s\nnic hlxh5 a/b - 0 -\n' "$R" >"$T/badname.spec"
out=$(in_ns "$NSX" run --spec "$T/badname.spec" 2>&1)
check "a bad name is refused by the parser ($out)" grep -q 'line 2: nic wants' <<<"$out"

[[ $failures -eq 0 ]] && echo "nic: all checks passed" || echo "nic: $failures check(s) failed"
exit $((failures > 0))
