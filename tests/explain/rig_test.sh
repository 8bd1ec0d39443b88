#!/usr/bin/env bash
# The acceptance rig of `tlsrelay explain` (issue 20), live, for Postfix and Exim: a private
# MTA relays through the test peer in one failure mode, and while that peer still misbehaves,
# explain reads the MTA's real log twice:
#   - with the probe: the worst outbound route's live.class (what the probe finds now) must
#     be the mode's class;
#   - with --no-probe: the route's class, or one of its candidates, must be the mode's class.
# The ok mode must report no failing route in either run. (explain_test.cpp checks the
# committed logs from the log alone; this test is the half that needs the peer running.)
#
#   - Postfix (tests/data/explain/gen-postfix-logs.sh): explain reads the instance's own
#     settings (--mta-config INSTANCE/etc), and must say so (settings_read).
#   - Exim (tests/data/explain/gen-exim-logs.sh, Debian's exim4-daemon-light unpacked): Exim
#     has no postconf. explain gets --mta-config of an empty directory and must read no
#     Postfix settings (settings_read false, a warning on stderr, exit 1 not 2): its probe
#     then uses its defaults, STARTTLS on 25 (Exim's mainlog names no port), no SNI, the
#     system CA store with the test CA added in the rig's namespace.
#
#   rig_test.sh SOURCE_DIR BUILD_DIR
#   EXIM_DEBS=DIR rig_test.sh ...   the Exim .deb files are already in DIR
#
# The modes are a bounded subset, one or two per group of the READMEs' tables, so the test
# stays under three minutes. The logs go to a temp directory: the committed fixtures are
# never rewritten. Exit status: 0 pass, 1 a mode's check failed (one message each), 77 skip
# (not root, or a tool the Postfix rig needs is missing). The Exim part alone is skipped,
# with a message and without failing the test, when Exim cannot run here: its packages cannot
# be fetched (`apt-get download`, no mirror or no network, and no EXIM_DEBS) or a tool to
# unpack them is missing.
set -euo pipefail

src=$(readlink -f "${1:?source dir}")
build=$(readlink -f "${2:?build dir}")
gen="$src/tests/data/explain/gen-postfix-logs.sh"
readme="$src/tests/data/explain/postfix-3.7/README.md"
gen_exim="$src/tests/data/explain/gen-exim-logs.sh"
readme_exim="$src/tests/data/explain/exim-4.96/README.md"
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

# Exim's modes (gen-exim-logs.sh --list), with their classes from exim-4.96/README.md (for
# the GnuTLS "certificate invalid" modes the README lists candidates; the class here is the
# one the peer's fault is, which the probe must find and the candidates must include).
exim_modes=(
  expired:certificate-expired
  wronghost:certificate-host-mismatch
  tls10-require-tls12:tls-protocol-mismatch
  starttls-not-offered:starttls-not-offered
  refused:connect-refused
  ok:ok
)

# Where the probe legitimately finds something else than Exim met, keyed exim:MODE. None:
# with no Postfix settings the probe's defaults still meet each failure as Exim met it.
# (Modes left out for that reason: implicit-server-plain-client, whose peer is on 465 while
# the mainlog names no port, so the probe tries 25; and starttls-server-smtps, where Exim's
# transport speaks implicit TLS to a STARTTLS port, a setting explain cannot read.)

# Known failures of explain itself: MODE (exim:MODE for Exim) -> the bug. Such a check still
# runs; it is reported and not counted while it fails, and fails the test once it passes
# (remove the mark then).
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

# ---- the tables agree with the READMEs ----------------------------------------------------
agree_with_readme() { # README MODE:CLASS...
  local file=$1 entry mode class row expected
  shift
  for entry in "$@"; do
    mode=${entry%%:*}
    class=${entry#*:}
    row=$(grep -m1 -F "| \`$mode.log\` |" "$file" || true)
    expected=$(printf '%s\n' "$row" | sed -n 's/.*| \([^|]*\) |[[:space:]]*$/\1/p')
    case $expected in
    "\`$class\`"* | "candidates \`$class\`"* | "candidates "*"\`$class\`"*) ;;
    *) fail "$mode: $(basename "$(dirname "$file")")/README.md's row expects '${expected:-no row}', this test $class" ;;
    esac
  done
}
agree_with_readme "$readme" "${modes[@]}"
agree_with_readme "$readme_exim" "${exim_modes[@]}"

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

