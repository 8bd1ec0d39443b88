#!/usr/bin/env bash
# The README's quick start, run as written: its command blocks against a private Postfix
# instance and a TLS test smarthost, on this machine, as root.
#
#   quickstart_test.sh SOURCE_DIR BUILD_DIR
#
# The README marks each block with an HTML comment: "quickstart: variables" (replaced by
# this test's smarthost and account), "run" (run line by line, each line as written),
# "skip" (building and installing the package: this test runs the binaries it built) and
# "undo". Everything else the README shows is checked to come out as it says:
#   - before setup --apply, mail goes straight to the smarthost (no TLS-Relay field) and
#     the dry run changes nothing;
#   - after it, a message from sendmail(1) arrives through tlsrelay with its TLS-Relay and
#     TLS-Relay-Route fields;
#   - after --undo, main.cf and master.cf are byte for byte as before.
#
# The world is private to this test: a mount namespace where /etc/postfix is the instance's
# (integration/postfix-instance.sh), /etc/tlsrelay and /var/log are empty tmpfs (mail.log
# then the instance's),
# /etc/hosts names the smarthost mx.test, and the system CA bundle also trusts the test CA.
# Two stand-ins, both because the README is written for a Debian host and CI is a root
# shell without systemd: `sudo` runs its command (we are root; the real sudo would reset
# PATH to where no tlsrelay is installed), and the units are started as systemd would
# start them (ExecStart as User=tlsrelay) once setup --apply says systemd does not run.
# Setup's password prompt gets its line through a pseudo-terminal (script(1)).
# Exit status: 0 pass, 1 fail, 77 skip (not root, or Postfix/script/unshare missing).
set -euo pipefail

src=$(readlink -f "${1:?source dir}")
build=$(readlink -f "${2:?build dir}")

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (a private Postfix instance and mount namespace)"
  exit 77
fi
for tool in postfix postconf sendmail unshare script runuser; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

# Everything below runs in a mount namespace of its own.
if [ -z "${QUICKSTART_INNER:-}" ]; then
  created_etc=""
  for d in /etc/tlsrelay; do
    [ -d "$d" ] || { mkdir -p "$d"; created_etc="$created_etc $d"; }
  done
  status=0
  QUICKSTART_INNER=1 unshare -m --propagation private bash "$0" "$@" || status=$?
  # Mount points this test had to create on the host go again (only if still empty).
  for d in $created_etc; do rmdir "$d" 2>/dev/null || true; done
  exit "$status"
fi

