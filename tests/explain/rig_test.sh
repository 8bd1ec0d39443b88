#!/usr/bin/env bash
# The acceptance rig of `tlsrelay explain` (issue 20), live: a private Postfix relays through
# the test peer in one failure mode (tests/data/explain/gen-postfix-logs.sh), and while that
# peer still misbehaves, explain reads the instance's real maillog with the instance's own
# settings (--mta-config) twice:
#   - with the probe: the worst outbound route's live.class (what the probe finds now) must
#     be the mode's class;
#   - with --no-probe: the route's class, or one of its candidates, must be the mode's class.
# ok-secure must report no failing route in either run. (explain_test.cpp checks the
# committed logs from the log alone; this test is the half that needs the peer running.)
#
#   rig_test.sh SOURCE_DIR BUILD_DIR
#
# The modes are a bounded subset, one or two per group of the README's table, so the test
# stays under three minutes. The logs go to a temp directory: the committed fixtures are
# never rewritten. Exit status: 0 pass, 1 a mode's check failed (one message each), 77 skip
# (not root, or a tool the rig needs is missing).
set -euo pipefail

src=$(readlink -f "${1:?source dir}")
build=$(readlink -f "${2:?build dir}")
gen="$src/tests/data/explain/gen-postfix-logs.sh"
readme="$src/tests/data/explain/postfix-3.7/README.md"
tlsrelay="$build/proxy/tlsrelay"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (private Postfix instances, network and mount namespaces)"
  exit 77
fi
for tool in postfix postconf unshare ip iptables faketime openssl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
for bin in "$tlsrelay" "$build/tests/peer/tlsrelay-testpeer"; do
  [ -x "$bin" ] || { echo "FAIL: no $bin (build the project first)"; exit 1; }
done

# MODE and the class it must be named by. The classes are those of the README's table (the
# log's truth, first of its candidates); each row is checked against the README below, so
# the two cannot drift apart. The table lives here, not parsed out of the README, because
# the live half needs more than the README says: which class the probe must find now.
modes=(
  expired-secure:certificate-expired
  wronghost-secure:certificate-host-mismatch
  selfsigned-secure:certificate-self-signed
  tls10-mandatory-tls12:tls-protocol-mismatch
  starttls-not-offered-encrypt:starttls-not-offered
  starttls-server-wrappermode:tls-mode-mismatch
  implicit-server-plain-client:tls-mode-mismatch
  refused:connect-refused
  reset-after-clienthello:connection-reset
  dns-nxdomain:dns-nxdomain
  sni-required:tls-sni-required
  ok-secure:ok
)

# Where the probe's verdict legitimately differs from Postfix's failure, the live class the
# probe must find instead, with the reason. None: every mode here fails the probe as it
# fails Postfix. In particular the probe finding more than Postfix logged is not a
# difference: implicit-server-plain-client and starttls-server-wrappermode must probe
# tls-mode-mismatch, the first candidate of the log (the probe detects implicit TLS). And
# sni-required must probe tls-sni-required, not ok: a probe that sends SNI where Postfix
# sends none would report the route "fixed" while Postfix keeps deferring mail on it.
declare -A live_instead=()

# Known failures of explain itself: MODE -> the bug. Such a check still runs; it is reported
# and not counted while it fails, and fails the test once it passes (remove the mark then).
declare -A known_live=()

work=$(mktemp -d /tmp/tlsrelay-explain-rig-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

failures=0
status=pass # of the mode being checked
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
  status=FAIL
}

# ---- the table agrees with the README ------------------------------------------------------
for entry in "${modes[@]}"; do
  mode=${entry%%:*}
  class=${entry#*:}
  row=$(grep -m1 -F "| \`$mode.log\` |" "$readme" || true)
  expected=$(printf '%s\n' "$row" | sed -n 's/.*| \([^|]*\) |[[:space:]]*$/\1/p')
  case $expected in
  "\`$class\`"* | "candidates \`$class\`"* | "candidates "*"\`$class\`"*) ;;
  *) fail "$mode: the README's row expects '${expected:-no row}', this test $class" ;;
  esac
done

# ---- run the rig -------------------------------------------------------------------------
names=()
for entry in "${modes[@]}"; do names+=("${entry%%:*}"); done
started=$SECONDS
gen_status=0
bash "$gen" --out "$work/logs" --explain "$tlsrelay" --results "$work/results" "$build" \
  "${names[@]}" >"$work/gen.out" 2>&1 || gen_status=$?
echo "rig: ${#names[@]} modes in $((SECONDS - started)) s"
if [ "$gen_status" -eq 77 ]; then
  cat "$work/gen.out"
  exit 77
fi
if [ "$gen_status" -ne 0 ]; then
  cat "$work/gen.out"
  fail "gen-postfix-logs.sh exited with $gen_status"
fi