# Exim: the packages are fetched here, outside the rig's namespace (which has no network), or
# taken from EXIM_DEBS. Where they cannot be had, the Exim part is skipped, not failed: CI
# machines may lack a Debian mirror, and Postfix's part stands on its own.
exim_skip=""
exim_debs=${EXIM_DEBS:-}
for tool in dpkg ldconfig; do
  command -v "$tool" >/dev/null || exim_skip="$tool is not installed"
done
if [ -z "$exim_skip" ] && [ -z "$exim_debs" ]; then
  exim_debs="$work/exim-debs"
  mkdir -p "$exim_debs"
  # apt's sandbox user cannot write into this root-only temp dir: fetch as root, quietly.
  if ! (cd "$exim_debs" && timeout 120 apt-get download -q -o APT::Sandbox::User=root \
    exim4-daemon-light exim4-base exim4-config libidn12) >"$work/apt.out" 2>&1; then
    exim_skip="apt-get download of Debian's exim4 packages failed (no mirror or network?; set EXIM_DEBS=DIR to use .deb files at hand): $(tail -1 "$work/apt.out")"
  fi
fi
if [ -n "$exim_skip" ]; then
  echo "SKIP exim: $exim_skip"
elif [ "$(find "$exim_debs" -maxdepth 1 -name '*.deb' | wc -l)" -lt 4 ]; then
  # EXIM_DEBS was given and is wrong: the caller's mistake, not a machine without a mirror.
  fail "exim: EXIM_DEBS=$exim_debs does not hold the four .deb files (exim4-daemon-light exim4-base exim4-config libidn12)"
  exim_skip="no packages"
else
  exim_names=()
  for entry in "${exim_modes[@]}"; do exim_names+=("${entry%%:*}"); done
  started=$SECONDS
  gen_status=0
  EXIM_DEBS="$exim_debs" bash "$gen_exim" --out "$work/exim-logs" --explain "$tlsrelay" \
    --results "$work/exim-results" "$build" "${exim_names[@]}" >"$work/gen-exim.out" 2>&1 ||
    gen_status=$?
  echo "rig exim: ${#exim_names[@]} modes in $((SECONDS - started)) s"
  if [ "$gen_status" -ne 0 ]; then
    cat "$work/gen-exim.out"
    fail "gen-exim-logs.sh exited with $gen_status"
  fi
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
checked=0

