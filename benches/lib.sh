# Shell helpers the benchmark scripts share (sourced, not run).

# A free loopback TCP port (the kernel's pick).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until something accepts TCP connections on 127.0.0.1:PORT, for up to a minute (a relay
# under valgrind takes seconds to start).
wait_port() { # port
  for _ in $(seq 1200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}
