#!/usr/bin/env bash
# ctest: "nic PEER NAME" end to end, inside a network namespace made for the test (never the host's):
# veth pairs made there, a privileged busybox container run by `hyperlxd-nsexec run` from there sees
# its ends as eth0/net1, up, with their addresses; a missing peer fails the start naming it, and the
# end already moved goes with the dead container's namespace.
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
in_ns ip link add hlxh0 type veth peer name hlxp0 address 00:16:3e:00:00:10 || exit 1
in_ns ip link add hlxh1 type veth peer name hlxp1 || exit 1

# sysfs mounted in the container's netns lists its interfaces; flags bit 0 is IFF_UP.
cat >"$T/spec" <<SPEC
rootfs $R
nic hlxp0 eth0
nic hlxp1 net1
arg /bin/sh
arg -c
arg for\x20i\x20in\x20eth0\x20net1;\x20do\x20echo\x20\$i\x20\$(cat\x20/sys/class/net/\$i/flags)\x20\$(cat\x20/sys/class/net/\$i/address);\x20done;\x20ls\x20/sys/class/net
SPEC
out=$(in_ns "$NSX" run --spec "$T/spec" 2>&1)
rc=$?
check "run with two nics succeeded (rc=$rc: $out)" test $rc -eq 0
check "eth0 is up with its address" grep -q '^eth0 0x1[0-9a-f]*[13579bdf] 00:16:3e:00:00:10$' <<<"$out"
check "net1 is up" grep -q '^net1 0x1[0-9a-f]*[13579bdf] ' <<<"$out"
check "the container has lo, eth0 and net1 only" test "$(tail -n +3 <<<"$out" | tr -s ' \n' ' ')" = "eth0 lo net1 "
check "the peers left the test namespace" bash -c "! ip netns exec $NS ip link show hlxp0 && ! ip netns exec $NS ip link show hlxp1" 2>/dev/null

# A missing peer: the start fails naming it; the end moved before it dies with the container's netns.
in_ns ip link add hlxh2 type veth peer name hlxp2 || exit 1
printf 'rootfs %s\nnic hlxp2 eth0\nnic hlxnope eth1\narg /bin/true\n' "$R" >"$T/bad.spec"
out=$(in_ns "$NSX" run --spec "$T/bad.spec" 2>&1)
rc=$?
check "a missing peer fails the start (rc=$rc)" test $rc -ne 0
check "the error names the peer ($out)" grep -q 'nic hlxnope: No such device' <<<"$out"
gone() { ! ip netns exec "$NS" ip link show hlxh2 >/dev/null 2>&1; }
check "the pair moved in before the failure is gone with the container" wait_for gone

# Bad names never reach the kernel.
printf 'rootfs %s\nnic hlxp2 a/b\n' "$R" >"$T/badname.spec"
out=$(in_ns "$NSX" run --spec "$T/badname.spec" 2>&1)
check "a bad name is refused by the parser ($out)" grep -q 'line 2: nic wants' <<<"$out"

[[ $failures -eq 0 ]] && echo "nic: all checks passed" || echo "nic: $failures check(s) failed"
exit $((failures > 0))
