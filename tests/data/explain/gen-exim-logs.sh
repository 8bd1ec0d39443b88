#!/usr/bin/env bash
# Regenerates tests/data/explain/exim-4.96/*.log: REAL Exim 4.96 (Debian's exim4-daemon-light,
# GnuTLS) mainlog lines for the main TLS failure modes that `tlsrelay explain` must name
# (issue 20). Exim is never installed: the Debian packages are unpacked into a temp dir and
# their exim4 binary runs with its own -C config, spool and log directory.
#
#   gen-exim-logs.sh [OPTION...] [BUILD_DIR] [MODE...]   as root; BUILD_DIR default
#                                                         /work/main/build
#   gen-exim-logs.sh --list                              the modes
#   EXIM_DEBS=DIR gen-exim-logs.sh ...        use the .deb files already in DIR (else
#                                             `apt-get download` fetches them from Debian)
#
#   --out DIR        write MODE.log to DIR instead of exim-4.96/ (tests must not rewrite the
#                    committed logs)
#   --explain BIN    the live check (tests/explain/rig_test.sh): once a mode's outcome is in
#                    the mainlog, while the mode's test peer still runs, BIN explain --json
#                    on that mainlog, with the probe and with --no-probe; needs --results.
#                    Exim has no postconf: explain gets --mta-config of an empty directory,
#                    so that it cannot read the host's Postfix settings by accident (it warns
#                    and gives no Postfix fixes), and its probe uses its defaults: STARTTLS,
#                    no SNI, the system CA store (here: the system bundle plus the test CA,
#                    bind-mounted over /etc/ssl/certs/ca-certificates.crt in the namespace)
#   --results DIR    where --explain writes MODE.live.jsonl and MODE.logonly.jsonl (and
#                    their standard errors, MODE.live.err and MODE.logonly.err)
#
# Without options nothing changes: exim-4.96/MODE.log for each mode, no explain run.
#
# Each mode: the test peer misbehaves in one way, one message goes to it through a
# manualroute router and an smtp transport that requires TLS and verifies the certificate
# against the test CA, delivered at once (-odi); the mainlog becomes exim-4.96/MODE.log.
# The peer listens on port 25 (465 for the implicit-TLS server): Exim's default mainlog does
# not log the port (no +outgoing_port), and explain probes a route without a port on 25, as
# a real MX is reached.
#
# The world is private: a new network namespace (its own loopback only) and a mount
# namespace where /etc/hosts names mx.test, and /etc/passwd and /etc/group also hold the
# Debian-exim user the binary was built for (the host's files are untouched).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="$here/exim-4.96"

all_modes=(
  ok expired leafonly untrusted wronghost
  tls10 tls10-require-tls12 starttls-not-offered starttls-masked
  implicit-server-plain-client starttls-server-smtps
  refused reset-after-clienthello
)
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${all_modes[@]}"
  exit 0
fi

explain_bin=""
results=""
while [ $# -gt 0 ]; do
  case $1 in
  --out)
    mkdir -p "${2:?--out DIR}"
    out=$(cd "$2" && pwd)
    shift 2
    ;;
  --explain)
    explain_bin=$(readlink -f "${2:?--explain BIN}")
    shift 2
    ;;
  --results)
    mkdir -p "${2:?--results DIR}"
    results=$(cd "$2" && pwd)
    shift 2
    ;;
  --*)
    echo "$0: unknown option $1" >&2
    exit 2
    ;;
  *) break ;;
  esac
done
if [ -n "$explain_bin" ] && { [ -z "$results" ] || [ ! -x "$explain_bin" ]; }; then
  echo "$0: --explain needs an executable BIN and --results DIR" >&2
  exit 2
fi