# MTA (postfix or exim), the directory of explain's output, then MODE:CLASS entries. The keys
# of live_instead and known_live are MODE for Postfix and exim:MODE for Exim.
check_modes() {
  local mta=$1 results=$2 entry mode class key live_file logonly_file live_route logonly_route
  local want got_live got_class got_candidates f
  shift 2
  for entry in "$@"; do
    mode=${entry%%:*}
    class=${entry#*:}
    key=$mode
    [ "$mta" = postfix ] || key="$mta:$mode"
    status=pass
    checked=$((checked + 1))
    live_file="$results/$mode.live.jsonl"
    logonly_file="$results/$mode.logonly.jsonl"
    if [ ! -s "$live_file" ] || [ ! -s "$logonly_file" ]; then
      fail "$key: explain wrote no output (see the rig's output below)"
      report+=("$status  $key: no output")
      continue
    fi
    live_route=$(worst_outbound "$live_file")
    logonly_route=$(worst_outbound "$logonly_file")

    # Which settings explain read: Postfix's instance's; for Exim none (an empty --mta-config
    # directory: a warning, no Postfix fix, and explain goes on).
    for f in "$live_file" "$logonly_file"; do
      case $mta in
      postfix) [ "$class" = ok ] || [ "$f" != "$live_file" ] ||
        [ "$(summary_field "$f" settings_read)" = true ] ||
        fail "$key: explain did not read the instance's settings (--mta-config): $(cat "${f%.jsonl}.err")" ;;
      *)
        [ "$(summary_field "$f" settings_read)" = false ] ||
          fail "$key: $(basename "$f"): explain read Postfix settings for an $mta log"
        ! grep -q '"kind":"postconf"' "$f" ||
          fail "$key: $(basename "$f"): explain gives a postconf fix for an $mta log"
        ;;
      esac
    done
    if [ "$mta" != postfix ] && [ "$class" != ok ]; then
      grep -q "cannot read Postfix's settings" "$results/$mode.live.err" ||
        fail "$key: explain did not warn that it read no Postfix settings; stderr: $(cat "$results/$mode.live.err")"
    fi

    if [ "$class" = ok ]; then
      [ -z "$live_route" ] || fail "$key: explain (with the probe) reports a failing route: $live_route"
      [ -z "$logonly_route" ] || fail "$key: explain --no-probe reports a failing route: $logonly_route"
      for f in "$live_file" "$logonly_file"; do
        [ "$(summary_field "$f" exit)" = 0 ] || fail "$key: $(basename "$f"): exit is not 0"
      done
      report+=("$status  $key: live none, log-only none")
      continue
    fi
    for f in "$live_file" "$logonly_file"; do
      [ "$(summary_field "$f" exit)" = 1 ] ||
        fail "$key: $(basename "$f"): exit is not 1 (failures found): $(cat "${f%.jsonl}.err")"
    done

    # With the probe: the probe finds the mode's failure.
    want=${live_instead[$key]:-$class}
    got_live=not-probed
    if [ -z "$live_route" ]; then
      fail "$key: explain (with the probe) reports no outbound route; stderr: $(cat "$results/$mode.live.err")"
    else
      printf '%s\n' "$live_route" | grep -q "\"mta\":\"$mta\"" ||
        fail "$key: the route is not $mta's: $live_route"
      got_live=$(live_class "$live_route")
      if [ "$got_live" = "$want" ]; then
        [ -z "${known_live[$key]:-}" ] ||
          fail "$key: known failure passes now (live.class $got_live): remove its mark (${known_live[$key]})"
      elif [ -n "${known_live[$key]:-}" ]; then
        echo "KNOWN FAILURE $key: live.class is $got_live, not $want: ${known_live[$key]}"
        status="known failure"
      else
        fail "$key: the probe's live.class is $got_live, expected $want; route: $live_route"
      fi
    fi

    # From the log alone: the class, or the class among the candidates.
    got_class=none
    got_candidates=""
    if [ -z "$logonly_route" ]; then
      fail "$key: explain --no-probe reports no outbound route"
    else
      got_class=$(log_class "$logonly_route")
      got_candidates=$(candidates "$logonly_route" | paste -sd, -)
      [ "$(summary_field "$logonly_file" probed)" = false ] ||
        fail "$key: explain --no-probe says it probed"
      if [ "$got_class" != "$class" ] && ! candidates "$logonly_route" | grep -qx -- "$class"; then
        fail "$key: --no-probe names class $got_class, candidates [$got_candidates], not $class"
      fi
    fi
    report+=("$status  $key: live $got_live, log-only class $got_class candidates [$got_candidates]")
  done
}

check_modes postfix "$work/results" "${modes[@]}"
[ -n "$exim_skip" ] || check_modes exim "$work/exim-results" "${exim_modes[@]}"

printf '  %s\n' "${report[@]}"
if [ "$failures" -gt 0 ]; then
  echo "FAIL: $failures check(s) failed; the rig's output:"
  cat "$work/gen.out"
  [ ! -f "$work/gen-exim.out" ] || cat "$work/gen-exim.out"
  exit 1
fi
exim_count=${#exim_modes[@]}
[ -z "$exim_skip" ] || exim_count=skipped
echo "PASS: $checked modes (Postfix ${#modes[@]}, Exim $exim_count), with and without --no-probe (known failures: ${#known_live[@]})"
