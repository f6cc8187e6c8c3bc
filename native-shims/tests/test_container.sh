#!/usr/bin/env bash
# ctest: real containers through hyperlxd-monitor and hyperlxd-nsexec (root, user namespace with a
# 65536-id map, v1 + v2 cgroups under hyperlxd/test-*), on a busybox-static rootfs.
# Usage: test_container.sh MONITOR NSEXEC
set -uo pipefail

MON=$1
NSX=$2
ID=test-$$
CGROUPS=(/sys/fs/cgroup/memory/hyperlxd/$ID /sys/fs/cgroup/cpuset/hyperlxd/$ID /sys/fs/cgroup/pids/hyperlxd/$ID
         /sys/fs/cgroup/unified/hyperlxd/$ID)
failures=0
INIT=
MPID=
FAKE=

[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 1; }
BUSYBOX=$(command -v busybox || echo /bin/busybox)
[[ -x $BUSYBOX ]] || { echo "needs busybox-static"; exit 1; }

T=$(mktemp -d /tmp/hlx-shims-test.XXXXXX)
chmod 755 "$T"
SOCK=$T/run/c1.sock

cleanup() {
    [[ -n $FAKE ]] && kill -9 "$FAKE" 2>/dev/null
    [[ -n $INIT ]] && kill -9 "$INIT" 2>/dev/null
    # The monitor exits by itself once init is gone; wait for it (bounded), then make sure.
    for _ in $(seq 50); do [[ -n $MPID ]] && kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
    [[ -n $MPID ]] && kill -9 "$MPID" 2>/dev/null
    for cg in "${CGROUPS[@]}"; do
        [[ -d $cg ]] || continue
        for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
    done
    rm -rf "$T"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

wait_for() { # wait_for COMMAND...: polls a condition (no timing assertion: 20 s is a hang guard)
    for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
    return 1
}

# --- rootfs -------------------------------------------------------------------------------------
R=$T/rootfs
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root}
cp "$BUSYBOX" "$R/bin/busybox"
for c in sh echo sleep cat id hostname ls stat tty stty umount; do ln -s busybox "$R/bin/$c"; done
ln -s ../bin/busybox "$R/sbin/init"
printf '::sysinit:/bin/echo hello-from-init\n::shutdown:/bin/echo goodbye-from-init\n' >"$R/etc/inittab"
# Bind sources and targets: a space in both (escaped in the spec), missing target parents, and a
# planted absolute symlink that must resolve inside the rootfs, never to the host's $T/outside.
mkdir -p "$T/shared dir" "$T/outside" "$R$T/outside"
echo hello-bind >"$T/shared dir/f"
ln -s "$T/outside" "$R/escape"
chown -R 1000000:1000000 "$R"

cat >"$T/spec" <<SPEC
# test container
rootfs $R
hostname hlx-$ID
uidmap 0 1000000 65536
gidmap 0 1000000 65536
$(for cg in "${CGROUPS[@]}"; do echo "cgroup $cg"; done)
cap-drop sys_time
cap-drop sys_module
seccomp default
rlimit nofile 1024 4096
env container=lxc
# Escaped fields (README "Container spec"): a would-be directive inside a value stays data.
env INJECT=a\\x0ahook-prestart\\x20touch\\x20$T/pwned
env QUOTED=a\\x20b=c\\x09"q"\\x27\\\\
bind $T/shared\\x20dir /mnt/deep/er\\x20x/target rw
bind $T/shared\\x20dir /escape/sub/target ro
SPEC