build=$(readlink -f "${1:-/work/main/build}")
[ $# -gt 0 ] && shift
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=("${all_modes[@]}")

if [ "$(id -u)" -ne 0 ]; then
  echo "$0: needs root (network and mount namespaces)" >&2
  exit 77
fi
peer_bin="$build/tests/peer/tlsrelay-testpeer"
[ -x "$peer_bin" ] || { echo "$0: no $peer_bin (build the project first)" >&2; exit 2; }

if [ -z "${GEN_EXIM_INNER:-}" ]; then
  debs=${EXIM_DEBS:-}
  tmp_debs=""
  if [ -z "$debs" ]; then
    debs=$(mktemp -d /tmp/tlsrelay-exim-debs.XXXXXX)
    tmp_debs=$debs
    # libidn12: exim4 links it, and a host with Postfix alone may not have it.
    (cd "$debs" && apt-get download exim4-daemon-light exim4-base exim4-config libidn12) ||
      { echo "$0: apt-get download failed" >&2; exit 2; }
  fi
  opts=(--out "$out")
  [ -z "$explain_bin" ] || opts+=(--explain "$explain_bin" --results "$results")
  status=0
  GEN_EXIM_INNER=1 EXIM_DEBS="$debs" unshare -m -n --propagation private \
    bash "$0" "${opts[@]}" "$build" "${modes[@]}" || status=$?
  [ -z "$tmp_debs" ] || rm -rf "$tmp_debs"
  exit "$status"
fi

ip link set lo up
work=$(mktemp -d /tmp/tlsrelay-explain-exim.XXXXXX)
chmod 755 "$work"
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${RIG_KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

wait_for() {
  local file=$1 regex=$2 seconds=${3:-30}
  local deadline=$((SECONDS + seconds))
  until grep -qE -- "$regex" "$file" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# ---- Exim, unpacked -----------------------------------------------------------------------
for deb in "$EXIM_DEBS"/*.deb; do dpkg -x "$deb" "$work/root"; done
exim="$work/root/usr/sbin/exim4"
# exim4 links libidn12, which a Postfix host may lack, and Exim empties its environment
# before it re-execs itself: so the loader finds the unpacked library through a private
# ld.so.cache (the system's directories plus ours), bind-mounted in this namespace only.
{ cat /etc/ld.so.conf; echo "$work/root/usr/lib/x86_64-linux-gnu"; } >"$work/ld.so.conf"
ldconfig -C "$work/ld.so.cache" -f "$work/ld.so.conf"
mount --bind "$work/ld.so.cache" /etc/ld.so.cache
exim_uid=64990
{ cat /etc/passwd; echo "Debian-exim:x:$exim_uid:$exim_uid::/nonexistent:/usr/sbin/nologin"; } \
  >"$work/passwd"
{ cat /etc/group; echo "Debian-exim:x:$exim_uid:"; } >"$work/group"
printf '127.0.0.1 localhost\n127.0.0.1 mx.test\n127.0.0.1 mta.test\n' >"$work/hosts"
printf 'nameserver 127.0.0.1\n' >"$work/resolv.conf"
chmod 644 "$work/passwd" "$work/group" "$work/hosts" "$work/resolv.conf"
mount --bind "$work/passwd" /etc/passwd
mount --bind "$work/group" /etc/group
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf
version=$("$exim" -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p')
echo "exim $version from $EXIM_DEBS"

certs="$work/certs"
"$peer_bin" gen-certs "$certs" >/dev/null
chmod -R a+rX "$certs"
# --explain: the probe trusts the system store (no smtp_tls_CAfile to read); the test CA joins
# it in this namespace, so that a certificate mode fails the probe for its own reason and not
# for an unknown issuer (tests/docs/quickstart_test.sh does the same).
if [ -n "$explain_bin" ]; then
  cat /etc/ssl/certs/ca-certificates.crt "$certs/ca.pem" >"$work/ca-certificates.crt"
  chmod 644 "$work/ca-certificates.crt"
  mount --bind "$work/ca-certificates.crt" /etc/ssl/certs/ca-certificates.crt
  mkdir "$work/no-mta-config" # no main.cf: explain must read no Postfix settings
fi

# The peer of a mode listens on 25 unless ARGS say otherwise (a later --listen wins).
start_peer() { # ARGS... -> peer_port
  local log="$work/peer.$mode"
  "$peer_bin" smtp --listen 127.0.0.1:25 --cert-dir "$certs" "$@" >"$log.out" 2>"$log.err" &
  pids+=($!)
  wait_for "$log.out" '^ready [0-9]+' 10 || { cat "$log.err"; return 1; }
  peer_port=$(awk '/^ready/ { print $2; exit }' "$log.out")
}

# A smarthost route as an Exim admin writes it: TLS required, certificate verified against
# the CA, the host name checked.  PORT [PROTOCOL]
write_config() { # DIR PORT [PROTOCOL [TRANSPORT_OPTION]]
  local dir=$1 port=$2 protocol=${3:-smtp} extra=${4:-}
  mkdir -p "$dir/spool" "$dir/log"
  chown -R "$exim_uid:$exim_uid" "$dir/spool" "$dir/log"
  cat >"$dir/exim.conf" <<CF
primary_hostname = mta.test
qualify_domain = test
spool_directory = $dir/spool
log_file_path = $dir/log/%slog
exim_user = Debian-exim
exim_group = Debian-exim
# Exim re-execs itself for deliveries (-Mc): this binary, not /usr/sbin/exim4.
exim_path = $exim
keep_environment =
tls_advertise_hosts =
daemon_smtp_ports = 2525
local_interfaces = 127.0.0.1

begin routers
smarthost:
  driver = manualroute
  domains = *
  transport = remote_smtp
  route_list = * mx.test::$port byname
  self = send
  no_more

begin transports
remote_smtp:
  driver = smtp
  protocol = $protocol
  hosts_require_tls = *
  tls_verify_certificates = $certs/ca.pem
  tls_verify_hosts = *
  tls_verify_cert_hostnames = *
  # shorter than the 5m default, so a silent server gives its line in seconds
  command_timeout = 10s
  connect_timeout = 5s
  $extra

begin retry
* * F,1m,1m
CF
}

run_exim_mode() { # PORT [PROTOCOL]
  local dir="$work/exim-$mode"
  write_config "$dir" "$@"
  printf 'From: sender@test\nTo: rcpt@example.net\nSubject: %s\n\nexplain rig: %s\n' \
    "$mode" "$mode" |
    timeout 120 "$exim" -C "$dir/exim.conf" -odi -f sender@test -- rcpt@example.net \
      >"$work/exim-$mode.out" 2>&1 || true
  wait_for "$dir/log/mainlog" '(=>|==|\*\*) rcpt@example.net' 5 ||
    echo "WARN: $mode: no delivery outcome in the log"
  run_explain "$dir/log/mainlog"
  cp "$dir/log/mainlog" "$out/$mode.log"
  chmod 644 "$out/$mode.log"
  # The paniclog holds "exim user lost privilege for using -C option" (our -C) and, kept
  # only when it has more, anything else.
  if grep -qv 'lost privilege for using -C' "$dir/log/paniclog" 2>/dev/null; then
    cp "$dir/log/paniclog" "$out/$mode.paniclog"
  fi
  echo "== $mode -> $out/$mode.log"
}

# --explain: the mainlog explained while the mode's test peer is still up, so the probe meets
# the failure Exim met. Exim ran with -odi and no daemon: the log is complete and no retry
# runs beside the probe. explain's exit status (1: failures found) is in its summary line.
run_explain() { # MAINLOG
  [ -n "$explain_bin" ] || return 0
  local args=(explain --json --mta-config "$work/no-mta-config")
  "$explain_bin" "${args[@]}" "$1" >"$results/$mode.live.jsonl" \
    2>"$results/$mode.live.err" || true
  "$explain_bin" "${args[@]}" --no-probe "$1" >"$results/$mode.logonly.jsonl" \
    2>"$results/$mode.logonly.err" || true
  echo "== $mode: explain -> $results/$mode.live.jsonl, $results/$mode.logonly.jsonl"
}

run_mode() {
  case $mode in
  ok) start_peer --cert good && run_exim_mode "$peer_port" ;;
  expired) start_peer --cert expired && run_exim_mode "$peer_port" ;;
  leafonly) start_peer --cert leafonly && run_exim_mode "$peer_port" ;;
  untrusted) start_peer --cert untrusted && run_exim_mode "$peer_port" ;;
  wronghost) start_peer --cert wronghost && run_exim_mode "$peer_port" ;;
  # GnuTLS's defaults still allow TLS 1.0: delivered. Then with an admin's TLS 1.2 minimum.
  tls10) start_peer --cert good --tls-max 1.0 --seclevel 0 && run_exim_mode "$peer_port" ;;
  tls10-require-tls12) start_peer --cert good --tls-max 1.0 --seclevel 0 &&
    run_exim_mode "$peer_port" smtp "tls_require_ciphers = NORMAL:-VERS-TLS1.0:-VERS-TLS1.1" ;;
  starttls-not-offered) start_peer --behaviour no-starttls && run_exim_mode "$peer_port" ;;
  starttls-masked) start_peer --behaviour starttls-masked && run_exim_mode "$peer_port" ;;
  # 465/587 mix-up: plain SMTP (STARTTLS expected) to an implicit-TLS port, and implicit
  # TLS (protocol = smtps) to a STARTTLS port.
  implicit-server-plain-client) start_peer --tls implicit --cert good --listen 127.0.0.1:465 &&
    run_exim_mode "$peer_port" ;;
  starttls-server-smtps) start_peer --tls starttls --cert good &&
    run_exim_mode "$peer_port" smtps ;;
  refused) run_exim_mode 25 ;; # the previous mode's peer has exited: nothing listens
  reset-after-clienthello) start_peer --cert good --behaviour rst-after-clienthello &&
    run_exim_mode "$peer_port" ;;
  *)
    echo "unknown mode $mode" >&2
    return 2
    ;;
  esac
}

mkdir -p "$out"
failed=0
for mode in "${modes[@]}"; do
  run_mode || { echo "FAIL: $mode"; failed=$((failed + 1)); }
  # The next mode's peer binds the same port: this one has exited first.
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
done
exit $((failed > 0))
