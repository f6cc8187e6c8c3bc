#!/usr/bin/env bash
# ctest: the file broker (hyperlxd-nsexec attach --file-broker, file-broker --root) on real busybox
# containers (unprivileged with a 65536-id map, then privileged), driven by test_file_client.
# Usage: test_file_broker.sh MONITOR NSEXEC CLIENT
set -uo pipefail

MON=$1
NSX=$2
CLIENT=$3
failures=0
INIT=
MPID=

[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 1; }
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[[ -x $BUSYBOX ]] || { echo "needs busybox-static"; exit 1; }

T=$(mktemp -d /tmp/hlx-broker-test.XXXXXX)
chmod 755 "$T"
ESCAPE=hlx-broker-escape-$$

stop_container() {
    [[ -n $INIT ]] && kill -9 "$INIT" 2>/dev/null
    for _ in $(seq 50); do [[ -n $MPID ]] && kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
    [[ -n $MPID ]] && kill -9 "$MPID" 2>/dev/null
    INIT=
    MPID=
}
cleanup() {
    stop_container
    rm -f "/etc/$ESCAPE"
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
broker() { "$CLIENT" "$@" -- "$NSX" attach --pid "$INIT" --file-broker 3; }

R=$T/rootfs
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,mnt}
cp "$BUSYBOX" "$R/bin/busybox"
for c in sh cat stat ls ln mount echo; do ln -s busybox "$R/bin/$c"; done
ln -s ../bin/busybox "$R/sbin/init"
printf '::sysinit:/bin/echo hello-from-init\n' >"$R/etc/inittab"
chown -R 1000000:1000000 "$R"
printf 'rootfs %s\nuidmap 0 1000000 65536\ngidmap 0 1000000 65536\n' "$R" >"$T/spec"

start() { # start SPEC NAME
    local out
    out=$("$MON" start --name "$2" --spec "$1" --socket "$T/run/$2.sock" 2>&1)
    check "start $2 ($out)" test $? -eq 0
    INIT=$(field init_pid <<<"$out")
    MPID=$(field monitor_pid <<<"$out")
    [[ -n $INIT ]] || exit 1
}

# --- unprivileged: a tmpfs the container mounted itself -----------------------------------------------
start "$T/spec" c1
check "the container mounts its own tmpfs on /mnt" in_ct mount -t tmpfs tmpfs /mnt
out=$(broker put /mnt/hello hi 1000 1001 640 get /mnt/hello append /mnt/hello '!' get /mnt/hello)
check "put/get/append on the container's tmpfs" same "$out" "ok 100640 1000 1001 0
ok 100640 1000 1001 2 hi
ok 100640 1000 1001 2
ok 100640 1000 1001 3 hi!
exit 0"
check "seen inside: content, ids and mode" same "$(in_ct sh -c 'cat /mnt/hello; stat -c " %u:%g:%a" /mnt/hello')" "hi! 1000:1001:640"
check "on the host: 1001000 through the container's mount" same "$(stat -c %u:%g "/proc/$INIT/root/mnt/hello")" "1001000:1001001"
check "not on the rootfs (the tmpfs hides it from the host view)" test ! -e "$R/mnt/hello"
out=$(broker put /mnt/new x - - - mkdir /mnt/d - - - mkdir /mnt/d 7 8 700 symlink /mnt/l hello - - get /mnt/l)
check "defaults: root-owned 0644 file and 0755 dir; existing dir: only what is asked; symlink" same "$out" "ok 100644 0 0 0
ok 40755 0 0 -
ok 40700 7 8 -
ok 120777 0 0 5
ok 120777 0 0 5 hello
exit 0"
out=$(broker get /mnt)
check "list ($out)" bash -c "grep -q '^ok 41777 0 0 - ' <<<'$out' && for n in hello new d l; do grep -q \"[ ,]\$n\\(,\\|\$\\)\" <<<'$out' || exit 1; done"
out=$(broker put /mnt/d/x y - - - delete /mnt/d delete /mnt/d/x delete /mnt/d delete /mnt/l get /mnt/d get /mnt/nope/x delete /mnt/nope)
check "delete: non-empty refused, then file, dir, link; not found" same "$out" "ok 100644 0 0 0
err 39 Failed deleting \"/mnt/d\": directory not empty
ok 0 0 0 0
ok 0 0 0 0
ok 0 0 0 0
err 2 File not found: \"/mnt/d\"
err 2 File not found: \"/mnt/nope/x\"
err 2 File not found: \"/mnt/nope\"
exit 0"
out=$(broker put /mnt/hello/x y - - - put /mnt x - - - mkdir /mnt/hello - - - put / x - - - symlink /mnt/e '' - - get /dev/null)
check "bad requests" same "$out" "err 20 Failed opening \"/mnt/hello\": Not a directory
err 21 Failed writing \"/mnt\": it is a directory
err 17 Failed creating \"/mnt/hello\": a file of another type exists
err 22 Invalid path \"/\": it must name a file
err 22 Invalid symlink: the target is empty
err 22 Bad file type: \"/dev/null\" is not a regular file, directory or symlink
exit 0"
check "the container's /dev (its own tmpfs) too" same "$(broker put /dev/hello dev 1000 1000 - >/dev/null; in_ct cat /dev/hello)" dev
out=$(broker put /dev/shm/big '' 70000 0 - put /mnt/hello '' 70000 0 - mkdir /mnt/d2 0 70000 - symlink /mnt/hello x 70000 0)
check "an id the container does not map: EINVAL" same "$out" "err 22 Failed chown /dev/shm/big: Invalid argument
err 22 Failed chown /mnt/hello: Invalid argument
err 22 Failed chown /mnt/d2: Invalid argument
err 22 Failed chown /mnt/hello: Invalid argument
exit 0"
check "... and nothing changed: no new nodes, the old file whole" \
    same "$(in_ct sh -c 'echo $(ls -A /dev/shm) / $(ls -A /mnt) / $(cat /mnt/hello)')" "/ hello new / hi!"
