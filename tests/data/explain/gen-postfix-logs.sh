#!/usr/bin/env bash
# Regenerates tests/data/explain/postfix-3.7/*.log: REAL Postfix logs (maillog_file, as
# Postfix wrote them) for each TLS failure mode that `tlsrelay explain` must name (issue 20).
#
#   gen-postfix-logs.sh [OPTION...] [BUILD_DIR] [MODE...]   as root; BUILD_DIR default
#                                                            /work/main/build
#   gen-postfix-logs.sh --list                              the modes
#
#   --out DIR        write MODE.log to DIR instead of postfix-3.7/ (tests must not rewrite
#                    the committed logs)
#   --explain BIN    the live check (tests/explain/rig_test.sh): once a mode's outcome is in
#                    the log and Postfix has stopped, while the mode's test peer still runs,
#                    BIN explain --json --mta-config INSTANCE/etc INSTANCE/maillog, with the
#                    probe and with --no-probe; needs --results
#   --results DIR    where --explain writes MODE.live.jsonl and MODE.logonly.jsonl (and
#                    their standard errors, MODE.live.err and MODE.logonly.err)
#
# Without options nothing changes: postfix-3.7/MODE.log for each mode, no explain run.
#
# Each mode: a test peer (tests/peer) misbehaves in one way, a private Postfix
# (integration/postfix-instance.sh) with the TLS settings an admin would have relays one
# message to it, the log is polled (bounded) until the outcome appears, Postfix stops, and
# its maillog becomes postfix-3.7/MODE.log. Nothing in a log is edited.
#
# The world is private: everything runs in a new network namespace (only its own loopback:
# no packet can leave this machine) and a new mount namespace where /etc/hosts names mx.test
# and /etc/resolv.conf points at the test peer's DNS server on 127.0.0.1:53. iptables rules
# live in that namespace's tables and vanish with it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
out="$here/postfix-3.7"

