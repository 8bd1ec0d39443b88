#!/usr/bin/env bash
# The Debian package, end to end on this machine (issue 10): build the .deb with CPack,
# install it with dpkg, check what it put where, start the installed daemon from the
# installed paths as the installed user the way its unit does, relay one message through it
# to the test peer, reload a changed config, re-install over an edited config (the edit
# must survive), purge, and check that nothing is left. Cleans up on every exit.
#
#   deploy_test.sh BUILD_DIR PEER_BINARY
#
# Runs only as root (it installs a package and creates a system user): otherwise exit 77,
# which CTest reports as skipped. There is no systemd as PID 1 here, so the unit's
# ExecStart and ExecReload lines are read from the installed unit file and run by hand
# with runuser(1) as the unit's User=; the sandboxing directives are checked by
# `systemd-analyze verify`, not exercised.
set -euo pipefail

build=$(readlink -f "$1")
peer_bin=$(readlink -f "$2")

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (dpkg -i, a system user)"
  exit 77
fi
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps swaks runuser setpriv man systemd-analyze; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (scripts/setup.sh installs it)"
    exit 77
  fi
done
if dpkg-query -W -f='${Status}' tlsrelay 2>/dev/null | grep -q installed; then
  echo "SKIP: a tlsrelay package is already installed on this machine; not touching it"
  exit 77
fi
if [ -e /etc/tlsrelay ]; then
  echo "SKIP: /etc/tlsrelay exists already; not touching it"
  exit 77
fi

work=$(mktemp -d /tmp/tlsrelay-deploy.XXXXXX)
chmod 755 "$work"
user_existed=no
getent passwd tlsrelay >/dev/null && user_existed=yes
daemon_pid="" peer_pid="" peer_stdin=""
step() { echo "== $*"; }
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
  done
  exit 1
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null
  if dpkg-query -W -f='${Status}' tlsrelay 2>/dev/null | grep -q 'ok installed\|config-files'; then
    rm -f /etc/tlsrelay/*.secret
    dpkg --purge tlsrelay >/dev/null 2>&1
  fi
  rm -rf /etc/tlsrelay /var/log/tlsrelay
  if [ "$user_existed" = no ] && getent passwd tlsrelay >/dev/null; then
    userdel tlsrelay 2>/dev/null
    getent group tlsrelay >/dev/null && groupdel tlsrelay 2>/dev/null
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command as the unit's User= (and its group, with initgroups), in place: the PID
# stays the daemon's, so signals reach it as systemd's would.
as_unit_user() {
  exec setpriv --reuid="$unit_user" --regid="$unit_user" --init-groups -- "$@"
}

# Waits (bounded) until FILE has a line matching REGEX; prints the match.
wait_for_line() {
  local file=$1 regex=$2 pid=$3
  for _ in $(seq 1 100); do
    if grep -m1 -E "$regex" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------------------
step "build the package with cpack"
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1) ||
  fail "cpack failed"
deb=$(ls "$work"/pkg/tlsrelay_*.deb 2>/dev/null | head -1)
[ -f "$deb" ] || fail "no tlsrelay_*.deb produced"
echo "built $(basename "$deb")"

step "check the package's metadata and contents"
info=$(dpkg-deb --info "$deb")
for field in 'Package: tlsrelay' 'Section: mail' 'Maintainer: '; do
  grep -q "^ $field" <<<"$info" || fail "control lacks '$field'"
done
depends=$(dpkg-deb --field "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 libssl3 libstdc++6 adduser; do
  grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib (dpkg-shlibdeps / control)"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -tf - | grep -q 'conffiles' || fail "no conffiles"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/tlsrelay/tlsrelay.toml ||
  fail "/etc/tlsrelay/tlsrelay.toml is not a conffile"
contents=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
for path in ./usr/sbin/tlsrelay ./etc/tlsrelay/tlsrelay.toml \
  ./usr/lib/systemd/system/tlsrelay.service ./usr/share/man/man8/tlsrelay.8.gz \
  ./usr/share/man/man5/tlsrelay.toml.5.gz ./usr/share/doc/tlsrelay/docs/failures.md \
  ./usr/share/doc/tlsrelay/docs/configuration.md ./usr/share/doc/tlsrelay/README.md; do
  grep -qxF "$path" <<<"$contents" || fail "the package lacks $path"
done
has_milter=no
grep -qxF ./usr/sbin/tlsrelay-milter <<<"$contents" && has_milter=yes
echo "tlsrelay-milter in the package: $has_milter"
if [ "$has_milter" = yes ]; then
  for path in ./usr/lib/systemd/system/tlsrelay-milter.service ./usr/share/man/man8/tlsrelay-milter.8.gz; do
    grep -qxF "$path" <<<"$contents" || fail "the package lacks $path"
  done
fi

step "dpkg -i"
dpkg -i "$deb" >"$work/dpkg-install.log" 2>&1 || fail "dpkg -i failed"
entry=$(getent passwd tlsrelay) || fail "the system user tlsrelay was not created"
uid=$(cut -d: -f3 <<<"$entry")
[ "$uid" -lt 1000 ] || fail "tlsrelay is not a system user (uid $uid)"
case $(cut -d: -f7 <<<"$entry") in */nologin | */false) ;; *) fail "tlsrelay has a login shell" ;; esac
[ "$(stat -c %U /var/log/tlsrelay)" = tlsrelay ] || fail "/var/log/tlsrelay is not owned by tlsrelay"
cmp -s /etc/tlsrelay/tlsrelay.toml /usr/share/doc/tlsrelay/examples/tlsrelay.toml ||
  fail "/etc/tlsrelay/tlsrelay.toml is not the example"