# ---- reading explain's JSON Lines (no jq: scripts/setup.sh does not install it) ------------
# JSON escapes every quote inside a string, so '"key":' only matches a key, and the route
# object's keys come in the order docs/explain.md gives (class before candidates before live).

# The worst outbound route: the first route line that says so (routes come worst first).
worst_outbound() { grep -m1 '^{"type":"route",.*"direction":"outbound"' "$1" || true; }

# The route's own class (the log decided it), or "null".
log_class() {
  printf '%s\n' "$1" | grep -o '"class":[^,]*' | head -1 | sed 's/"class":"\{0,1\}\([^"]*\)"\{0,1\}/\1/'
}

# The route's candidates, one class a line.
candidates() {
  printf '%s\n' "$1" | grep -o '"candidates":\[[^]]*\]' | grep -o '"class":"[^"]*"' |
    sed 's/"class":"\(.*\)"/\1/'
}

# The probe's class: a class, "null" (probed, no verdict), or "not-probed" (live is null).
live_class() {
  local live
  live=$(printf '%s\n' "$1" | grep -o '"live":\(null\|{"probed":[a-z]*,"ok":[a-z]*,"class":[^,]*\)' || true)
  case $live in
  '' | '"live":null') echo not-probed ;;
  *) printf '%s\n' "$live" | sed 's/.*"class":"\{0,1\}\([^"]*\)"\{0,1\}$/\1/' ;;
  esac
}

summary_field() { # FILE KEY
  grep -m1 '^{"type":"summary"' "$1" | grep -o "\"$2\":[^,}]*" | sed 's/^[^:]*://'
}

# ---- check each mode -----------------------------------------------------------------------
report=()
for entry in "${modes[@]}"; do
  mode=${entry%%:*}
  class=${entry#*:}
  status=pass
  live_file="$work/results/$mode.live.jsonl"
  logonly_file="$work/results/$mode.logonly.jsonl"
  if [ ! -s "$live_file" ] || [ ! -s "$logonly_file" ]; then
    fail "$mode: explain wrote no output (see the rig's output below)"
    report+=("$status  $mode: no output")
    continue
  fi
  live_route=$(worst_outbound "$live_file")
  logonly_route=$(worst_outbound "$logonly_file")

  if [ "$class" = ok ]; then
    [ -z "$live_route" ] || fail "$mode: explain (with the probe) reports a failing route: $live_route"
    [ -z "$logonly_route" ] || fail "$mode: explain --no-probe reports a failing route: $logonly_route"
    for f in "$live_file" "$logonly_file"; do
      [ "$(summary_field "$f" exit)" = 0 ] || fail "$mode: $(basename "$f"): exit is not 0"
    done
    report+=("$status  $mode: live none, log-only none")
    continue
  fi

  # With the probe: Postfix's settings were read, and the probe finds the mode's failure.
  want=${live_instead[$mode]:-$class}
  got_live=not-probed
  if [ -z "$live_route" ]; then
    fail "$mode: explain (with the probe) reports no outbound route; stderr: $(cat "$work/results/$mode.live.err")"
  else
    [ "$(summary_field "$live_file" settings_read)" = true ] ||
      fail "$mode: explain did not read the instance's settings (--mta-config): $(cat "$work/results/$mode.live.err")"
    got_live=$(live_class "$live_route")
    if [ "$got_live" = "$want" ]; then
      [ -z "${known_live[$mode]:-}" ] ||
        fail "$mode: known failure passes now (live.class $got_live): remove its mark (${known_live[$mode]})"
    elif [ -n "${known_live[$mode]:-}" ]; then
      echo "KNOWN FAILURE $mode: live.class is $got_live, not $want: ${known_live[$mode]}"
      status="known failure"
    else
      fail "$mode: the probe's live.class is $got_live, expected $want; route: $live_route"
    fi
  fi

  # From the log alone: the class, or the class among the candidates.
  got_class=none
  got_candidates=""
  if [ -z "$logonly_route" ]; then
    fail "$mode: explain --no-probe reports no outbound route"
  else
    got_class=$(log_class "$logonly_route")
    got_candidates=$(candidates "$logonly_route" | paste -sd, -)
    [ "$(summary_field "$logonly_file" probed)" = false ] ||
      fail "$mode: explain --no-probe says it probed"
    if [ "$got_class" != "$class" ] && ! candidates "$logonly_route" | grep -qx -- "$class"; then
      fail "$mode: --no-probe names class $got_class, candidates [$got_candidates], not $class"
    fi
  fi
  report+=("$status  $mode: live $got_live, log-only class $got_class candidates [$got_candidates]")
done

printf '  %s\n' "${report[@]}"
if [ "$failures" -gt 0 ]; then
  echo "FAIL: $failures check(s) failed; the rig's output:"
  cat "$work/gen.out"
  exit 1
fi
echo "PASS: ${#modes[@]} modes, with and without --no-probe (known failures: ${#known_live[@]})"