all_modes=(
  ok-secure ok-encrypt ok-may ok-implicit-wrappermode
  expired-secure expired-encrypt expired-may expired-secure-loglevel0
  leafonly-secure leafonly-encrypt
  untrusted-secure untrusted-noroot-secure untrusted-encrypt
  selfsigned-secure wronghost-secure wronghost-verify wronghost-encrypt
  notyet-secure rsa1024-secure sha1-secure
  clock-future-secure clock-past-secure
  tls10-default tls10-mandatory-tls12
  no-shared-cipher weak-dh1024 anonymous-encrypt anonymous-secure sni-required client-cert-required alert-internal-error
  starttls-not-offered-encrypt starttls-not-offered-may starttls-masked-encrypt
  starttls-454-encrypt starttls-injection-encrypt
  implicit-server-plain-client starttls-server-wrappermode
  refused connect-timeout-drop reject-host-prohibited reject-net-unreachable
  reset-after-clienthello eof-after-clienthello stall-after-clienthello partial-flight
  banner-554 banner-421 banner-silent banner-ssh ehlo-reject
  dns-nxdomain dns-nxdomain-native dns-servfail
  auth-failed
  recovery-reset-then-sent recovery-expired-then-fixed
  inbound-tls10-client inbound-drop-after-starttls inbound-client-rejects-cert
  inbound-implicit-tls-client
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
  echo "$0: needs root (private Postfix instances, network and mount namespaces)" >&2
  exit 77
fi
for tool in postfix postconf unshare ip iptables faketime openssl; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is not installed" >&2; exit 77; }
done
peer_bin="$build/tests/peer/tlsrelay-testpeer"
[ -x "$peer_bin" ] || { echo "$0: no $peer_bin (build the project first)" >&2; exit 2; }

# Everything below runs in a network and mount namespace of its own.
if [ -z "${GEN_POSTFIX_INNER:-}" ]; then
  opts=(--out "$out")
  [ -z "$explain_bin" ] || opts+=(--explain "$explain_bin" --results "$results")
  GEN_POSTFIX_INNER=1 exec unshare -m -n --propagation private bash "$0" "${opts[@]}" "$build" \
    "${modes[@]}"
fi

ip link set lo up
work=$(mktemp -d /tmp/tlsrelay-explain-rig.XXXXXX)
chmod 755 "$work"
pids=()
instances=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local d p
  for d in "${instances[@]}"; do bash "$src/integration/postfix-instance.sh" stop "$d" || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  iptables -F OUTPUT 2>/dev/null || true
  [ -n "${RIG_KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# Waits (bounded) until FILE has a line matching REGEX; polls the condition, no blind sleep.
wait_for() {
  local file=$1 regex=$2 seconds=${3:-30}
  local deadline=$((SECONDS + seconds))
  until grep -qE -- "$regex" "$file" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# ---- the private world -------------------------------------------------------------------
certs="$work/certs"
"$peer_bin" gen-certs "$certs" >/dev/null
chmod -R a+rX "$certs"
printf '127.0.0.1 localhost\n127.0.0.1 mx.test\n127.0.0.1 mta.test\n' >"$work/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
chmod 644 "$work/hosts" "$work/resolv.conf"
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf

"$peer_bin" dns --listen 127.0.0.1:53 --a mx.test=127.0.0.1 --a mta.test=127.0.0.1 \
  --a hostsonly-absent.test=127.0.0.1 --nxdomain nx.test --servfail broken.test \
  >"$work/dns.out" 2>"$work/dns.log" &
pids+=($!)
wait_for "$work/dns.out" '^ready' 10 || { cat "$work/dns.log"; exit 1; }

# smtp wrapped in libfaketime (the clock modes): master.cf commands are relative to
# daemon_directory, so the wrapper is named by a relative path from there.
daemon_dir=$(postconf -d -h daemon_directory)
faketime_lib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketime.so.1$' || true)
make_faketime_smtp() { # NAME OFFSET
  cat >"$work/smtp-$1" <<SH
#!/bin/sh
# Postfix's smtp(8) with its clock moved by $2 (libfaketime)
LD_PRELOAD=$faketime_lib FAKETIME='$2' exec $daemon_dir/smtp "\$@"
SH
  chmod 755 "$work/smtp-$1"
}

# ---- one mode ----------------------------------------------------------------------------
peer_port=""
start_peer() { # ARGS... -> peer_port
  local log="$work/peer.$mode.$RANDOM"
  "$peer_bin" smtp --listen 127.0.0.1:0 --cert-dir "$certs" "$@" >"$log.out" 2>"$log.err" &
  pids+=($!)
  wait_for "$log.out" '^ready [0-9]+' 10 || { cat "$log.err"; return 1; }
  peer_port=$(awk '/^ready/ { print $2; exit }' "$log.out")
}

# A port where nothing listens: its connect is refused (in this namespace nobody else
# binds). Plain bash, as python3 is not on every machine that runs the rig.
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

pf=""
start_postfix() { # RELAYHOST, main.cf lines on stdin
  pf="$work/pf-$mode"
  cat >"$work/extra-$mode.cf"
  instances+=("$pf")
  bash "$src/integration/postfix-instance.sh" start "$pf" 2525 "$1" "$work/extra-$mode.cf" \
    >"$work/postfix-start-$mode.log" 2>&1 || { cat "$work/postfix-start-$mode.log"; return 1; }
  wait_for "$pf/maillog" 'daemon started' 20
}

pf_run() { bash "$src/integration/postfix-instance.sh" run "$pf" "$@"; }

send_mail() {
  printf 'From: sender@test\nTo: rcpt@example.net\nSubject: %s\n\nexplain rig: %s\n' \
    "$mode" "$mode" | pf_run sendmail -f sender@test rcpt@example.net
  pf_run postqueue -f >/dev/null 2>&1 || true
}

# Stops Postfix, then keeps its maillog as MODE.log.
save_log() {
  bash "$src/integration/postfix-instance.sh" stop "$pf"
  cp "$pf/maillog" "$out/$mode.log"
  chmod 644 "$out/$mode.log"
  echo "== $mode: $(grep -cE 'status=|SSL_|TLS|lost connection|timed out|refused|not found' "$out/$mode.log") interesting lines -> $out/$mode.log"
  run_explain
}

# --explain: the instance's maillog explained while the mode's test peer is still up, so the
# probe meets the same failure Postfix met, with the instance's own settings (postconf -c).
# Postfix has stopped: the log is complete and no retry runs beside the probe. explain's exit
# status (1: failures found) is in its summary line.
run_explain() {
  [ -n "$explain_bin" ] || return 0
  local args=(explain --json --mta-config "$pf/etc")
  "$explain_bin" "${args[@]}" "$pf/maillog" >"$results/$mode.live.jsonl" \
    2>"$results/$mode.live.err" || true
  "$explain_bin" "${args[@]}" --no-probe "$pf/maillog" >"$results/$mode.logonly.jsonl" \
    2>"$results/$mode.logonly.err" || true
  echo "== $mode: explain -> $results/$mode.live.jsonl, $results/$mode.logonly.jsonl"
}

# The usual settings of an admin who relays through a TLS smarthost, by level.
tls_cf() { # LEVEL [LOGLEVEL]
  cat <<CF
smtp_tls_security_level = $1
smtp_tls_CAfile = $certs/ca.pem
smtp_tls_loglevel = ${2:-1}
smtp_connect_timeout = 4s
smtp_helo_timeout = 8s
smtp_starttls_timeout = 8s
CF
}

final_status='status=(sent|deferred|bounced)'

# The common shape of an outbound mode: peer ARGS, Postfix at LEVEL, one message.
outbound() { # LEVEL PEER_ARGS...
  local level=$1
  shift
  start_peer "$@"
  start_postfix "[mx.test]:$peer_port" < <(tls_cf "$level")
  send_mail
  wait_for "$pf/maillog" "$final_status" 60 || echo "WARN: $mode: no final status in time"
  save_log
}

# Inbound: the private Postfix's smtpd offers STARTTLS with the good mx.test certificate,
# TLS 1.2 and newer only; CLIENT... is what connects to it.
inbound_start() {
  start_postfix "[127.0.0.1]:9" <<CF
smtpd_tls_security_level = may
smtpd_tls_cert_file = $certs/good.chain.pem
smtpd_tls_key_file = $certs/good.key
smtpd_tls_loglevel = 1
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
alias_maps =
alias_database =
CF
}

run_mode() {
  case $mode in
  # -- success
  ok-secure) outbound secure --cert good ;;
  ok-encrypt) outbound encrypt --cert good ;;
  ok-may) outbound may --cert good ;;
  ok-implicit-wrappermode)
    start_peer --tls implicit --cert good
    start_postfix "[mx.test]:$peer_port" < <(tls_cf secure; echo "smtp_tls_wrappermode = yes")
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  # -- certificates
  expired-secure) outbound secure --cert expired ;;
  expired-encrypt) outbound encrypt --cert expired ;;
  expired-may) outbound may --cert expired ;;
  expired-secure-loglevel0)
    start_peer --cert expired
    start_postfix "[mx.test]:$peer_port" < <(tls_cf secure 0)
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  leafonly-secure) outbound secure --cert leafonly ;;
  leafonly-encrypt) outbound encrypt --cert leafonly ;;
  untrusted-secure) outbound secure --cert untrusted ;;
  untrusted-noroot-secure) outbound secure --cert untrusted-noroot ;;
  untrusted-encrypt) outbound encrypt --cert untrusted ;;
  selfsigned-secure) outbound secure --cert selfsigned ;;
  wronghost-secure) outbound secure --cert wronghost ;;
  wronghost-encrypt) outbound encrypt --cert wronghost ;;
  wronghost-verify)
    start_peer --cert wronghost
    start_postfix "[mx.test]:$peer_port" < <(tls_cf verify; echo "smtp_tls_verify_cert_match = hostname")
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  notyet-secure) outbound secure --cert notyet ;;
  rsa1024-secure) outbound secure --cert rsa1024 ;;
  sha1-secure) outbound secure --cert sha1 ;;
  # -- our clock: smtp(8) alone runs with a wrong clock (the certificates are fine)
  clock-future-secure | clock-past-secure)
    if [ -z "$faketime_lib" ]; then echo "SKIP $mode: libfaketime not found"; return 0; fi
    local offset=+3650d
    [ "$mode" = clock-past-secure ] && offset=-3650d
    make_faketime_smtp "$mode" "$offset"
    start_peer --cert good
    start_postfix "[mx.test]:$peer_port" < <(tls_cf secure)
    local rel
    rel=$(realpath --relative-to="$daemon_dir" "$work/smtp-$mode")
    sed -i "s#^\(smtp      unix  .*\) smtp\$#\1 $rel#" "$pf/etc/master.cf"
    grep -q "$rel" "$pf/etc/master.cf" || { echo "FAIL $mode: master.cf smtp line not found"; return 1; }
    pf_run postfix reload >/dev/null 2>&1
    wait_for "$pf/maillog" 'reload' 10 || true
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  # -- TLS handshake
  tls10-default) outbound encrypt --cert good --tls-max 1.0 --seclevel 0 ;;
  tls10-mandatory-tls12)
    start_peer --cert good --tls-max 1.0 --seclevel 0
    start_postfix "[mx.test]:$peer_port" < <(tls_cf encrypt; echo "smtp_tls_mandatory_protocols = >=TLSv1.2")
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  no-shared-cipher) outbound encrypt --cert good --tls-max 1.2 --ciphers NULL-SHA256 --seclevel 0 ;;
  weak-dh1024)
    outbound encrypt --cert good --tls-max 1.2 --dh1024 --ciphers DHE-RSA-AES128-GCM-SHA256 \
      --seclevel 0
    ;;
  anonymous-encrypt) outbound encrypt --anonymous --seclevel 0 ;;
  anonymous-secure) outbound secure --anonymous --seclevel 0 ;;
  sni-required) outbound secure --cert good --require-sni mx.test ;;
  client-cert-required) outbound secure --cert good --require-client-cert ;;
  alert-internal-error) outbound secure --cert good --behaviour alert:internal_error ;;
  # -- STARTTLS
  starttls-not-offered-encrypt) outbound encrypt --behaviour no-starttls ;;
  starttls-not-offered-may) outbound may --behaviour no-starttls ;;
  starttls-masked-encrypt) outbound encrypt --behaviour starttls-masked ;;
  starttls-454-encrypt) outbound encrypt --behaviour starttls-454 ;;
  starttls-injection-encrypt) outbound encrypt --behaviour starttls-injection ;;
  # -- 465/587 mix-up
  implicit-server-plain-client) outbound encrypt --tls implicit --cert good ;;
  starttls-server-wrappermode)
    start_peer --tls starttls --cert good
    start_postfix "[mx.test]:$peer_port" < <(tls_cf encrypt; echo "smtp_tls_wrappermode = yes")
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  # -- network
  refused)
    start_postfix "[mx.test]:$(free_port)" < <(tls_cf encrypt)
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  connect-timeout-drop | reject-host-prohibited | reject-net-unreachable)
    local port target=DROP
    port=$(free_port)
    case $mode in
    reject-host-prohibited) target="REJECT --reject-with icmp-host-prohibited" ;;
    reject-net-unreachable) target="REJECT --reject-with icmp-net-unreachable" ;;
    esac
    # shellcheck disable=SC2086 # target's words
    iptables -A OUTPUT -o lo -p tcp --dport "$port" --syn -j $target
    start_postfix "[mx.test]:$port" < <(tls_cf encrypt)
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    iptables -F OUTPUT
    ;;
  reset-after-clienthello) outbound encrypt --cert good --behaviour rst-after-clienthello ;;
  eof-after-clienthello) outbound encrypt --cert good --behaviour eof-after-clienthello ;;
  stall-after-clienthello) outbound encrypt --cert good --behaviour stall-after-clienthello ;;
  partial-flight) outbound encrypt --cert good --behaviour partial-flight:1400 ;;
  banner-554) outbound encrypt --behaviour banner-554 ;;
  banner-421) outbound encrypt --behaviour banner-421 ;;
  banner-silent) outbound encrypt --behaviour silent ;;
  banner-ssh) outbound encrypt --behaviour banner-ssh ;;
  ehlo-reject) outbound encrypt --behaviour ehlo-reject ;;
  # -- DNS (smtp_host_lookup = dns: the test peer's DNS server; native: /etc/hosts first)
  dns-nxdomain)
    start_postfix "[nx.test]:25" < <(tls_cf encrypt)
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  dns-nxdomain-native)
    # absent from the private /etc/hosts; the DNS server then says NXDOMAIN too
    start_postfix "[nx.test]:25" < <(tls_cf encrypt; echo "smtp_host_lookup = native")
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  dns-servfail)
    start_postfix "[broken.test]:25" < <(tls_cf encrypt)
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  # -- AUTH
  auth-failed)
    start_peer --cert good --auth-user me@example.org --auth-password right-password
    echo "[mx.test]:$peer_port me@example.org:wrong-password" >"$work/sasl_passwd"
    start_postfix "[mx.test]:$peer_port" < <(
      tls_cf secure
      echo "smtp_sasl_auth_enable = yes"
      echo "smtp_sasl_password_maps = texthash:$work/sasl_passwd"
      echo "smtp_sasl_security_options = noanonymous"
    )
    send_mail
    wait_for "$pf/maillog" "$final_status" 60 || true
    save_log
    ;;
  # -- delivered later: the same queue id deferred, then sent
  recovery-reset-then-sent)
    # the peer resets the first connection only; Postfix retries after minimal_backoff_time
    start_peer --cert good --behaviour rst-after-clienthello --misbehave-first 1
    start_postfix "[mx.test]:$peer_port" < <(tls_cf encrypt)
    send_mail
    wait_for "$pf/maillog" 'status=deferred' 60 || true
    wait_for "$pf/maillog" 'status=sent' 60 || echo "WARN: $mode: not delivered in time"
    save_log
    ;;
  recovery-expired-then-fixed)
    # The smarthost's admin renews the certificate: a new peer on the same port.
    start_peer --cert expired
    local port=$peer_port
    start_postfix "[mx.test]:$port" < <(tls_cf secure)
    send_mail
    wait_for "$pf/maillog" 'status=deferred' 60 || true
    kill "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null || true
    start_peer --listen "127.0.0.1:$port" --cert good
    pf_run postqueue -f >/dev/null 2>&1 || true
    wait_for "$pf/maillog" 'status=sent' 60 || true
    save_log
    ;;
  # -- inbound: clients failing against our smtpd
  inbound-tls10-client)
    inbound_start
    openssl s_client -connect 127.0.0.1:2525 -starttls smtp -tls1 -cipher 'DEFAULT:@SECLEVEL=0' \
      </dev/null >"$work/client-$mode.log" 2>&1 || true
    wait_for "$pf/maillog" 'disconnect from' 20 || true
    save_log
    ;;
  inbound-drop-after-starttls)
    inbound_start
    # EHLO, STARTTLS, read the 220, hang up without a ClientHello.
    python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 2525), timeout=10)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line