[ -x /usr/sbin/tlsrelay ] || fail "/usr/sbin/tlsrelay is not installed"
/usr/sbin/tlsrelay --version

step "man pages"
man -w tlsrelay >/dev/null || fail "man tlsrelay finds no page"
MANWIDTH=100 man tlsrelay 2>/dev/null | grep -q 'tlsrelay probe' || fail "man tlsrelay is empty"
MANWIDTH=100 man 5 tlsrelay.toml 2>/dev/null | grep -q 'allow_clients' ||
  fail "man 5 tlsrelay.toml does not describe allow_clients"
if [ "$has_milter" = yes ]; then
  MANWIDTH=100 man tlsrelay-milter 2>/dev/null | grep -q 'smtpd_milters' || fail "man tlsrelay-milter is empty"
fi
echo "ok: man tlsrelay, man 5 tlsrelay.toml$([ "$has_milter" = yes ] && echo ', man tlsrelay-milter')"

step "the installed docs keep their links"
bash "$(dirname "$0")/../docs/check_links.sh" /usr/share/doc/tlsrelay ||
  fail "a link in /usr/share/doc/tlsrelay leads nowhere"

step "systemd-analyze verify on the installed units"
units=(/usr/lib/systemd/system/tlsrelay.service)
[ "$has_milter" = yes ] && units+=(/usr/lib/systemd/system/tlsrelay-milter.service)
out=$(cd / && systemd-analyze verify "${units[@]}" 2>&1) || true
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "ok: ${units[*]}"

unit=/usr/lib/systemd/system/tlsrelay.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
reload_check=$(sed -n 's/^ExecReload=\(.*check-config.*\)/\1/p' "$unit")
unit_user=$(sed -n 's/^User=//p' "$unit")
[ "$exec_start" = "/usr/sbin/tlsrelay serve --config /etc/tlsrelay/tlsrelay.toml" ] ||
  fail "unexpected ExecStart: $exec_start"

step "check-config on the installed example: it names one secret, and passes once that exists"
if out=$(/usr/sbin/tlsrelay check-config /etc/tlsrelay/tlsrelay.toml 2>&1); then
  fail "check-config passed without /etc/tlsrelay/gmail.secret"
else
  grep -q '/etc/tlsrelay/gmail.secret' <<<"$out" || fail "check-config without the secret: $out"
  ! grep -v '/etc/tlsrelay/gmail.secret' <<<"$out" || fail "the example has other problems: $out"
fi
install -m 600 -o tlsrelay -g tlsrelay /dev/null /etc/tlsrelay/gmail.secret
echo "not-a-real-password" >/etc/tlsrelay/gmail.secret
/usr/sbin/tlsrelay check-config /etc/tlsrelay/tlsrelay.toml || fail "check-config (root) failed"
if [ "$has_milter" = yes ]; then
  /usr/sbin/tlsrelay-milter check-config /etc/tlsrelay/tlsrelay.toml ||
    fail "tlsrelay-milter check-config on the example failed"
fi
runuser -u "$unit_user" -- /usr/sbin/tlsrelay check-config /etc/tlsrelay/tlsrelay.toml ||
  fail "check-config as $unit_user failed"

step "the installed example starts as the unit's user ($unit_user)"
# As installed, except for its ports (10587, 9325), which may be taken on a test machine.
sed -i -e 's/:10587"/:0"/g' -e 's/:9325"/:0"/g' /etc/tlsrelay/tlsrelay.toml
as_unit_user $exec_start >"$work/example.log" 2>&1 &
daemon_pid=$!
# "listening" comes before the switch to [proxy] user: still alive a moment later means
# the start-up is complete.
if ! wait_for_line "$work/example.log" '^listening ' "$daemon_pid" >/dev/null ||
  ! sleep 0.5 || ! kill -0 "$daemon_pid" 2>/dev/null; then
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
  fail "the installed example configuration does not start as the unit runs it (User=$unit_user): $(tail -n 2 "$work/example.log" | tr '\n' ' ')"
fi
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "serve did not exit 0 on SIGTERM"
daemon_pid=""
echo "ok: started and stopped"

