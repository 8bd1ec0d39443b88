# Sourced by demo.sh and examples.sh: starts demo upstreams (tlsrelay-testpeer) on
# 127.0.0.1 and stops them on exit. Expects $peer (the testpeer binary) to be set.
work=$(mktemp -d /tmp/tlsrelay-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$peer" gen-certs "$work/certs" >/dev/null

# start NAME peer-options...: starts a demo upstream; its port lands in ${port[NAME]}.
# The peer prints "ready PORT" once it accepts connections; we wait for that line.
declare -A port
start() {
  local name=$1
  shift
  local fifo="$work/$name.ready"
  mkfifo "$fifo"
  "$peer" smtp --cert-dir "$work/certs" "$@" >"$fifo" 2>/dev/null &
  pids+=($!)
  read -r _ p <"$fifo"
  port[$name]=$p
}

# relay NAME UPSTREAM...: starts `tlsrelay serve` with those demo upstreams in that order;
# its port lands in ${port[NAME]}. $relay_extra (TOML) is appended to its config.
relay() {
  local name=$1
  shift
  local conf="$work/$name.toml"
  {
    printf '[proxy]\nlisten = ["127.0.0.1:0"]\nhostname = "relay.demo"\n'
    printf '[tls]\nca_file = "%s"\n' "$work/certs/ca.pem"
    printf '[log]\nevents = "%s"\n' "$work/$name.events.jsonl"
    for u in "$@"; do
      printf '[[upstream]]\nname = "%s"\nhost = "mx.test"\nport = %s\n' "$u" "${port[$u]}"
      printf 'connect = "127.0.0.1"\ntimeout_s = 2\n'
    done
    printf '%s\n' "${relay_extra:-}"
  } >"$conf"
  local fifo="$work/$name.ready"
  mkfifo "$fifo"
  "$bin" serve --config "$conf" >"$fifo" 2>"$work/$name.log" &
  pids+=($!)
  local line
  read -r line <"$fifo"
  port[$name]=${line##*:}
}