req() { "$MON" request --socket "$SOCK" "$@"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# --- bad spec: clear error, nothing started --------------------------------------------------------
printf 'rootfs %s\nbogus 1\n' "$R" >"$T/bad.spec"
out=$("$MON" start --name bad --spec "$T/bad.spec" --socket "$T/run/bad.sock" 2>&1)
rc=$?
check "bad spec is refused (rc=$rc: $out)" test $rc -ne 0
check "bad spec error names the key" grep -q 'line 2: unknown key "bogus"' <<<"$out"
check "bad spec leaves no socket" test ! -e "$T/run/bad.sock"

# --- start failure inside the child: (errno, message) back, nothing left running -------------------------
mkdir -p "$T/empty"/{proc,sys,dev}
printf 'rootfs %s\n' "$T/empty" >"$T/noinit.spec"
out=$("$MON" start --name noinit --spec "$T/noinit.spec" --socket "$T/run/noinit.sock" 2>&1)
rc=$?
check "missing init is refused (rc=$rc)" test $rc -eq 1
check "missing init error ($out)" grep -q 'errno=2: Failed exec /sbin/init' <<<"$out"
check "failed start leaves no socket" test ! -e "$T/run/noinit.sock"

# --- start from a fake daemon that we kill -9 afterwards --------------------------------------------
( "$MON" start --name c1 --spec "$T/spec" --socket "$SOCK" --log "$T/c1.log" >"$T/start.out" 2>&1
  echo $? >"$T/start.rc"; exec sleep 1000 ) &
FAKE=$!
wait_for test -s "$T/start.rc"
check "monitor start succeeded ($(cat "$T/start.out"))" test "$(cat "$T/start.rc")" = 0
INIT=$(field init_pid <"$T/start.out")
MPID=$(field monitor_pid <"$T/start.out")
check "init pid reported" test -n "$INIT"
[[ -n $INIT ]] || exit 1

check "uid 0 inside is 1000000 on the host" grep -qP '^Uid:\t1000000\t' /proc/$INIT/status
check "init is in the memory cgroup" grep -qx "$INIT" "${CGROUPS[0]}/cgroup.procs"
check "init is in the v2 cgroup" grep -qx "$INIT" "${CGROUPS[3]}/cgroup.procs"
# init's environment, one NUL-terminated entry at a time (values may hold newlines).
has_env() { local e; while IFS= read -r -d '' e; do [[ $e == "$1" ]] && return 0; done </proc/$INIT/environ; return 1; }
check "an escaped newline stays inside its env value" has_env $'INJECT=a\nhook-prestart touch '"$T/pwned"
check "spaces, =, tab, quotes, backslash arrive intact" has_env $'QUOTED=a b=c\t"q"\'\\'
check "no directive ran from an env value" test ! -e "$T/pwned"
check "bind with missing parents and spaces" test "$("$NSX" attach --pid "$INIT" -- cat '/mnt/deep/er x/target/f')" = hello-bind
check "bind through a planted symlink stays inside the rootfs" test "$("$NSX" attach --pid "$INIT" -- cat /escape/sub/target/f)" = hello-bind
check "nothing created on the host through the symlink" test ! -e "$T/outside/sub"
check "the missing levels were made inside the rootfs" test -d "$R$T/outside/sub/target"
check "monitor is init's parent" test "$(awk '/^PPid:/{print $2}' /proc/$INIT/status)" = "$MPID"
check "state file says running" grep -q 'state=running' "$T/run/c1.state"

kill -9 "$FAKE"; wait "$FAKE" 2>/dev/null; FAKE=
check "container survives the daemon's death" bash -c "$(declare -f); kill -0 $INIT"
check "status after daemon death: running" bash -c "'$MON' request --socket '$SOCK' status | grep -q 'state=running init_pid=$INIT'"

console_has() { req console-log | grep -q "$1"; }
check "console log has init's output" wait_for console_has hello-from-init

# --- attach -------------------------------------------------------------------------------------------
"$NSX" attach --pid "$INIT" -- sh -c 'exit 7'
check "attach exit code 7" test $? -eq 7
out=$("$NSX" attach --pid "$INIT" -- /no/such/binary 2>&1)
rc=$?
check "attach missing binary: 127 (rc=$rc)" test $rc -eq 127
check "attach missing binary: errno message ($out)" grep -q 'errno=2: Failed exec /no/such/binary' <<<"$out"
exec 9>"$T/errfd"
"$NSX" attach --pid "$INIT" --errfd 9 -- /no/such/binary 2>"$T/errfd.stderr"
exec 9>&-
check "attach --errfd gets the (errno, message) record" grep -q 'Failed exec /no/such/binary' "$T/errfd"
check "attach --errfd keeps stderr clean" test ! -s "$T/errfd.stderr"
check "attach sees the hostname" test "$("$NSX" attach --pid "$INIT" -- hostname)" = "hlx-$ID"
check "attach as uid 1000" test "$("$NSX" attach --pid "$INIT" --uid 1000 --gid 1000 -- id -u)" = 1000
check "attach env and cwd" test "$("$NSX" attach --pid "$INIT" --cwd /tmp --env FOO=bar -- sh -c 'echo $FOO $(pwd)')" = "bar /tmp"
check "attach is seccomp-filtered" bash -c "'$NSX' attach --pid $INIT -- cat /proc/self/status | grep -q '^Seccomp:.*2'"
check "attach stdin is inherited" test "$(echo piped | "$NSX" attach --pid "$INIT" -- cat)" = piped
check "init's bounding set lacks sys_time" bash -c "(( (0x$(awk '/^CapBnd:/{print $2}' /proc/$INIT/status) >> 25) % 2 == 0 ))"
check "attach is in the container's cgroup" bash -c "'$NSX' attach --pid $INIT -- cat /proc/self/cgroup | grep -q '^[0-9]*:memory:/\$'"
# Interactive attach as the daemon does it: listen on a socket, get the pty master (SCM_RIGHTS) of a
# new pty of the container's devpts, read until EIO. Prints the command's output, then "rc=N".
cat >"$T/tty_attach.py" <<'PY'
import os, socket, subprocess, sys
path = sys.argv[1] + "/tty.sock"
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
p = subprocess.Popen([sys.argv[2], "attach", "--tty-socket", path] + sys.argv[3:], stdin=subprocess.DEVNULL)
srv.settimeout(0.1)
out = b""
try:
    for _ in range(200):  # hang guard (20 s); a helper that failed before connecting has exited
        try:
            conn, _ = srv.accept()
            break
        except socket.timeout:
            if p.poll() is not None:
                raise
    else:
        raise socket.timeout
    _, fds, _, _ = socket.recv_fds(conn, 1, 1)
    conn.close()
    m = fds[0]
    while True:
        try:
            d = os.read(m, 4096)
        except OSError:  # EIO: no slave left
            break
        if not d:
            break
        out += d
    os.close(m)
except (socket.timeout, IndexError, ValueError):
    pass
finally:
    os.unlink(path)
sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
print("rc=%d" % p.wait())
PY
tty_attach() { python3 "$T/tty_attach.py" "$T" "$NSX" "$@"; }
has_lines() { # has_lines TEXT REGEX...: each extended regex matches a whole line of TEXT
    local text=$1 re
    shift
    for re in "$@"; do grep -qxE -- "$re" <<<"$text" || return 1; done
}
TTY_CMD='tty; test -t 0 && test -t 1 && echo tty-ok; stty size; ls -ln $(tty)'
tty_checks() { # tty_checks LABEL: the command's terminal is a pty of the container's devpts, owned by 1000:1000
    local out
    out=$(tty_attach --pid "$INIT" --uid 1000 --gid 1000 --tty-size 100x40 -- sh -c "$TTY_CMD" 2>&1)
    check "$1 attach --tty-socket: tty is /dev/pts/N ($out)" has_lines "$out" '/dev/pts/[0-9]+'
    check "$1 attach --tty-socket: stdio is a terminal" has_lines "$out" tty-ok
    check "$1 attach --tty-socket: --tty-size is the window size" has_lines "$out" '40 100'
    check "$1 attach --tty-socket: the slave is the command's, mode 0620" has_lines "$out" 'crw--w---- +1 1000 +1000 .*'
    check "$1 attach --tty-socket: exit status" has_lines "$out" rc=0
}
tty_checks unprivileged
out=$(tty_attach --pid "$INIT" -- sh -c 'stat -c %u:%g $(tty); exit 5' 2>&1)
check "attach --tty-socket as root: the slave is 0:0 and the status comes back ($out)" has_lines "$out" 0:0 rc=5
out=$("$NSX" attach --pid "$INIT" --tty-socket "$T/no-such.sock" -- true 2>&1)
rc=$?
check "attach --tty-socket to nowhere: 125 (rc=$rc)" test $rc -eq 125
check "attach --tty-socket to nowhere: errno message ($out)" has_lines "$out" 'hyperlxd-nsexec: errno=2: Failed connecting to the terminal socket .*'

# --- monitor protocol ----------------------------------------------------------------------------------
check "unknown request is an error" bash -c "'$MON' request --socket '$SOCK' frobnicate | grep -q '^err 22 '"
check "bad signal is an error" bash -c "'$MON' request --socket '$SOCK' kill SIGNOPE | grep -q '^err 22 '"
echo "monitor PSS: $(awk '/^Pss:/{print $2, $3}' /proc/$MPID/smaps_rollup) (pid $MPID)"

# --- stop with SIGPWR: busybox init halts; reboot(2) in a pidns ends it with SIGINT ----------------------
out=$(req stop SIGPWR 30)
check "stop reply: halted ($out)" grep -q 'state=stopped .*exit_signal=2 reason=halt' <<<"$out"
check "state file records the exit" grep -q 'state=stopped .*reason=halt' "$T/run/c1.state"
wait_for bash -c "! kill -0 $MPID 2>/dev/null"
check "monitor exited and removed its socket" test ! -e "$SOCK"
check "console log file written" grep -q goodbye-from-init "$T/c1.log"
INIT=

# --- privileged container (no user namespace), killed ----------------------------------------------------
chown -R 0:0 "$R"
grep -v -e '^uidmap' -e '^gidmap' "$T/spec" >"$T/priv.spec"
out=$("$MON" start --name c2 --spec "$T/priv.spec" --socket "$T/run/c2.sock" 2>&1)
check "privileged start ($out)" test $? -eq 0
INIT=$(field init_pid <<<"$out")
MPID=$(field monitor_pid <<<"$out")
SOCK=$T/run/c2.sock
check "privileged: /proc/sys is read-only" bash -c "'$NSX' attach --pid $INIT -- sh -c 'echo 1 > /proc/sys/kernel/panic' 2>/dev/null; test \$? -ne 0"
"$NSX" attach --pid "$INIT" -- sh -c 'exit 3'
check "privileged attach exit code" test $? -eq 3
tty_checks privileged
"$NSX" attach --pid "$INIT" -- umount /dev/pts
out=$(tty_attach --pid "$INIT" -- true 2>&1)
check "no devpts in the container: 125 + errno message ($out)" \
    has_lines "$out" "hyperlxd-nsexec: errno=2: Failed opening the container's /dev/pts/ptmx: .*" rc=125
out=$(req stop SIGTERM 0)
check "stop with timeout 0 kills ($out)" grep -q 'state=stopped .*exit_signal=9 reason=killed' <<<"$out"
INIT=

# --- unprivileged on the unshifted rootfs (still owned by host root): idmapped rootfs mount -----------------
check "idmap-probe on the rootfs" "$NSX" idmap-probe "$R"
check "idmap-probe refuses /proc" bash -c "! '$NSX' idmap-probe /proc 2>/dev/null"
{ cat "$T/spec"; echo "rootfs-idmap yes"; } >"$T/idmap.spec"
wait_for bash -c "! kill -0 $MPID 2>/dev/null"
out=$("$MON" start --name c3 --spec "$T/idmap.spec" --socket "$T/run/c3.sock" 2>&1)
check "idmapped start ($out)" test $? -eq 0
INIT=$(field init_pid <<<"$out")
MPID=$(field monitor_pid <<<"$out")
SOCK=$T/run/c3.sock
[[ -n $INIT ]] || exit 1
check "idmapped: uid 0 inside is 1000000 on the host" grep -qP '^Uid:\t1000000\t' /proc/$INIT/status
check "idmapped: host-root files are root's inside" test "$("$NSX" attach --pid "$INIT" -- stat -c %u:%g /bin/busybox)" = 0:0
"$NSX" attach --pid "$INIT" -- sh -c 'echo x > /tmp/made-inside'
check "idmapped: attach can write the rootfs" test $? -eq 0
check "idmapped: a file made inside is 1000000 on the host (through the container's mount)" \
    test "$(stat -c %u:%g /proc/$INIT/root/tmp/made-inside)" = 1000000:1000000
check "idmapped: ... and 0 on the unshifted disk" test "$(stat -c %u:%g "$R/tmp/made-inside")" = 0:0
check "idmapped: the host's mount table is untouched" bash -c "! grep -q ' $R ' /proc/self/mountinfo"
out=$(req stop SIGTERM 0)
check "idmapped: stopped ($out)" grep -q 'state=stopped' <<<"$out"
INIT=

if ((failures)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "container: all checks passed"