step "relay one message through the installed daemon to the test peer"
mkdir -m 755 "$work/certs"
"$peer_bin" gen-certs "$work/certs" >/dev/null
chmod 644 "$work/certs/ca.pem"
mkfifo "$work/peer.stdin"
"$peer_bin" smtp --listen 127.0.0.1:0 --tls starttls --cert-dir "$work/certs" --cert good \
  --capture "$work/capture" --watch-stdin <"$work/peer.stdin" >"$work/peer.out" 2>"$work/peer.log" &
peer_pid=$!
exec {peer_stdin}>"$work/peer.stdin"
peer_port=$(wait_for_line "$work/peer.out" '^ready [0-9]+' "$peer_pid" | awk '{print $2}') ||
  fail "the test peer did not start"

# The admin's edit of the conffile; the marker must survive a re-install.
cat >/etc/tlsrelay/tlsrelay.toml <<EOF
# deploy-test edit $$
[proxy]
listen = ["127.0.0.1:0"]
allow_clients = ["127.0.0.1/32"]
hostname = "relay.deploy.test"

[tls]
ca_file = "$work/certs/ca.pem"

[[upstream]]
name = "peer"
host = "mx.test"
connect = "127.0.0.1"
port = $peer_port
tls = "starttls"
timeout_s = 10

[log]
events = "/var/log/tlsrelay/events.jsonl"
EOF
/usr/sbin/tlsrelay check-config /etc/tlsrelay/tlsrelay.toml || fail "check-config of the edit"
as_unit_user $exec_start >"$work/daemon.log" 2>&1 &
daemon_pid=$!
listen_port=$(wait_for_line "$work/daemon.log" '^listening ' "$daemon_pid" | sed 's/.*://') ||
  fail "the installed daemon did not start"
sleep 0.5
kill -0 "$daemon_pid" 2>/dev/null || fail "the installed daemon died after binding"
[ "$(ps -o user= -p "$daemon_pid" | tr -d ' ')" = "$unit_user" ] ||
  fail "the daemon does not run as $unit_user"
subject="deploy test $$ $(date +%s)"
swaks --server 127.0.0.1 --port "$listen_port" --helo client.deploy.test \
  --from sender@deploy.test --to rcpt@deploy.test --header "Subject: $subject" \
  --body "one message through the installed package" --timeout 30 >"$work/swaks.log" 2>&1 ||
  fail "swaks could not relay the message: $(grep -E '^<[-~*] *[45]' "$work/swaks.log" | tail -2)"
grep -qF "Subject: $subject" "$work/capture" || fail "the peer did not receive the message"
grep -q '^TLS-Relay: upstream=peer; host=mx.test' "$work/capture" ||
  fail "the delivered message lacks the TLS-Relay header"
grep -q '"class":"ok"' /var/log/tlsrelay/events.jsonl || fail "no ok attempt in the event log"
[ "$(stat -c %U /var/log/tlsrelay/events.jsonl)" = "$unit_user" ] ||
  fail "the event log is not written as $unit_user"
echo "ok: the peer received '$subject' with its TLS-Relay header"

step "reload: ExecReload (check-config, then SIGHUP) applies a changed file"
sed -i 's/^hostname = "relay.deploy.test"/hostname = "reloaded.deploy.test"/' /etc/tlsrelay/tlsrelay.toml
$reload_check >/dev/null || fail "ExecReload's check-config refused the changed file"
kill -HUP "$daemon_pid"
wait_for_line "$work/daemon.log" 'event=reload status=ok' "$daemon_pid" >/dev/null ||
  fail "the daemon did not reload"
greeting=$(swaks --server 127.0.0.1 --port "$listen_port" --quit-after BANNER 2>&1 | grep '^<- *220' || true)
grep -q reloaded.deploy.test <<<"$greeting" || fail "the reloaded hostname is not in effect: $greeting"
echo "ok: $greeting"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "serve did not exit 0 on SIGTERM"
daemon_pid=""

step "re-install over the edited configuration"
dpkg -i "$deb" >"$work/dpkg-reinstall.log" 2>&1 || fail "dpkg -i (again) failed"
grep -q "^# deploy-test edit $$" /etc/tlsrelay/tlsrelay.toml ||
  fail "re-installing replaced the admin's /etc/tlsrelay/tlsrelay.toml"
echo "ok: the edit survived"

step "dpkg --purge"
rm -f /etc/tlsrelay/*.secret
dpkg --purge tlsrelay >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge failed"
for path in /usr/sbin/tlsrelay /usr/lib/systemd/system/tlsrelay.service \
  /usr/share/man/man8/tlsrelay.8.gz /usr/share/doc/tlsrelay /etc/tlsrelay/tlsrelay.toml \
  /etc/logrotate.d/tlsrelay /var/log/tlsrelay /etc/tlsrelay; do
  [ ! -e "$path" ] || fail "$path is still there after purge"
done
dpkg-query -W tlsrelay >/dev/null 2>&1 && fail "dpkg still knows the package"
echo "ok: nothing left (the system user stays, as Debian policy asks)"

exec {peer_stdin}>&-
echo "PASS"
