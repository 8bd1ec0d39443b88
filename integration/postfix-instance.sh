#!/usr/bin/env bash
# A private, throw-away Postfix instance for tests and for trying tlsrelay by hand: its own
# config, queue and ports, started and stopped by process id, never the system's Postfix.
#
#   postfix-instance.sh start DIR SMTPD_PORT RELAYHOST   e.g. ... start /tmp/pf 2525 [127.0.0.1]:10025
#   postfix-instance.sh queue DIR                        postqueue -j (one JSON object per message)
#   postfix-instance.sh flush DIR                        postqueue -f
#   postfix-instance.sh stop DIR
#   postfix-instance.sh start DIR PORT RELAYHOST EXTRA_CF   EXTRA_CF: main.cf lines to set
#   postfix-instance.sh reload DIR                       postfix reload
#   postfix-instance.sh run DIR COMMAND [ARG...]         any command inside the instance
#                                                        (postconf -e, postsuper, mailq, ...)
#
# Postfix refuses a non-default config directory that the system's main.cf does not list,
# so each command runs in a private mount namespace where DIR/etc is /etc/postfix. Needs root.
set -euo pipefail

cmd=${1:?command}
dir=${2:?directory}

in_instance() {
  unshare -m sh -c "mount --bind '$dir/etc' /etc/postfix && $*"
}

# Like in_instance, with each argument passed as it is (no word splitting).
in_instance_argv() {
  unshare -m sh -c 'mount --bind "$1/etc" /etc/postfix && shift && exec "$@"' sh "$dir" "$@"
}

case "$cmd" in
start)
  port=${3:?smtpd port}
  relayhost=${4:?relayhost}
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
  chmod 755 "$dir"
  # The helper files Postfix's scripts expect in the config directory.
  for f in postfix-files postfix-files.d dynamicmaps.cf dynamicmaps.cf.d post-install \
    postfix-script master.cf; do
    cp -a "/etc/postfix/$f" "$dir/etc/" 2>/dev/null || true
  done
  chown postfix "$dir/data"
  cat >"$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test
mydomain = test
myorigin = test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relayhost = $relayhost
smtp_tls_security_level = none
smtputf8_enable = yes
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
# Retry quickly so tests see a deferral, then a delivery, within seconds.
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
CF
  # Extra settings, one "name = value" a line, set or replaced (e.g. a smarthost's TLS, SASL).
  # One postconf for all of them: a process each costs seconds on a loaded machine.
  if [ -n "${5:-}" ]; then
    settings=()
    while IFS= read -r line; do
      case "$line" in '' | '#'*) ;; *) settings+=("$line") ;; esac
    done <"$5"
    [ ${#settings[@]} -eq 0 ] || postconf -c "$dir/etc" -e "${settings[@]}"
  fi
  # smtpd on our port only, every service outside any chroot (the queue is ours, not
  # /var/spool/postfix).
  sed -i -e "s/^smtp      inet .*/127.0.0.1:$port inet n - n - - smtpd/" \
    -e 's/^\(\S\+\s\+\S\+\s\+\S\+\s\+\S\+\s\+\)y\(\s\)/\1n\2/' "$dir/etc/master.cf"
  # The queue's directories as postfix-files lays them out (what `postfix check` would
  # create), and quick-start: `postfix start` then skips its integrity check, whose scans
  # of the installation took seconds of every start on a loaded 2-core machine.
  for q in active bounce corrupt defer deferred flush hold incoming private saved trace; do
    install -d -o postfix -m 700 "$dir/queue/$q"
  done
  install -d -o postfix -g postdrop -m 730 "$dir/queue/maildrop"
  install -d -o postfix -g postdrop -m 710 "$dir/queue/public"
  install -d -o root -m 755 "$dir/queue/pid"
  touch "$dir/queue/quick-start"
  in_instance postfix start
  ;;
queue) in_instance postqueue -j ;;
flush) in_instance postqueue -f ;;
reload) in_instance postfix reload ;;
run)
  shift 2
  in_instance_argv "$@"
  ;;
stop)
  if [ -f "$dir/queue/pid/master.pid" ]; then
    pid=$(tr -d ' ' <"$dir/queue/pid/master.pid")
    kill "$pid" 2>/dev/null || true
    # Bounded wait for master and its children to go.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  ;;
*)
  echo "usage: $0 start|queue|flush|reload|run|stop DIR ..." >&2
  exit 2
  ;;
esac
