#!/usr/bin/env bash
# End-to-end relay benchmark: the same TCP syslog load through cefrelay, rsyslog, syslog-ng and a
# socat byte pipe, each configured the way a Sentinel CEF collector is (the cef_installer.py
# forwarding rule, traditional forward format to the agent port), into the same counting agent
# stand-in (examples/count_sink.rs). The load is issue 16's mix of PAN-OS logs (70 % TRAFFIC CEF,
# 20 % THREAT, 5 % SYSTEM, 5 % PAN-OS CSV); three rounds with the relays interleaved, and the
# medians of msg/s, CPU µs per message received (the relay's own ticks from /proc/PID/stat, taken
# after a warm-up pass) and peak RSS, with cefrelay's ratios to each. On a small machine the
# sender and the sink share the cores with the relay, so CPU per message is the steadier figure.
#   bash benches/relay-e2e.sh [MESSAGES] [CONNECTIONS]     (defaults: 1000000 4)
#   SECTIONS="tcp udp http rules haproxy" picks the parts to run (default: all five).
#   BASELINE=/path/to/an/older/cefrelay adds that binary to the TCP rounds, as `baseline`, for
#   a before/after comparison in the same run.
#
# Then UDP: the loss of cefrelay and rsyslog at 100k, 200k and 400k msg/s offered (the mix, one
# sender socket, 2 s each), of the messages each relay's filter passes, and for cefrelay where it
# happened (kernel socket buffer or its own full queue), from its metrics.
#
# Then HTTP out: the same TCP load through cefrelay's generic HTTP sink (NDJSON, with a memory and
# with a disk buffer), its Azure Logs Ingestion sink (CommonSecurityLog rows, gzip), and through
# syslog-ng's http() destination (JSON per message, batched, with and without its reliable
# disk-buffer) into the same counting HTTP server.
#
# Then haproxy: the same TCP load through HAProxy (TCP mode, send-proxy-v2, /health checks) to
# one, two and three relays that take PROXY protocol v2, into the same counting agent: what the
# front costs (its CPU per message beside the relays'). On 2 shared cores this shows that it works
# and what it costs, not scaling. The benchmark's one sender address would put every connection
# on one relay with `balance source` (the deploy default), so this uses `leastconn`.
#
# Then rules: the same TCP load through cefrelay three times, with the threat enrichment off, with
# it on (the default), and with it on plus the sophos preset's rules, for the cost of each.
#
# Everything runs on 127.0.0.1. Apart from the TCP section, the load is `cefrelay send` with the
# built-in PAN-OS THREAT generator (~1 KB CEF each); THREAT passes every relay's filter, so all
# relays forward everything.
set -euo pipefail
cd "$(dirname "$0")/.."