work=$(mktemp -d /tmp/tlsrelay-quickstart.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$work/pf" ] && bash "$src/integration/postfix-instance.sh" stop "$work/pf" || true
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
step() { echo "== $*"; }

# Waits (bounded) until FILE has a line matching REGEX; the condition, not a sleep.
wait_for() {
  local file=$1 regex=$2 seconds=${3:-30}
  local deadline=$((SECONDS + seconds))
  until grep -qE -- "$regex" "$file" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# ---- the README's blocks ----------------------------------------------------------------
readme="$src/README.md"
mkdir -p "$work/blocks"
awk -v dir="$work/blocks" '
  /^<!-- quickstart: / { mode = $3; pending = 1; next }
  pending && /^```/ { n++; file = sprintf("%s/%02d.%s", dir, n, mode); inblock = 1; pending = 0;
                      printf "" > file; line[n] = NR; next }
  inblock && /^```/ { inblock = 0; next }
  inblock { print >> file }
  END { for (i = 1; i <= n; i++) print line[i] > (dir "/../block-lines") }
' "$readme"
ls "$work/blocks"
last_line=$(tail -n 1 "$work/block-lines")
[ "$last_line" -le 150 ] || fail "the quick start ends at README line $last_line, not in its first 150"
for mode in variables run skip undo; do
  ls "$work/blocks"/*."$mode" >/dev/null 2>&1 || fail "the README has no 'quickstart: $mode' block"
done
grep -q 'tlsrelay setup .*--apply' "$work/blocks"/*.run || fail "no block runs setup --apply"
[ "$failures" -eq 0 ] || exit 1

# ---- the private world ------------------------------------------------------------------
step "a test smarthost (mx.test, STARTTLS, AUTH) and a Postfix that sends to it itself"
"$build/tests/peer/tlsrelay-testpeer" gen-certs "$work/certs" >/dev/null
chmod 755 "$work/certs"
chmod 644 "$work/certs/ca.pem"
cat /etc/ssl/certs/ca-certificates.crt "$work/certs/ca.pem" >"$work/ca-certificates.crt"
chmod 644 "$work/ca-certificates.crt"
mount --bind "$work/ca-certificates.crt" /etc/ssl/certs/ca-certificates.crt
{ cat /etc/hosts; echo "127.0.0.1 mx.test"; } >"$work/hosts"
chmod 644 "$work/hosts"
mount --bind "$work/hosts" /etc/hosts
mount -t tmpfs -o mode=755 tmpfs /etc/tlsrelay
# /var/log of its own: tlsrelay's event log, and mail.log (the instance's, for explain).
mount -t tmpfs -o mode=755 tmpfs /var/log
mkdir -m 750 /var/log/tlsrelay
getent passwd tlsrelay >/dev/null ||
  adduser --system --group --home /nonexistent --no-create-home tlsrelay >/dev/null
chown tlsrelay:tlsrelay /var/log/tlsrelay

account=me@example.org
password=Quickstart-Pw-7c41
capture="$work/capture"
mkfifo "$work/peer.stdin"
"$build/tests/peer/tlsrelay-testpeer" smtp --listen 127.0.0.1:0 --cert-dir "$work/certs" \
  --auth-user "$account" --auth-password "$password" --capture "$capture" --watch-stdin \
  <"$work/peer.stdin" >"$work/peer.out" 2>"$work/peer.log" &
pids+=($!)
exec 9>"$work/peer.stdin" # held open: the peer stops when this test's end closes it
wait_for "$work/peer.out" '^ready [0-9]+' || { cat "$work/peer.log"; exit 1; }
port=$(awk '/^ready/ { print $2 }' "$work/peer.out")
smarthost="mx.test:$port"

smtpd_port=2525
while ss -Hltn "sport = :$smtpd_port" | grep -q .; do smtpd_port=$((smtpd_port + 1)); done
# What an admin had before tlsrelay: Postfix's own TLS and SASL to the smarthost.
echo "[127.0.0.1]:$port $account:$password" >"$work/sasl_passwd"
cat >"$work/extra.cf" <<CF
smtp_tls_security_level = encrypt
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd
smtp_sasl_security_options = noanonymous
CF
bash "$src/integration/postfix-instance.sh" start "$work/pf" "$smtpd_port" "[127.0.0.1]:$port" \
  "$work/extra.cf"
install -m 600 "$work/sasl_passwd" "$work/pf/etc/sasl_passwd"
# From here on this namespace's /etc/postfix is the instance's: postconf, postfix,
# sendmail and postqueue as the README writes them act on it.
mount --bind "$work/pf/etc" /etc/postfix
ln -s "$work/pf/maillog" /var/log/mail.log # what explain reads by default
postmap /etc/postfix/sasl_passwd
postfix reload >/dev/null 2>&1
cp -p /etc/postfix/main.cf "$work/main.cf.before"
cp -p /etc/postfix/master.cf "$work/master.cf.before"

step "before setup: mail goes straight to the smarthost"
printf 'Subject: before tlsrelay\n\nquickstart-before\n' | sendmail -f "$account" "$account"
wait_for "$capture" 'quickstart-before' 60 || fail "mail did not reach the smarthost before setup"
if sed -n '1,/quickstart-before/p' "$capture" | grep -q '^TLS-Relay'; then
  fail "mail before setup already went through tlsrelay"
fi

# ---- the README, as written ---------------------------------------------------------------
mkdir -p "$work/bin" "$work/checkout"
ln -s "$build/proxy/tlsrelay" "$work/bin/tlsrelay"
ln -s "$build/milter/tlsrelay-milter" "$work/bin/tlsrelay-milter"
printf '#!/bin/sh\n# as root, sudo runs its command (and keeps PATH)\nexec "$@"\n' >"$work/bin/sudo"
chmod 755 "$work/bin/sudo"
ln -s "$build" "$work/checkout/build-deb" # step 1's build directory
export PATH="$work/bin:$PATH"
vars="SMARTHOST=$smarthost; ACCOUNT=$account"

# One README line, as written, in the checkout, with the variables; setup's password prompt
# answered through a pseudo-terminal.
run_line() {
  local line=$1
  echo "\$ $line"
  if [[ $line == *"tlsrelay setup "* && $line != *--undo* ]]; then
    printf '%s\n' "$password" |
      (cd "$work/checkout" && script -qec "bash -euo pipefail -c '$vars; $line'" /dev/null) |
      tee -a "$work/transcript"
    return "${PIPESTATUS[1]}"
  fi
  (cd "$work/checkout" && bash -euo pipefail -c "$vars; $line") 2>&1 | tee "$work/last-output" |
    tee -a "$work/transcript"
  return "${PIPESTATUS[0]}"
}

start_units_as_systemd_would() {
  local unit exec user
  for unit in tlsrelay tlsrelay-milter; do
    exec=$(sed -n 's#^ExecStart=/usr/sbin/##p' "$src/packaging/$unit.service")
    user=$(sed -n 's/^User=//p' "$src/packaging/$unit.service")
    # shellcheck disable=SC2086 # ExecStart's words
    runuser -u "$user" -- "$work/bin/"$exec >"$work/$unit.log" 2>&1 &
    pids+=($!)
    wait_for "$work/$unit.log" 'listening' 20 ||
      { fail "$unit did not start: $(tail -n 3 "$work/$unit.log")"; return 1; }
  done
}

for block in "$work/blocks"/*; do
  mode=${block##*.}
  case $mode in
  variables | skip) continue ;;
  esac
  step "README block $(basename "$block"): $(head -n 1 "$block")"
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    apply=no
    [[ $line == *"tlsrelay setup "*--apply* ]] && apply=yes
    if ! run_line "$line"; then
      fail "the README's command failed: $line"
      break 2
    fi
    if [[ $line == *"tlsrelay explain"* ]]; then
      # The mail before setup went out: nothing to explain, and it says so.
      grep -q 'nothing to explain' "$work/last-output" ||
        fail "explain on the instance's mail.log did not say 'nothing to explain'"
    fi
    if [[ $line == *"tlsrelay setup "* && $apply == no && $mode == run ]]; then
      cmp -s /etc/postfix/main.cf "$work/main.cf.before" || fail "the dry run changed main.cf"
      [ ! -e /etc/tlsrelay/tlsrelay.toml ] || fail "the dry run wrote tlsrelay.toml"
    fi
    if [ "$apply" = yes ]; then
      [ "$(postconf -h relayhost)" != "[127.0.0.1]:$port" ] || fail "setup --apply left relayhost"
      tlsrelay check-config /etc/tlsrelay/tlsrelay.toml || fail "setup's file fails check-config"
      start_units_as_systemd_would || break 2
    fi
  done <"$block"
  if [ "$mode" = undo ]; then
    cmp /etc/postfix/main.cf "$work/main.cf.before" || fail "main.cf after --undo differs"
    cmp /etc/postfix/master.cf "$work/master.cf.before" || fail "master.cf after --undo differs"
  fi
  # After the verification block: the message went through tlsrelay.
  if grep -q '^printf .* | sendmail' "$block"; then
    if wait_for "$capture" 'Sent through tlsrelay' 60; then
      after=$(sed -n '/quickstart-before/,$p' "$capture")
      grep -q '^TLS-Relay: upstream=smarthost;' <<<"$after" ||
        fail "the test message has no TLS-Relay field: $(head -c 2000 <<<"$after")"
      grep -q '^TLS-Relay-Route: ' <<<"$after" ||
        fail "the test message has no TLS-Relay-Route field (the milter)"
    else
      fail "the README's test message did not reach the smarthost: $(postqueue -p | tail -n 5)"
    fi
  fi
done

if [ "$failures" -eq 0 ]; then
  echo "ok: the README's quick start works as written"
else
  echo "--- transcript"; cat "$work/transcript" 2>/dev/null | tail -n 80
  echo "--- tlsrelay"; tail -n 20 "$work/tlsrelay.log" 2>/dev/null || true
  echo "--- maillog"; tail -n 30 "$work/pf/maillog" 2>/dev/null || true
fi
[ "$failures" -eq 0 ]
