#!/usr/bin/env python3
"""Agent stand-in for the fault-injection tests, run as its own process so that it can be paused
(SIGSTOP) and killed (SIGKILL) like a real agent.

Usage: agent_standin.py PORT DIR [BYTES_PER_SECOND]. Listens on 127.0.0.1:PORT (0: a free one,
written to DIR/port once listening) and appends what each connection
carries to DIR/conn-<n>.log. Data is written to the file before it is taken off the socket (peek,
write, then read the same bytes), so a kill at any moment can duplicate a chunk but never lose
one: whatever the relay sees as read by this process is already in a file. With a rate, each
connection reads no faster than that, so the kernel's queues in front of it fill up as they do in
front of a busy agent.
"""
import itertools
import os
import socket
import sys
import threading
import time

port, out = int(sys.argv[1]), sys.argv[2]
rate = int(sys.argv[3]) if len(sys.argv) > 3 else 0
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# Also what lets it listen beside the test's RefusingPort, which holds PORT between its lives.
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if rate:
    # A tuned agent: a large receive buffer (inherited by accepted sockets) holds more unread.
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
server.bind(("127.0.0.1", port))
server.listen(128)
with open(os.path.join(out, "port.tmp"), "w") as port_file:
    port_file.write(str(server.getsockname()[1]))
os.replace(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
numbers = itertools.count()
# The file name carries the process id too, so a restarted stand-in never appends to a file a
# killed one left with a torn last line.
pid = os.getpid()


def serve(connection, path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            data = connection.recv(65536, socket.MSG_PEEK)
            if not data:
                return
            os.write(fd, data)
            taken = 0
            while taken < len(data):
                taken += len(connection.recv(len(data) - taken))
            if rate:
                time.sleep(len(data) / rate)
    except OSError:
        return
    finally:
        os.close(fd)
        connection.close()


while True:
    connection, _ = server.accept()
    path = os.path.join(out, f"conn-{pid}-{next(numbers)}.log")
    threading.Thread(target=serve, args=(connection, path), daemon=True).start()
