#!/bin/bash
# hyperlxd-nsexec proxy between two network namespaces this test creates (never the host's): an echo
# server (TCP and UDP, loopback) in "inst", the forwarder and the client in "host". Root.
set -euo pipefail
NSEXEC=$1
A=hlx-test-$$-inst
B=hlx-test-$$-host
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up

cat > "$TMP/echo.py" <<'PY'
import socket, threading, sys
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.1", 7000)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 7001))
def udp():
    while True:
        d, a = u.recvfrom(65536); u.sendto(b"udp:" + d, a)
threading.Thread(target=udp, daemon=True).start()
def serve(c):
    data = b""
    while True:
        d = c.recv(65536)
        if not d: break
        data += d
    c.sendall(b"echo:" + data)   # after the client's half-close: the reply still gets through
    c.close()
print("up", flush=True)
while True:
    c, _ = t.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat > "$TMP/client.py" <<'PY'
import socket, sys
proto, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
if payload.startswith(b"@"):
    payload = b"x" * int(payload[1:])   # @N: N bytes
if proto == "tcp":
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
    c.sendall(payload); c.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        d = c.recv(65536)
        if not d: break
        out += d
else:
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(20)
    c.sendto(payload, ("127.0.0.1", port)); out = c.recv(65536)
sys.stdout.write(out.decode())
PY

ip netns exec "$A" python3 "$TMP/echo.py" > "$TMP/echo.out" &
ECHO=$!
PIDS+=("$ECHO")
for _ in $(seq 200); do grep -q up "$TMP/echo.out" 2>/dev/null && break; sleep 0.1; done
grep -q up "$TMP/echo.out" || fail "echo server did not start"
NETNS=/proc/$ECHO/ns/net

# Starts a forwarder in $B; waits for its "ready" line (or its exit). Sets FWD (pid) and FWD_OUT.
start_fwd() {
    local out=$TMP/fwd.$RANDOM
    mkfifo "$out"
    ip netns exec "$B" "$NSEXEC" proxy --netns "$NETNS" "$@" > "$out" 2> "$out.err" &
    FWD=$!
    PIDS+=("$FWD")
    FWD_OUT=$(head -n1 < "$out" || true)
}

# Nothing listens on 7000 in $B: what answers through the forwarder is inside $A.
start_fwd --listen tcp:127.0.0.1:8000 --connect tcp:127.0.0.1:7000
[ "$FWD_OUT" = ready ] || fail "tcp forwarder not ready: $FWD_OUT $(cat "$TMP"/fwd.*.err)"
TCP_FWD=$FWD
got=$(ip netns exec "$B" python3 "$TMP/client.py" tcp 8000 hello)
[ "$got" = "echo:hello" ] || fail "tcp relay with half-close: got '$got'"
got=$(ip netns exec "$B" python3 "$TMP/client.py" tcp 8000 @300000)
[ "$got" = "echo:$(head -c 300000 /dev/zero | tr '\0' x)" ] || fail "tcp relay of 300 kB: got ${#got} bytes"
echo "ok tcp relay (half-close, 300 kB)"

# Port ranges: 8010-8011 both to 7000.
start_fwd --listen tcp:127.0.0.1:8010-8011 --connect tcp:127.0.0.1:7000
[ "$FWD_OUT" = ready ] || fail "range forwarder not ready"
got=$(ip netns exec "$B" python3 "$TMP/client.py" tcp 8011 r)
[ "$got" = "echo:r" ] || fail "port range: got '$got'"
kill -TERM "$FWD"; wait "$FWD" || fail "SIGTERM exit status $?"
echo "ok port range, SIGTERM ends it with status 0"

start_fwd --listen udp:127.0.0.1:8001 --connect udp:127.0.0.1:7001
[ "$FWD_OUT" = ready ] || fail "udp forwarder not ready"
UDP_FWD=$FWD
got=$(ip netns exec "$B" python3 "$TMP/client.py" udp 8001 ping)
[ "$got" = "udp:ping" ] || fail "udp relay: got '$got'"
got=$(ip netns exec "$B" python3 "$TMP/client.py" udp 8001 pong)
[ "$got" = "udp:pong" ] || fail "udp second client: got '$got'"
echo "ok udp relay (one session per client)"

# The port is taken: exit 3, the reason names the port.
set +e
ip netns exec "$B" "$NSEXEC" proxy --netns "$NETNS" --listen tcp:127.0.0.1:8000 --connect tcp:127.0.0.1:7000 > "$TMP/taken.out" 2> "$TMP/taken.err"
rc=$?
set -e
[ $rc -eq 3 ] || fail "port taken: status $rc"
grep -q "port 8000: address already in use" "$TMP/taken.err" || fail "port taken: $(cat "$TMP/taken.err")"
[ ! -s "$TMP/taken.out" ] || fail "port taken printed ready"
echo "ok port taken: status 3, $(cat "$TMP/taken.err")"

# A bad netns: exit 4.
set +e
ip netns exec "$B" "$NSEXEC" proxy --netns /proc/999999999/ns/net --listen tcp:127.0.0.1:8005 --connect tcp:127.0.0.1:7000 2> "$TMP/ns.err"
rc=$?
set -e
[ $rc -eq 4 ] || fail "missing netns: status $rc"
echo "ok missing netns: status 4"

# The instance's init ends: the forwarders end by themselves.
kill -9 "$ECHO"
wait "$ECHO" 2>/dev/null || true
for p in "$TCP_FWD" "$UDP_FWD"; do
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$p" 2>/dev/null || fail "forwarder $p outlived the instance"
done
echo "ok forwarders end with the instance"
