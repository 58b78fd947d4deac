#!/usr/bin/env python3
"""RSS of a running cefrelay across bursts of TCP connections (issue 10: 6.6 -> 90 MB).

Starts `cefrelay run` (release build by default) with one TCP listener on loopback and an agent
stand-in that reads and discards (so the buffer stays empty and does not count), then for each
cycle opens N connections at once, sends one short line on each, closes them all and waits for the
relay to see every close; after each cycle (and --settle seconds) it prints the relay's VmRSS
from /proc/PID/status. Connections come from 127.0.0.2, 127.0.0.3, … (200 each), under the
per-sender limit.

    cargo build --release
    python3 benches/connection-churn-rss.py [--binary target/release/cefrelay] [--cycles 14] [--connections 5000]
"""

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(admin, name):
    try:
        body = urllib.request.urlopen(f"http://{admin}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def agent(listener):
    """Reads and discards whatever the relay forwards."""
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=drain, args=(connection,), daemon=True).start()


def drain(connection):
    with connection:
        while connection.recv(1 << 16):
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/cefrelay")
    parser.add_argument("--cycles", type=int, default=14)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--payload", type=int, default=200, help="bytes sent on each connection (0: none)")
    parser.add_argument(
        "--settle", type=float, default=6.0,
        help="seconds to wait after each cycle (the relay gives freed memory back every 5 s)",
    )
    args = parser.parse_args()

    need = args.connections + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    agent_listener = socket.socket()
    agent_listener.bind(("127.0.0.1", 0))
    agent_listener.listen(16)
    agent_port = agent_listener.getsockname()[1]
    threading.Thread(target=agent, args=(agent_listener,), daemon=True).start()
    port, admin_port = free_port(), free_port()
    admin = f"127.0.0.1:{admin_port}"
    state = tempfile.mkdtemp(prefix="churn-")
    config = os.path.join(state, "cefrelay.toml")
    with open(config, "w") as f:
        f.write(
            f'state_dir = "{state}"\n'
            f"[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\nmax_connections = {need}\n"
            f"[forward]\naddress = [\"tcp://127.0.0.1:{agent_port}\"]\n"
            f'[admin]\nlisten = "{admin}"\n'
        )
    relay = subprocess.Popen(
        ["sh", "-c", f"ulimit -n {max(need * 2, 4096)}; exec {args.binary} run --config {config}"],
        env=dict(os.environ, RUST_LOG="error"),
    )
    try:
        for _ in range(250):
            if metric(admin, "cefrelay_connections_active") is not None:
                break
            time.sleep(0.02)
        print(f"start       VmRSS {rss_kb(relay.pid) / 1024:6.1f} MiB", flush=True)
        line = b"<14>Nov 22 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|url|THREAT|3|"
        line = (line + b"x" * max(0, args.payload - len(line) - 1))[: args.payload - 1] + b"\n"
        for cycle in range(1, args.cycles + 1):
            sockets = []
            for i in range(args.connections):
                s = socket.socket()
                # Spread over source addresses: one sender may hold only so many connections
                # (max_connections_per_sender, 256 by default).
                s.bind((f"127.0.{1 + i // 200 // 250}.{2 + i // 200 % 250}", 0))
                s.connect(("127.0.0.1", port))
                sockets.append(s)
            if args.payload:
                for s in sockets:
                    s.sendall(line)
            # Every line read: the relay's memory with the connections open and used.
            expected = cycle * args.connections if args.payload else 0
            for _ in range(500):
                if (metric(admin, "cefrelay_received_frames_total") or 0) >= expected:
                    break
                time.sleep(0.02)
            open_rss = rss_kb(relay.pid)
            for s in sockets:
                s.close()
            for _ in range(500):
                if metric(admin, "cefrelay_connections_active") == 0:
                    break
                time.sleep(0.02)
            time.sleep(args.settle)
            print(
                f"cycle {cycle:3}   VmRSS {rss_kb(relay.pid) / 1024:6.1f} MiB"
                f"   ({open_rss / 1024:6.1f} MiB with them open;"
                f" frames {metric(admin, 'cefrelay_received_frames_total'):.0f},"
                f" queued {metric(admin, 'cefrelay_sink_queue_depth'):.0f})",
                flush=True,
            )
    finally:
        relay.terminate()
        relay.wait()


if __name__ == "__main__":
    sys.exit(main())
