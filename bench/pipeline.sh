#!/bin/bash
# pipeline.sh [LINES] [BINARY]: pipelined short SMTP commands (issue 16 item
# 7). One client sends LINES "HELO x" commands in 64 KiB writes without
# waiting, a second thread reads the replies; prints lines per second.
# Before the fix every consumed line moved the rest of the input buffer
# (quadratic in the pipelined input); now a read offset moves and the rest
# moves once per read.
set -eu
cd "$(dirname "$0")/.."
LINES=${1:-200000}
RG=${2:-build/rel/relayguard}
[ "$RG" = build/rel/relayguard ] && make --no-print-directory MODE=rel all >/dev/null
dir=$(mktemp -d /tmp/relayguard-pipeline.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/c.conf" <<CONF
[gateway]
state_dir = $dir/var
[policyd]
listen =
[web]
listen =
[listener relay]
listen = 127.0.0.1:$port
role = relay
tls = none
CONF
"$RG" serve --config "$dir/c.conf" 2>"$dir/serve.log" &
pid=$!
python3 - "$port" "$LINES" <<'PY'
import socket, sys, threading, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        break
    except OSError:
        time.sleep(0.05)
s.recv(4096)
got = [0]
def reader():
    buf = b""
    while got[0] < n:
        d = s.recv(1 << 20)
        if not d:
            break
        buf = buf[-5:] + d  # a reply's last line is "250 ..." (EHLO's others "250-")
        got[0] += buf.count(b"\n250 ") - buf[:5].count(b"\n250 ")
t = threading.Thread(target=reader)
t0 = time.monotonic()
t.start()
line = b"EHLO x\r\n"
chunk = line * (65536 // len(line))
left = n
while left > 0:
    k = min(left, len(chunk) // len(line))
    s.sendall(chunk[:k * len(line)])
    left -= k
t.join(300)
dt = time.monotonic() - t0
print("pipeline: %d commands in %.2f s: %.0f commands/s (replies %d)" % (n, dt, n / dt, got[0]))
PY