in_ct ln -s /mnt/target /mnt/dangling
check "a dangling link: its target is made, inside, with the default owner" same "$(broker put /mnt/dangling x 5 - - get /mnt/target)" "ok 100644 5 0 0
ok 100644 5 0 1 x
exit 0"
in_ct busybox rm /mnt/dangling /mnt/target
in_ct busybox mkfifo /mnt/fifo
check "a FIFO is neither opened nor written" same "$(broker put /mnt/fifo x - - -)" "err 22 Failed writing \"/mnt/fifo\": it is not a regular file
exit 0"
in_ct busybox rm /mnt/fifo

# --- never out of the container's root ------------------------------------------------------------------
in_ct ln -s /etc /mnt/hostetc
in_ct ln -s /proc/1/root/etc /mnt/magic
out=$(broker put "../../../etc/$ESCAPE" a - - - put "/mnt/hostetc/$ESCAPE" b - - - put "/mnt/magic/$ESCAPE" c - - -)
check "escapes stay inside ($out)" test ! -e "/etc/$ESCAPE"
check "'..' and a link to /etc land in the container's /etc" same "$(in_ct cat "/etc/$ESCAPE")" b
check "a magic link is refused" grep -q '^err 40 Failed opening "/mnt/magic": it is a symlink' <<<"$out"

# --- the host view (stopped container): file-broker --root ---------------------------------------------------
out=$("$CLIENT" get /bin/busybox get /mnt/hello -- "$NSX" file-broker --root "$R" --fd 3 | cut -c1-22)
check "root mode: host ids, and no container mounts" same "$out" "ok 100755 1000000 1000
err 2 File not found: 
exit 0"
out=$("$CLIENT" get /x -- "$NSX" file-broker --root "$T/nope" --fd 3)
check "root mode: missing root ($out)" grep -q '^hello err 2 Failed opening the root' <<<"$out"

# --- cost of one broker (printed, not asserted) ---------------------------------------------------------------
start_ns=$(date +%s%N)
for _ in $(seq 50); do broker get /mnt/hello >/dev/null; done
echo "one broker process per request: $(( ($(date +%s%N) - start_ns) / 50000 )) us (spawn, enter, get, exit)"

dead=$INIT
stop_container
out=$("$CLIENT" get /x -- "$NSX" attach --pid "$dead" --file-broker 3)
check "a dead pid: the hello says why ($out)" grep -q '^hello err 3 Failed opening pidfd' <<<"$out"

# --- privileged: ids are the host's --------------------------------------------------------------------------
chown -R 0:0 "$R"
printf 'rootfs %s\n' "$R" >"$T/priv.spec"
start "$T/priv.spec" c2
out=$(broker put /dev/shm/p p 1000 1000 - get /dev/shm/p)
check "privileged: put/get on /dev/shm" same "$out" "ok 100644 1000 1000 0
ok 100644 1000 1000 1 p
exit 0"
check "privileged: 1000 inside and on the host" same "$(in_ct stat -c %u /dev/shm/p) $(stat -c %u "/proc/$INIT/root/dev/shm/p")" "1000 1000"
stop_container

if ((failures)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "file_broker: all checks passed"
