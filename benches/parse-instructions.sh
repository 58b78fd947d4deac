#!/usr/bin/env bash
# Instructions per parse of the criterion benches' ~1 KB PAN-OS THREAT record, under valgrind's
# callgrind: the same figure on every run, where the criterion times move by ±30 % with what else
# the 2 shared cores do. Each step runs COUNT and 2×COUNT times (crates/cef/examples/parse_loop.rs)
# and the difference divided by COUNT is printed, start-up cancelled out.
#
#   bash benches/parse-instructions.sh [COUNT]        (default 20000)
#
# Steps: syslog (the RFC 3164 header), rfc5424 (an RFC 5424 header instead), syslog-new-second and
# rfc5424-new-millisecond (the same with a timestamp the parser has not just seen), cef-header (the CEF
# header; the extension is left for its first use), cef-full (and every extension pair),
# syslog-cef-header (what the relay's default path parses per frame), rfc5424-cef-header (the same
# behind an RFC 5424 header), syslog-cef-full, cef-one-key (the CEF header and one extension key
# looked up) and cef-five-keys (five keys, as the sophos preset and the enrichment read a THREAT).
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-20000}
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
cargo build --release --locked -q -p cefrelay-cef --example parse_loop
parse_loop=$PWD/target/release/examples/parse_loop
work=$(mktemp -d /tmp/cefrelay-parse-instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT

instructions() { # step count
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" -q "$parse_loop" "$2" "$1" >/dev/null
  awk '/^(summary|totals):/ {print $2; exit}' "$work/callgrind.out"
}

printf '%-18s %12s\n' step "per parse"
for step in ${STEPS:-syslog rfc5424 syslog-new-second rfc5424-new-millisecond cef-header cef-full syslog-cef-header rfc5424-cef-header syslog-cef-full cef-one-key cef-five-keys}; do
  one=$(instructions "$step" "$count")
  two=$(instructions "$step" $((count * 2)))
  printf '%-18s %12d\n' "$step" $(((two - one) / count))
done