messages=${1:-1000000}
connections=${2:-4}
work=$(mktemp -d /tmp/cefrelay-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

bash .ci/peers
cargo build --release --locked -q
cefrelay=$PWD/target/release/cefrelay
syslog_ng=$PWD/.peers/syslog-ng/usr

# free_port, wait_port
source benches/lib.sh

# The receiving end of every run: examples/count_sink.rs (agent stand-in and HTTP server), which
# writes its count to a file every 50 ms and costs far less than any relay, so it never saturates
# first (the Python stand-ins it replaced did, at ~500 k msg/s).
cargo build --release --locked -q --example count_sink
count_sink=$PWD/target/release/examples/count_sink

# A UDP port is ready once the kernel lists a socket on it.
wait_udp_port() { # port
  local hex
  hex=$(printf ':%04X ' "$1")
  for _ in $(seq 200); do
    if cat /proc/net/udp /proc/net/udp6 | grep -q "$hex"; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on udp $1" >&2
  return 1
}

# CPU seconds (user+system) and peak RSS (MiB) of a process.
usage() { # pid
  local ticks rss
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$1/status")
  echo "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}') $((rss / 1024))"
}

# UDP loss at an offered rate: PROTO=udp tells the start functions to listen on UDP. The load is
# the mix from one sender socket (issue 16's terms); the loss is of the messages the relay's
# filter passes, against a first pass of the mix file at a gentle rate that calibrates how many
# of a pass that relay forwards.
run_udp() { # name rate, then the start command
  local name=$1 rate=$2; shift 2
  local agent listen count_file sink_pid relay_pid pass per_pass offered expected got where
  export ADMIN_PORT
  agent=$(free_port); listen=$(free_port); count_file="$work/$name-udp-$rate.count"
  pass=$(wc -l <"$work/mix.log")
  offered=$(((rate * 2 + pass - 1) / pass * pass))
  "$count_sink" agent "$agent" "$count_file" & sink_pid=$!
  wait_port "$agent"
  ADMIN_PORT=$(free_port)
  PROTO=udp LISTEN=$listen AGENT=$agent "$@" & relay_pid=$!
  wait_udp_port "$listen"
  sleep 0.5
  "$cefrelay" send --to "udp://127.0.0.1:$listen" --file "$work/mix.log" --rate 20000 >/dev/null
  per_pass=$(wait_count "$count_file" 999999999)
  "$cefrelay" send --to "udp://127.0.0.1:$listen" --file "$work/mix.log" --loop --count "$offered" \
    --rate "$rate" --connections 1 >"$work/$name-udp-$rate.send"
  expected=$((per_pass * offered / pass))
  got=$(($(wait_count "$count_file" $((per_pass + expected))) - per_pass))
  where=""
  if [ "$name" = cefrelay ]; then # where the losses happened, from the relay's own counters
    where=$(python3 -c 'import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode()
total = lambda name: sum(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith(name))
print("kernel drops %d, queue-full drops %d (of every kind, dropped by the filter or not)" % (total("cefrelay_udp_kernel_drops"), total("cefrelay_queue_full_drops_total")))' "$ADMIN_PORT" 2>/dev/null || true)
  fi
  kill "$relay_pid" 2>/dev/null || true
  wait "$relay_pid" 2>/dev/null || true
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  [ -n "$where" ] && echo "           UDP $rate msg/s: $where"
  awk -v n="$name" -v r="$rate" -v o="$offered" -v g="$got" -v x="$expected" -v s="$(cat "$work/$name-udp-$rate.send")" \
    'BEGIN {printf "%-10s UDP %6d msg/s offered (%d): %8d of %8d filter-passing delivered, %6.2f %% lost  (sender: %s)\n", n, r, o, g, x, (x - g) * 100 / x, s}'
}

run_one() { # name, then the command that starts the relay listening on $listen forwarding to $agent
  local name=$1; shift
  local agent listen count_file sink_pid relay_pid start end got
  agent=$(free_port); listen=$(free_port); count_file="$work/$name.count"
  "$count_sink" "${SINK_MODE:-agent}" "$agent" "$count_file" & sink_pid=$!
  wait_port "$agent"
  LISTEN=$listen AGENT=$agent "$@" & relay_pid=$!
  wait_port "$listen"
  start=$(date +%s.%N)
  "$cefrelay" send --to "tcp://127.0.0.1:$listen" --count "$messages" --connections "$connections" \
    --mix threat=100 >"$work/$name.send"
  got=0; local previous=-1 still=0
  for _ in $(seq 6000); do # at most 5 minutes; a relay that lost messages stops moving
    got=$(cat "$count_file" 2>/dev/null || echo 0)
    [ "$got" -ge "$messages" ] && break
    if [ "$got" = "$previous" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 40 ] && break # 2 s without progress
    previous=$got
    sleep 0.05
  done
  end=$(date +%s.%N)
  read -r cpu rss < <(usage "$relay_pid")
  # The relay first: with the agent gone first it would wait out its grace period to resend.
  kill "$relay_pid" 2>/dev/null || true
  wait "$relay_pid" 2>/dev/null || true
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  local rate
  rate=$(awk -v n="$got" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n / (e - s)}')
  local per_message
  per_message=$(awk -v c="$cpu" -v n="$got" 'BEGIN {printf "%.2f", c * 1e6 / n}')
  printf '%-10s %10s msg/s  %9s of %s delivered  %6s CPU s (%s us/msg)  %5s MiB peak RSS\n' \
    "$name" "$rate" "$got" "$messages" "$cpu" "$per_message" "$rss"
  echo "$rate" >"$work/$name.rate"
  echo "$per_message" >"$work/$name.cpu"
}

# CPU ticks (user+system, the process and its children, for socat's forked ones) of a process;
# KERNEL=1: the system part alone.
ticks_of() { # pid
  local total child own='$14 + $15 + $16 + $17' childs='$14 + $15'
  [ -n "${KERNEL:-}" ] && own='$15 + $17' childs='$15'
  total=$(awk "{print $own}" "/proc/$1/stat")
  for child in $(pgrep -P "$1" || true); do
    total=$((total + $(awk "{print $childs}" "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# Waits until the count in FILE reaches TARGET, or has not moved for 2 s (a relay that dropped
# what it should have forwarded); prints the count.
wait_count() { # file target
  local got=0 previous=-1 still=0
  for _ in $(seq 6000); do
    got=$(cat "$1" 2>/dev/null || echo 0)
    [ "$got" -ge "$2" ] && break
    if [ "$got" = "$previous" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 40 ] && break
    previous=$got
    sleep 0.05
  done
  echo "$got"
}

# The issue-16 mix: one pass of FILE is 95 % generated PAN-OS CEF (traffic 70 : threat 20 :
# system 5) with a PAN-OS CSV THREAT line (fixtures/panos/threat.log) as every 20th line.
make_mix() { # file
  local port capture=$work/mix.cef
  port=$(free_port)
  socat -u "TCP-LISTEN:$port,reuseaddr,bind=127.0.0.1" "CREATE:$capture" & local pid=$!
  # Not wait_port: its probe connection would be the one connection this socat takes.
  local hex
  hex=$(printf ':%04X 00000000:0000 0A' "$port")
  for _ in $(seq 200); do
    grep -q "$hex" /proc/net/tcp && break
    sleep 0.05
  done
  "$cefrelay" send --to "tcp://127.0.0.1:$port" --count 19000 --mix traffic=70,threat=20,system=5 >/dev/null
  wait "$pid"
  # Only the fixture's lines with a syslog header: rsyslog's imptcp takes a line that starts with
  # a digit for an octet count.
  awk -v csv="fixtures/panos/threat.log" 'BEGIN { while ((getline line < csv) > 0) if (line ~ /^</) lines[n++] = line }
    { print; if (NR % 19 == 0) print lines[k++ % n] }' "$capture" >"$1"
}

# One relay over the mix: a first pass of the file calibrates what this relay forwards of it
# (and warms it up); then MESSAGES more over CONNECTIONS connections, timed and measured from
# the relay's CPU ticks before and after. Appends "rate cpu_us_per_message rss_mib delivered
# expected kernel_us_per_message" to $work/NAME.rounds: the kernel's part (socket reads and
# writes) against the relay's own work.
run_mix() { # name, then the command that starts the relay listening on $listen forwarding to $agent
  local name=$1; shift
  local agent listen count_file sink_pid relay_pid pass per_pass passes before after start end got expected rss
  local kernel_before kernel_after
  agent=$(free_port); listen=$(free_port); count_file="$work/$name.count"
  rm -f "$count_file"
  "$count_sink" agent "$agent" "$count_file" & sink_pid=$!
  wait_port "$agent"
  LISTEN=$listen AGENT=$agent "$@" & relay_pid=$!
  wait_port "$listen"
  pass=$(wc -l <"$work/mix.log")
  "$cefrelay" send --to "tcp://127.0.0.1:$listen" --file "$work/mix.log" >/dev/null
  per_pass=$(wait_count "$count_file" 999999999)
  passes=$(((messages + pass - 1) / pass))
  expected=$((per_pass * (passes + 1)))
  before=$(ticks_of "$relay_pid")
  kernel_before=$(KERNEL=1 ticks_of "$relay_pid")
  start=$(date +%s.%N)
  "$cefrelay" send --to "tcp://127.0.0.1:$listen" --file "$work/mix.log" --loop \
    --count $((passes * pass)) --connections "$connections" >/dev/null
  got=$(wait_count "$count_file" "$expected")
  end=$(date +%s.%N)
  after=$(ticks_of "$relay_pid")
  kernel_after=$(KERNEL=1 ticks_of "$relay_pid")
  rss=$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$relay_pid/status")
  kill "$relay_pid" 2>/dev/null || true
  wait "$relay_pid" 2>/dev/null || true
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  awk -v n=$((passes * pass)) -v s="$start" -v e="$end" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    -v r="$rss" -v g="$got" -v x="$expected" -v k=$((kernel_after - kernel_before)) \
    'BEGIN {printf "%.0f %.3f %d %d %d %.3f\n", n / (e - s), t / hz * 1e6 / n, r, g, x, k / hz * 1e6 / n}' \
    >>"$work/$name.rounds"
  tail -1 "$work/$name.rounds" | awk -v n="$name" \
    '{printf "  %-10s %9d msg/s  %6.3f us CPU/msg (kernel %5.3f)  %4d MiB peak RSS  %d of %d forwarded\n", n, $1, $2, $6, $3, $4, $5}'
}

# The median of column COLUMN of NAME's rounds.
median() { # name column
  awk -v c="$2" '{print $c}' "$work/$1.rounds" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

start_baseline() {
  exec "$BASELINE" run --listen "tcp://127.0.0.1:$LISTEN" --forward "tcp://127.0.0.1:$AGENT" \
    --admin "127.0.0.1:$(free_port)"
}

start_socat() {
  exec socat "TCP-LISTEN:$LISTEN,fork,reuseaddr,bind=127.0.0.1" "TCP:127.0.0.1:$AGENT"
}

start_cefrelay() {
  exec "$cefrelay" run --listen "${PROTO:-tcp}://127.0.0.1:$LISTEN" --forward "tcp://127.0.0.1:$AGENT" \
    --admin "127.0.0.1:${ADMIN_PORT:-$(free_port)}"
}

# cefrelay with the agent forward off and one generic HTTP sink; BUFFER is its buffer table.
start_cefrelay_http() {
  rm -rf "$work/state"
  cat >"$work/cefrelay-http.toml" <<EOF
state_dir = "$work/state"
[[listener]]
address = "tcp://127.0.0.1:$LISTEN"
[forward]
enabled = false
[[sink]]
name = "bench"
type = "http"
url = "http://127.0.0.1:$AGENT/ingest"
batch_timeout_ms = 100
buffer = $BUFFER
[admin]
listen = "127.0.0.1:$(free_port)"
EOF
  exec "$cefrelay" run --config "$work/cefrelay-http.toml"
}

# cefrelay's Azure Logs Ingestion sink: CommonSecurityLog rows, gzip, token from a managed-identity
# endpoint (the counting server), memory buffer.
start_cefrelay_azure() {
  cat >"$work/cefrelay-azure.toml" <<EOF
[[listener]]
address = "tcp://127.0.0.1:$LISTEN"
[forward]
enabled = false
[[sink]]
name = "sentinel"
type = "azure_logs_ingestion"
endpoint = "http://127.0.0.1:$AGENT"
dcr_immutable_id = "dcr-bench"
batch_timeout_ms = 100
auth = { type = "managed_identity", endpoint = "http://127.0.0.1:$AGENT/token" }
[admin]
listen = "127.0.0.1:$(free_port)"
EOF
  exec "$cefrelay" run --config "$work/cefrelay-azure.toml"
}

# cefrelay forwarding to the agent with RULES (TOML) laid after its listener, forward and admin.
start_cefrelay_rules() {
  cat >"$work/cefrelay-rules.toml" <<EOF
[[listener]]
address = "tcp://127.0.0.1:$LISTEN"
[forward]
address = ["tcp://127.0.0.1:$AGENT"]
[admin]
listen = "127.0.0.1:$(free_port)"
$RULES
EOF
  exec "$cefrelay" run --config "$work/cefrelay-rules.toml"
}

# N relays behind HAProxy: prints msg/s, the relays' CPU per message (summed) and HAProxy's.
run_haproxy() { # relays
  local n=$1 agent count_file sink_pid front hap_pid start end got i listen admin servers=""
  local pids=()
  agent=$(free_port); count_file="$work/haproxy-$n.count"
  "$count_sink" agent "$agent" "$count_file" & sink_pid=$!
  wait_port "$agent"
  for i in $(seq "$n"); do
    listen=$(free_port); admin=$(free_port)
    cat >"$work/relay-$n-$i.toml" <<EOF
[[listener]]
address = "tcp://127.0.0.1:$listen"
proxy_protocol = "v2"
trusted_proxies = ["127.0.0.1/32"]
[forward]
address = ["tcp://127.0.0.1:$agent"]
[admin]
listen = "127.0.0.1:$admin"
EOF
    "$cefrelay" run --config "$work/relay-$n-$i.toml" 2>/dev/null & pids+=($!)
    wait_port "$listen"
    servers+="    server relay$i 127.0.0.1:$listen send-proxy-v2 check port $admin"$'\n'
  done
  front=$(free_port)
  cat >"$work/haproxy-$n.cfg" <<EOF
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
frontend syslog
    bind 127.0.0.1:$front
    default_backend relays
backend relays
    balance leastconn
    option httpchk GET /health
$servers
EOF
  haproxy -db -f "$work/haproxy-$n.cfg" >/dev/null 2>&1 & hap_pid=$!
  wait_port "$front"
  sleep 1 # the first health checks pass
  start=$(date +%s.%N)
  "$cefrelay" send --to "tcp://127.0.0.1:$front" --count "$messages" --connections "$connections" \
    --mix threat=100 >/dev/null
  got=0; local previous=-1 still=0
  for _ in $(seq 6000); do
    got=$(cat "$count_file" 2>/dev/null || echo 0)
    [ "$got" -ge "$messages" ] && break
    if [ "$got" = "$previous" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 40 ] && break
    previous=$got
    sleep 0.05
  done
  end=$(date +%s.%N)
  local relays_cpu=0 cpu rss hap_cpu
  for pid in "${pids[@]}"; do
    read -r cpu rss < <(usage "$pid")
    relays_cpu=$(awk -v a="$relays_cpu" -v b="$cpu" 'BEGIN {print a + b}')
  done
  read -r hap_cpu rss < <(usage "$hap_pid")
  kill "${pids[@]}" "$hap_pid" 2>/dev/null || true
  wait "${pids[@]}" "$hap_pid" 2>/dev/null || true
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  awk -v n="$n" -v g="$got" -v m="$messages" -v s="$start" -v e="$end" -v r="$relays_cpu" -v h="$hap_cpu" \
    'BEGIN {printf "haproxy + %d relay(s): %8.0f msg/s  %s of %s delivered  relays %.2f us/msg  haproxy %.2f us/msg\n", n, g / (e - s), g, m, r * 1e6 / g, h * 1e6 / g}'
}

# syslog-ng's http() destination: the same filter, each message as JSON, batched like cefrelay's
# requests; DISK_BUFFER=yes adds its reliable disk-buffer (written before it is acknowledged).
# The source window is raised to 10 000 messages per connection: with the default (100 after
# syslog-ng divides by max-connections) flow control lets through only a few hundred messages
# per batch timeout, which measures the window, not the destination.
start_syslog_ng_http() {
  local buffer=""
  if [ "${DISK_BUFFER:-no}" = yes ]; then
    rm -rf "$work/syslog-ng-buffer" && mkdir -p "$work/syslog-ng-buffer"
    buffer="disk-buffer(reliable(yes) disk-buf-size(1073741824) mem-buf-size(16777216) dir(\"$work/syslog-ng-buffer\"))"
  fi
  cat >"$work/syslog-ng-http.conf" <<EOF
@version: 3.38
options { keep_hostname(yes); };
source s_net { network(ip(127.0.0.1) port($LISTEN) transport(tcp) max-connections(64)
                        log-iw-size(640000)); };
filter f_oms_filter { message("CEF:|ASA-") or program("CEF"); };
destination d_http {
  http(url("http://127.0.0.1:$AGENT/ingest") method("POST") workers(4)
       batch-lines(10000) batch-bytes(1048576) batch-timeout(100)
       headers("Content-Type: application/x-ndjson")
       body("\$(format-json --scope rfc5424 --key MESSAGE)") $buffer);
};
log { source(s_net); filter(f_oms_filter); destination(d_http); flags(flow-control); };
EOF
  rm -f "$work/syslog-ng-http.persist"
  LD_LIBRARY_PATH="$syslog_ng/lib/syslog-ng" exec "$syslog_ng/sbin/syslog-ng" -F \
    --module-path="$syslog_ng/lib/syslog-ng/3.38" -f "$work/syslog-ng-http.conf" \
    -R "$work/syslog-ng-http.persist" -p "$work/syslog-ng-http.pid" -c "$work/syslog-ng-http.ctl"
}

# rsyslog as cef_installer.py configures it: the CEF/ASA rule to the agent over TCP; its fastest
# TCP input (imptcp), or imudp.
start_rsyslog() {
  local input
  if [ "${PROTO:-tcp}" = udp ]; then
    input="module(load=\"imudp\") input(type=\"imudp\" address=\"127.0.0.1\" port=\"$LISTEN\")"
  else
    input="module(load=\"imptcp\") input(type=\"imptcp\" address=\"127.0.0.1\" port=\"$LISTEN\")"
  fi
  cat >"$work/rsyslog.conf" <<EOF
global(workDirectory="$work")
$input
if \$rawmsg contains "CEF:" or \$rawmsg contains "ASA-" then {
  action(type="omfwd" target="127.0.0.1" port="$AGENT" protocol="tcp"
         template="RSYSLOG_TraditionalForwardFormat")
  stop
}
EOF
  exec rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid"
}

# syslog-ng as Microsoft's security-config-omsagent.conf configures it, plus flow-control: without
# it syslog-ng drops what overflows its FIFO (seen: a 1 M run never completes).
start_syslog_ng() {
  cat >"$work/syslog-ng.conf" <<EOF
@version: 3.38
options { keep_hostname(yes); };
source s_net { network(ip(127.0.0.1) port($LISTEN) transport(tcp) max-connections(64)); };
filter f_oms_filter { message("CEF:|ASA-") or program("CEF"); };
destination oms_destination { tcp("127.0.0.1" port($AGENT)); };
log { source(s_net); filter(f_oms_filter); destination(oms_destination); flags(flow-control); };
EOF
  LD_LIBRARY_PATH="$syslog_ng/lib/syslog-ng" exec "$syslog_ng/sbin/syslog-ng" -F \
    --module-path="$syslog_ng/lib/syslog-ng/3.38" -f "$work/syslog-ng.conf" \
    -R "$work/syslog-ng.persist" -p "$work/syslog-ng.pid" -c "$work/syslog-ng.ctl"
}

sections=" ${SECTIONS:-tcp udp http rules haproxy} "
echo "relay benchmark: $messages messages per run over $connections TCP connections, $(nproc) cores"
if [[ $sections == *" tcp "* ]]; then
# The mix, 3 rounds with the relays interleaved (so a slow minute of the shared machine hits every
# relay), medians. CPU per message is per message received, whatever the relay forwards: cefrelay
# drops TRAFFIC (the agent filter), rsyslog's and syslog-ng's substring rules forward it, and
# socat forwards everything without looking.
make_mix "$work/mix.log"
echo "TCP: $messages messages per round of the mix (traffic 70 %, threat 20 %, system 5 %, PAN-OS CSV 5 %), $connections connections"
relays="cefrelay rsyslog syslog-ng socat"
[ -n "${BASELINE:-}" ] && relays="$relays baseline"
for round in 1 2 3; do
  echo "round $round"
  [ -n "${BASELINE:-}" ] && run_mix baseline start_baseline
  run_mix cefrelay start_cefrelay
  run_mix rsyslog start_rsyslog
  run_mix syslog-ng start_syslog_ng
  run_mix socat start_socat
done
echo "medians of 3 rounds:"
for relay in $relays; do
  printf '  %-10s %9d msg/s  %6.3f us CPU/msg (kernel %5.3f)  %4d MiB peak RSS\n' "$relay" \
    "$(median "$relay" 1)" "$(median "$relay" 2)" "$(median "$relay" 6)" "$(median "$relay" 3)"
done
for peer in ${relays#cefrelay }; do
  awk -v a="$(median cefrelay 1)" -v b="$(median "$peer" 1)" -v c="$(median cefrelay 2)" -v d="$(median "$peer" 2)" -v p="$peer" \
    'BEGIN {printf "cefrelay vs %-9s: %.2fx the throughput, %.2fx the CPU per message\n", p, a / b, c / d}'
done
fi
if [[ $sections == *" udp "* ]]; then
[ -s "$work/mix.log" ] || make_mix "$work/mix.log"
for rate in 100000 200000 400000; do
  run_udp cefrelay "$rate" start_cefrelay
  run_udp rsyslog "$rate" start_rsyslog
done
fi

if [[ $sections == *" http "* ]]; then
echo "HTTP out: TCP in, one HTTP sink (a counting server on 127.0.0.1), same load"
export SINK_MODE=http
BUFFER='{ type = "memory" }' run_one cefrelay-http-memory start_cefrelay_http
BUFFER='{ type = "disk", max_bytes = 4294967296 }' run_one cefrelay-http-disk start_cefrelay_http
run_one cefrelay-azure start_cefrelay_azure
DISK_BUFFER=no run_one syslog-ng-http-memory start_syslog_ng_http
DISK_BUFFER=yes run_one syslog-ng-http-disk start_syslog_ng_http
for buffer in memory disk; do
  awk -v a="$(cat "$work/cefrelay-http-$buffer.rate")" -v b="$(cat "$work/syslog-ng-http-$buffer.rate")" \
    -v c="$(cat "$work/cefrelay-http-$buffer.cpu")" -v d="$(cat "$work/syslog-ng-http-$buffer.cpu")" -v k="$buffer" \
    'BEGIN {printf "cefrelay vs syslog-ng, HTTP, %-6s buffer: %.2fx the throughput, %.2fx the CPU per message\n", k, a / b, c / d}'
done
# The sections after this one feed the agent stand-in again.
unset SINK_MODE
fi

if [[ $sections == *" rules "* ]]; then
echo "Rules and enrichment: TCP in, agent out, same load"
RULES=$'[enrich]\nthreat = false' run_one cefrelay-plain start_cefrelay_rules
RULES='' run_one cefrelay-enrich start_cefrelay_rules
RULES=$'[[rule]]\npreset = "sophos"' run_one cefrelay-sophos start_cefrelay_rules
for variant in enrich sophos; do
  awk -v a="$(cat "$work/cefrelay-$variant.cpu")" -v b="$(cat "$work/cefrelay-plain.cpu")" -v v="$variant" \
    'BEGIN {printf "cefrelay %-6s vs plain: %.2fx the CPU per message\n", v, a / b}'
done
fi

if [[ $sections == *" haproxy "* ]]; then
echo "HAProxy front (send-proxy-v2, leastconn) to 1, 2 and 3 relays, same load"
for relays in 1 2 3; do
  run_haproxy "$relays"
done
fi
