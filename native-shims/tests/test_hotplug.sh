#!/usr/bin/env bash
# ctest: hyperlxd-nsexec mount/umount (hot-plug) on a real unprivileged busybox container, and the
# start's bind lines with a source below a 0700 directory (opened before the switch to container root).
# Usage: test_hotplug.sh MONITOR NSEXEC
set -uo pipefail

MON=$1
NSX=$2
failures=0
INIT=
MPID=

[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 1; }
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[[ -x $BUSYBOX ]] || { echo "needs busybox-static"; exit 1; }

T=$(mktemp -d /tmp/hlx-hotplug-test.XXXXXX)
chmod 755 "$T"
ESCAPE=hlx-hotplug-escape-$$

cleanup() {
    [[ -n $INIT ]] && kill -9 "$INIT" 2>/dev/null
    for _ in $(seq 50); do [[ -n $MPID ]] && kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
    rm -rf "/tmp/$ESCAPE"
    rm -rf "$T"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
same() { [[ $1 == "$2" ]] || { echo "  expected: $2"; echo "  got:      $1"; return 1; }; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
in_ct() { "$NSX" attach --pid "$INIT" -- "$@"; }

R=$T/rootfs
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,mnt}
cp "$BUSYBOX" "$R/bin/busybox"
for c in sh cat stat ls ln mount echo test grep mkdir; do ln -s busybox "$R/bin/$c"; done
ln -s ../bin/busybox "$R/sbin/init"
printf '::sysinit:/bin/echo hello\n' >"$R/etc/inittab"
chown -R 1000000:1000000 "$R"
# Sources below a root-only directory, as a pool's custom/ is.
mkdir -p "$T/private/boot" "$T/private/hot"
chmod 700 "$T/private"
echo at-start >"$T/private/boot/f"
echo hot >"$T/private/hot/f"
printf 'rootfs %s\nuidmap 0 1000000 65536\ngidmap 0 1000000 65536\nbind %s /mnt/boot rw\n' "$R" "$T/private/boot" >"$T/spec"

out=$("$MON" start --name hp --spec "$T/spec" --socket "$T/run/hp.sock" 2>&1)
check "start with a bind whose source is below a 0700 directory ($out)" test $? -eq 0
INIT=$(field init_pid <<<"$out")
MPID=$(field monitor_pid <<<"$out")
[[ -n $INIT ]] || exit 1
check "the start's bind is there" same "$(in_ct cat /mnt/boot/f)" "at-start"

check "hot mount of a directory, read-only, at a new path" "$NSX" mount --pid "$INIT" --source "$T/private/hot" --target /srv/a/b --ro --uid 1000000 --gid 1000000
check "its content inside" same "$(in_ct cat /srv/a/b/f)" "hot"
check "read-only inside" bash -c "! '$NSX' attach --pid $INIT -- sh -c 'echo x > /srv/a/b/g' 2>/dev/null"
check "the new levels belong to the container's root" same "$(in_ct stat -c %u:%g /srv /srv/a | tr '\n' ' ')" "0:0 0:0 "
check "nothing mounted on the host side" bash -c "! grep -q ' /srv/a/b ' /proc/self/mounts"

# A symlink the container planted cannot send the mount out of its root.
in_ct mkdir /tmp/$ESCAPE && in_ct ln -s /tmp/$ESCAPE /mnt/evil
check "hot mount through a planted symlink" "$NSX" mount --pid "$INIT" --source "$T/private/hot" --target /mnt/evil/x --uid 1000000 --gid 1000000
check "it landed inside the container" same "$(in_ct cat /tmp/$ESCAPE/x/f)" "hot"
check "not on the host" test ! -e "/tmp/$ESCAPE"

check "a file source onto a new file target" "$NSX" mount --pid "$INIT" --source "$T/private/hot/f" --target /dev/hlx-file --uid 1000000 --gid 1000000
check "the file inside" same "$(in_ct cat /dev/hlx-file)" "hot"

check "umount of the directory" "$NSX" umount --pid "$INIT" --target /srv/a/b
check "gone inside" bash -c "! '$NSX' attach --pid $INIT -- grep -q ' /srv/a/b ' /proc/self/mounts"
check "umount of what is not mounted (any more) succeeds" "$NSX" umount --pid "$INIT" --target /srv/a/b
check "umount --remove of the file target" "$NSX" umount --pid "$INIT" --target /dev/hlx-file --remove
check "the file target is removed" bash -c "! '$NSX' attach --pid $INIT -- test -e /dev/hlx-file"
check "the source survives" same "$(cat "$T/private/hot/f")" "hot"
check "a relative target is a usage error" bash -c "'$NSX' mount --pid $INIT --source /tmp --target rel 2>/dev/null; test \$? -eq 2"

if ((failures)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "hotplug: all checks passed"
