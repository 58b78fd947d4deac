#!/usr/bin/env bash
# Instructions per message through the release relay, by kind of message, under valgrind's
# callgrind: the cost of decode → filter → rules → enrich → encode plus the socket work around it,
# as a number that is the same on every run whatever else the machine does (wall-clock and CPU
# time on 2 shared cores move by ±30 % between runs; this moves by well under 1 %).
#
#   bash benches/instructions.sh [MESSAGES]          (default 20000)
#   KINDS="traffic threat" CONFIG_EXTRA='[enrich]\nthreat = false' bash benches/instructions.sh
#   KEEP=DIR keeps the callgrind files there, for `callgrind_annotate DIR/callgrind.KIND.COUNT`.
#   WORKERS=N: the relay's tokio worker threads (default 1: with more, which worker runs the
#   connection varies run to run, and with it how many per-thread caches get warmed).
#   SINK=json or SINK=azure: the generic JSON or the Azure Logs Ingestion sink (memory buffer)
#   instead of the agent forward, into examples/count_sink as the HTTP server.
#
# Each kind runs twice, with MESSAGES and 2×MESSAGES, and the difference divided by MESSAGES is
# the per-message figure: start-up, configuration and shutdown cancel out. The messages go over
# one TCP connection with the default configuration (agent filter `cef`, threat enrichment on)
# into a socat sink that throws them away.
#
# Kinds: traffic, threat, system (generated PAN-OS CEF, `cefrelay send --mix`), csv-threat and
# csv-traffic (PAN-OS's default CSV, the lines of fixtures/panos/, converted to CEF). With the
# first four, a last row `mix` weighs them as issue 16's mix does (70/20/5/5).
set -euo pipefail
cd "$(dirname "$0")/.."

messages=${1:-20000}
kinds=${KINDS:-traffic threat system csv-threat csv-traffic}
work=$(mktemp -d /tmp/cefrelay-instructions.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/callgrind.* "$KEEP"/; rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
command -v socat >/dev/null || { echo "socat is needed: apt-get install -y socat" >&2; exit 1; }
cargo build --release --locked -q
cefrelay=$PWD/target/release/cefrelay
sink=${SINK:-agent}
case $sink in
  agent) ;;
  json | azure)
    cargo build --release --locked -q --example count_sink
    count_sink=$PWD/target/release/examples/count_sink ;;
  *) echo "SINK=$sink: agent, json or azure" >&2; exit 1 ;;
esac

# free_port, wait_port
source benches/lib.sh

# The relay's count of frames it has finished with (forwarded or dropped), from its metrics.
handled() { # admin port
  python3 -c 'import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=30).read().decode()
print(sum(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith("cefrelay_filter_total")))' "$1"
}

send_kind() { # kind port count
  case $1 in
    csv-threat) "$cefrelay" send --to "tcp://127.0.0.1:$2" --file fixtures/panos/threat.log --loop --count "$3" ;;
    csv-traffic) "$cefrelay" send --to "tcp://127.0.0.1:$2" --file fixtures/panos/traffic.log --loop --count "$3" ;;
    *) "$cefrelay" send --to "tcp://127.0.0.1:$2" --mix "$1=100" --count "$3" ;;
  esac >/dev/null
}

# Total instructions of one relay run that handles COUNT messages of KIND.
instructions() { # kind count
  local kind=$1 count=$2 agent listen admin sink_pid relay_pid out
  agent=$(free_port); listen=$(free_port); admin=$(free_port)
  out="$work/callgrind.$kind.$count"
  if [ "$sink" = agent ]; then
    socat -u "TCP-LISTEN:$agent,fork,reuseaddr,bind=127.0.0.1" /dev/null & sink_pid=$!
  else
    "$count_sink" http "$agent" "$work/count" & sink_pid=$!
  fi
  case $sink in
    agent)
      output=$(printf '[forward]\naddress = ["tcp://127.0.0.1:%s"]' "$agent") ;;
    json)
      output=$(printf '[forward]\nenabled = false\n[[sink]]\nname = "bench"\ntype = "http"\nurl = "http://127.0.0.1:%s/ingest"\nbatch_timeout_ms = 100' "$agent") ;;
    azure)
      output=$(printf '[forward]\nenabled = false\n[[sink]]\nname = "sentinel"\ntype = "azure_logs_ingestion"\nendpoint = "http://127.0.0.1:%s"\ndcr_immutable_id = "dcr-bench"\nbatch_timeout_ms = 100\nauth = { type = "managed_identity", endpoint = "http://127.0.0.1:%s/token" }' "$agent" "$agent") ;;
  esac
  wait_port "$agent"
  printf '[[listener]]\naddress = "tcp://127.0.0.1:%s"\n%s\n[admin]\nlisten = "127.0.0.1:%s"\n%b\n' \
    "$listen" "$output" "$admin" "${CONFIG_EXTRA:-}" >"$work/relay.toml"
  TOKIO_WORKER_THREADS=${WORKERS:-1} valgrind --tool=callgrind --callgrind-out-file="$out" -q \
    "$cefrelay" run --config "$work/relay.toml" 2>"$work/relay.log" & relay_pid=$!
  wait_port "$listen"
  send_kind "$kind" "$listen" "$count"
  for _ in $(seq 1200); do
    [ "$(handled "$admin")" -ge "$count" ] && break
    sleep 0.1
  done
  kill -INT "$relay_pid"
  wait "$relay_pid" || true
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

printf '%-12s %14s %14s %12s\n' kind "I(${messages})" "I($((messages * 2)))" "per message"
declare -A per_message
for kind in $kinds; do
  one=$(instructions "$kind" "$messages")
  two=$(instructions "$kind" $((messages * 2)))
  per_message[$kind]=$(((two - one) / messages))
  printf '%-12s %14d %14d %12d\n' "$kind" "$one" "$two" "${per_message[$kind]}"
done

# Issue 16's mix, when its four kinds ran: 70 % TRAFFIC, 20 % THREAT, 5 % SYSTEM, 5 % CSV (a
# THREAT line, as the end-to-end harness sends). The figure the rules' and the enrichment's
# ratios to the plain relay are taken from: run once per CONFIG_EXTRA and divide.
if [ -n "${per_message[traffic]:-}" ] && [ -n "${per_message[threat]:-}" ] &&
  [ -n "${per_message[system]:-}" ] && [ -n "${per_message[csv-threat]:-}" ]; then
  printf '%-12s %14s %14s %12d\n' mix "" "" $(((70 * per_message[traffic] + 20 * per_message[threat] +
    5 * per_message[system] + 5 * per_message[csv-threat] + 50) / 100))
fi