reply()
s.sendall(b"EHLO client.test\r\n"); reply()
s.sendall(b"STARTTLS\r\n"); reply()
s.close()
PY
    wait_for "$pf/maillog" 'disconnect from' 20 || true
    save_log
    ;;
  inbound-client-rejects-cert)
    # A client that does not trust our certificate (no CA given) and aborts the handshake.
    inbound_start
    openssl s_client -connect 127.0.0.1:2525 -starttls smtp -verify_return_error \
      -CAfile "$certs/untrusted-root.pem" </dev/null >"$work/client-$mode.log" 2>&1 || true
    wait_for "$pf/maillog" 'disconnect from' 20 || true
    save_log
    ;;
  inbound-implicit-tls-client)
    # A client speaking TLS first (implicit TLS) to the STARTTLS port.
    inbound_start
    openssl s_client -connect 127.0.0.1:2525 </dev/null >"$work/client-$mode.log" 2>&1 || true
    wait_for "$pf/maillog" 'disconnect from' 20 || true
    save_log
    ;;
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
  # This mode's Postfix and peers are stopped before the next one starts.
  for d in "${instances[@]}"; do bash "$src/integration/postfix-instance.sh" stop "$d" || true; done
  instances=()
  for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
  pids=("${pids[0]}")
done
exit $((failed > 0))
