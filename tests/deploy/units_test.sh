#!/usr/bin/env bash
# The systemd units pass `systemd-analyze verify`, and the man pages render without
# warnings and document every option the binaries' --help lists. Needs no root and no
# running systemd.
#
#   units_test.sh SOURCE_DIR BUILD_DIR TLSRELAY_BINARY [TLSRELAY_MILTER_BINARY]
#
# `systemd-analyze verify` checks that each Exec*= command exists and is executable, so
# the units are verified in a copy whose /usr/sbin/ paths point at the binaries just
# built (the very rewrite packaging/Install.cmake does for another prefix). A milter
# target that does not exist yet is verified against a stand-in script, and says so.
# Exit status: 0 pass, 1 fail, 77 skip (systemd-analyze missing).
set -euo pipefail

src=$1 build=$2 relay=$3 milter=${4:-}

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

mkdir -p "$work/prefix/sbin"
ln -s "$(readlink -f "$relay")" "$work/prefix/sbin/tlsrelay"
if [ -n "$milter" ] && [ -x "$milter" ]; then
  ln -s "$(readlink -f "$milter")" "$work/prefix/sbin/tlsrelay-milter"
else
  echo "note: no tlsrelay-milter binary built; its unit is verified against a stand-in"
  printf '#!/bin/sh\nexit 0\n' >"$work/prefix/sbin/tlsrelay-milter"
  chmod 755 "$work/prefix/sbin/tlsrelay-milter"
fi

for unit in tlsrelay.service tlsrelay-milter.service; do
  sed "s#/usr/sbin/#$work/prefix/sbin/#g" "$src/packaging/$unit" >"$work/$unit"
  # Man pages are checked after installation (deploy_test.sh): here they do not exist.
  out=$(cd "$work" && systemd-analyze verify --man=no "$work/$unit" 2>&1) || true
  # verify reports unknown keys and bad values as warnings with exit status 0: any
  # output at all is a failure.
  if [ -n "$out" ]; then
    fail "systemd-analyze verify $unit:"
    echo "$out" | sed 's/^/    /'
  else
    echo "ok: systemd-analyze verify $unit"
  fi
  for key in User=tlsrelay ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes \
    CapabilityBoundingSet=CAP_NET_BIND_SERVICE RuntimeDirectory= StandardError=journal; do
    grep -qxF -- "$key" "$src/packaging/$unit" || grep -q -- "^$key" "$src/packaging/$unit" ||
      fail "$unit lacks $key"
  done
done
grep -qxF 'ExecReload=/bin/kill -HUP $MAINPID' "$src/packaging/tlsrelay.service" ||
  fail "tlsrelay.service: no SIGHUP reload"
grep -q '^ReadWritePaths=/var/log/tlsrelay$' "$src/packaging/tlsrelay.service" ||
  fail "tlsrelay.service: the event log directory is not writable under ProtectSystem=strict"

# The man pages: generated, warning-free, and they name every option of --help.
man_dir=$build/packaging/man
pages="tlsrelay.8 tlsrelay.toml.5"
[ -n "$milter" ] && pages="$pages tlsrelay-milter.8"
for page in $pages; do
  if [ ! -f "$man_dir/$page.gz" ]; then
    fail "$man_dir/$page.gz was not generated (target tlsrelay_man)"
    continue
  fi
  warnings=$(zcat "$man_dir/$page.gz" | LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 2>&1 || true)
  [ -z "$warnings" ] && echo "ok: $page renders without warnings" ||
    fail "$page: groff warnings: $warnings"
done
if [ -f "$man_dir/tlsrelay.8.gz" ]; then
  page=$(zcat "$man_dir/tlsrelay.8.gz" | LC_ALL=C.UTF-8 MANWIDTH=200 man -l - 2>/dev/null)
  for cmd in "" probe serve check-config; do
    options=$("$relay" $cmd --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
    for o in $options; do
      grep -qF -- "$o" <<<"$page" || fail "tlsrelay(8) does not document 'tlsrelay $cmd $o'"
    done
  done
  [ "$failures" -eq 0 ] && echo "ok: tlsrelay(8) documents every option of --help"
fi
if [ -n "$milter" ] && [ -f "$man_dir/tlsrelay-milter.8.gz" ]; then
  page=$(zcat "$man_dir/tlsrelay-milter.8.gz" | LC_ALL=C.UTF-8 MANWIDTH=200 man -l - 2>/dev/null)
  for o in $("$milter" --help | grep -o -e '--[a-z][a-z0-9-]*' -e 'check-config' | sort -u); do
    grep -qF -- "$o" <<<"$page" || fail "tlsrelay-milter(8) does not document '$o'"
  done
fi
if [ -f "$man_dir/tlsrelay.toml.5.gz" ]; then
  # Every key in the tables of docs/configuration.md reaches tlsrelay.toml(5).
  page=$(zcat "$man_dir/tlsrelay.toml.5.gz" | LC_ALL=C.UTF-8 MANWIDTH=200 man -l - 2>/dev/null)
  keys=$(grep -o '^| `[a-z_]*`' "$src/docs/configuration.md" | tr -d '|` ' | sort -u)
  for k in $keys; do
    grep -qw -- "$k" <<<"$page" || fail "tlsrelay.toml(5) lacks the key $k"
  done
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
