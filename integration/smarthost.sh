#!/usr/bin/env bash
# A real Postfix as the smarthost behind tlsrelay: STARTTLS required, SASL AUTH (Cyrus SASL,
# sasldb in the instance's own directory) required to relay, and every message for
# example.org delivered into one Maildir, one file per delivery. Built on postfix-instance.sh;
# nothing under /etc is touched. Needs root.
#
#   smarthost.sh start DIR PORT CERT_DIR [USER PASSWORD]   CERT_DIR from `tlsrelay-testpeer gen-certs`
#   smarthost.sh cert DIR NAME        serve NAME.key/NAME.chain.pem (good, expired, ...); postfix reload
#   smarthost.sh maildir DIR          the directory whose files are the delivered messages
#   smarthost.sh queue DIR | stop DIR | run DIR COMMAND...   as postfix-instance.sh
#
# The user defaults to relay@mx.test with password "relay-secret"; the server's name is
# mx.test (the name in the test certificates).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pf="$here/postfix-instance.sh"
cmd=${1:?command}
dir=${2:?directory}

case "$cmd" in
start)
  port=${3:?smtpd port}
  certs=${4:?certificate directory}
  user=${5:-relay@mx.test}
  password=${6:-relay-secret}
  sasl="$dir/pf/etc/sasl"
  mkdir -p "$sasl" "$dir/mail/sink/new" "$dir/mail/sink/cur" "$dir/mail/sink/tmp"
  chmod 755 "$dir" "$dir/mail"
  chown -R nobody:nogroup "$dir/mail"
  # Cyrus SASL reads smtpd.conf from the instance's own config directory (/etc/postfix/sasl,
  # Debian's place, is DIR/pf/etc/sasl inside the instance) and the users from sasldb_path:
  # never /etc/sasl2 or /etc/sasldb2.
  cat >"$sasl/smtpd.conf" <<CONF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $sasl/sasldb2
CONF
  printf '%s' "$password" | saslpasswd2 -p -c -f "$sasl/sasldb2" -u "${user#*@}" "${user%@*}"
  chown root:postfix "$sasl/sasldb2"
  chmod 640 "$sasl/sasldb2"
  chmod 755 "$sasl"
  cat >"$dir/smarthost.cf" <<CF
myhostname = mx.test
relayhost =
smtpd_banner = \$myhostname ESMTP smarthost
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_chain_files = $certs/good.key, $certs/good.chain.pem
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $sasl
smtpd_sasl_local_domain =
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
virtual_mailbox_domains = example.org
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_destination_concurrency_limit = 50
smtpd_client_connection_count_limit = 0
message_size_limit = 52428800
virtual_mailbox_limit = 0
CF
  echo "$certs" >"$dir/certdir"
  "$pf" start "$dir/pf" "$port" "[127.0.0.1]:9" "$dir/smarthost.cf"
  ;;
cert)
  name=${3:?certificate name}
  certs=$(cat "$dir/certdir")
  [ -f "$certs/$name.key" ] || { echo "no $certs/$name.key" >&2; exit 2; }
  "$pf" run "$dir/pf" postconf -e "smtpd_tls_chain_files = $certs/$name.key, $certs/$name.chain.pem"
  "$pf" reload "$dir/pf"
  ;;
maildir) echo "$dir/mail/sink/new" ;;
queue) "$pf" queue "$dir/pf" ;;
stop) "$pf" stop "$dir/pf" ;;
run)
  shift 2
  "$pf" run "$dir/pf" "$@"
  ;;
*)
  echo "usage: $0 start|cert|maildir|queue|run|stop DIR ..." >&2
  exit 2
  ;;
esac
