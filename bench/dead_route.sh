#!/usr/bin/env bash
# How many messages reach a dead route before hold-down, with 1, 2 and 4 tlsrelay instances
# side by side (issue 22, docs/scaling.md): each instance learns route health on its own.
#
#   bench/dead_route.sh [--build DIR] [--messages M] [--instances "1 2 4"]
#
# Each instance has two upstreams: `primary`, a port on 127.0.0.1 where nothing listens
# (connect-refused), and `backup`, the test peer (tests/peer, verified TLS). M messages
# (default 40) are sent one after another, spread round-robin over the instances as a
# relayhost list or a DNS name with several addresses would spread them, all within the
# default hold-down (30 s). Counted from each instance's event log: the messages
# (transactions) that made at least one attempt on `primary`, and those attempts.
#
# Needs swaks (scripts/setup.sh installs it). Everything listens on 127.0.0.1 only; what is
# started is stopped by process id on exit. A count, not a timing: the figures do not
# depend on the machine's speed as long as the M messages fit into the hold-down.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${TLSRELAY_BUILD:-$(dirname "$here")/build}
messages=40
instances="1 2 4"
while [ $# -gt 0 ]; do
  case "$1" in
  --build) build=${2:?--build DIR}; shift 2 ;;
  --messages) messages=${2:?--messages M}; shift 2 ;;
  --instances) instances=${2:?--instances LIST}; shift 2 ;;
  *) echo "usage: bench/dead_route.sh [--build DIR] [--messages M] [--instances LIST]" >&2; exit 2 ;;
  esac
done
tlsrelay=$build/proxy/tlsrelay
peer=$build/tests/peer/tlsrelay-testpeer
for bin in "$tlsrelay" "$peer"; do
  [ -x "$bin" ] || { echo "dead_route: $bin is missing (ninja -C $build tlsrelay tlsrelay-testpeer)" >&2; exit 1; }
done
command -v swaks >/dev/null || { echo "dead_route: swaks is missing" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most 10 s) for a line starting with $2 in file $1; prints its second word.
wait_word() {
  local i
  for i in $(seq 200); do
    if grep -q "^$2 " "$1" 2>/dev/null; then
      grep -m1 "^$2 " "$1" | awk '{print $2}'
      return 0
    fi
    sleep 0.05
  done
  echo "dead_route: no '$2' line in $1" >&2
  return 1
}

"$peer" gen-certs "$work/certs" >/dev/null
"$peer" smtp --cert-dir "$work/certs" >"$work/peer.out" 2>"$work/peer.err" &
pids+=($!)
good=$(wait_word "$work/peer.out" ready)
# A port where nothing listens: bound by the kernel for us, then released.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "| instances | messages | reached the dead route, per instance | all instances | attempts on it |"
echo "|---|---|---|---|---|"
for n in $instances; do
  ports=()
  for i in $(seq "$n"); do
    d=$work/n$n-$i
    mkdir -p "$d"
    cat >"$d/relay.toml" <<TOML
[proxy]
listen = ["127.0.0.1:0"]
hostname = "relay$i.test"
[tls]
ca_file = "$work/certs/ca.pem"
[log]
events = "$d/events.jsonl"
[[upstream]]
name = "primary"
host = "mx.test"
port = $dead
connect = "127.0.0.1"
[[upstream]]
name = "backup"
host = "mx.test"
port = $good
connect = "127.0.0.1"
TOML
    "$tlsrelay" serve --config "$d/relay.toml" >"$d/out" 2>"$d/err" &
    pids+=($!)
    ports+=("$(wait_word "$d/out" listening | sed 's/.*://')")
  done
  for m in $(seq 0 $((messages - 1))); do
    port=${ports[$((m % n))]}
    swaks --server 127.0.0.1 --port "$port" --from a@example.org --to b@example.org \
      --h-Subject "dead route $m" --silent 2 >/dev/null || echo "dead_route: message $m was not accepted" >&2
  done
  per=()
  total=0
  attempts=0
  for i in $(seq "$n"); do
    ev=$work/n$n-$i/events.jsonl
    # The event log is written by a background thread: wait (bounded) for every attempt.
    for _ in $(seq 100); do [ -s "$ev" ] && break; sleep 0.05; done
    t=$(grep '"name":"primary"' "$ev" | grep -o '"transaction":"[^"]*"' | sort -u | wc -l)
    a=$(grep -c '"name":"primary"' "$ev" || true)
    per+=("$t")
    total=$((total + t))
    attempts=$((attempts + a))
  done
  echo "| $n | $messages | ${per[*]} | $total | $attempts |"
done
