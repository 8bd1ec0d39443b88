#!/usr/bin/env bash
# The main job, live: builds tlsrelay, starts embedded demo upstreams on 127.0.0.1 (one
# healthy, the others failing the way real smarthosts fail) and lets `tlsrelay probe`
# diagnose each. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null
echo "building tlsrelay ..."
bash scripts/build.sh build >/dev/null

bin=build/proxy/tlsrelay
peer=build/tests/peer/tlsrelay-testpeer
source scripts/lib/upstreams.sh

start healthy        --cert good --capture "$work/healthy.capture"
start expired        --cert expired
start leaf-only      --cert leafonly
start middlebox      --behaviour starttls-masked
start mtu-black-hole --behaviour partial-flight:1400
start port-465       --tls implicit
start tls-1.0-only   --tls-min 1.0 --tls-max 1.0

probe() {
  "$bin" probe --ca-file "$work/certs/ca.pem" --connect 127.0.0.1 --timeout 2 \
    --ehlo relay.demo "$@"
}

echo
echo "=== 1. A healthy smarthost: the full transcript ==========================="
probe "mx.test:${port[healthy]}" || true
echo
echo "=== 2. A smarthost whose intermediate certificate is missing ==============="
probe "mx.test:${port[leaf-only]}" || true
echo
echo "=== 3. Every demo upstream, diagnosed in one line each ====================="
for name in healthy expired leaf-only middlebox mtu-black-hole port-465 tls-1.0-only; do
  out=$(probe "mx.test:${port[$name]}" 2>&1 || true)
  verdict=$(printf '%s\n' "$out" | sed -n 's/^Verdict: \([^ ]*\).*/\1/p')
  hint=$(printf '%s\n' "$out" | sed -n 's/^  hint:   //p')
  printf '%-15s -> %-30s %s\n' "$name" "$verdict" "$hint"
done
echo
echo "=== 4. The relay: tlsrelay serve in front of the demo upstreams ==========="
http_port=${TLSRELAY_DEMO_HTTP_PORT:-9325}
relay_extra=$(printf '[http]\nlisten = "127.0.0.1:%s"\n' "$http_port") relay relay-a expired healthy
relay relay-b leaf-only
send() {
  swaks --server "127.0.0.1:$1" --ehlo mta.demo --from alice@demo.test --to bob@example.org \
    --header "Subject: $2" --body "Hello through tlsrelay." 2>&1 |
    awk '/^ *-> \.$/ { dot = 1; next }
         /^ *<[-~*]+ +[45][0-9][0-9] / || (dot && /^ *<[-~*]+ +[0-9][0-9][0-9] /) {
           sub(/^ *<[-~*]+ +/, "  reply: "); print; exit }' || true  # swaks exits non-zero on 4xx
}
echo "Relay A tries 'expired' first, then 'healthy':"
send "${port[relay-a]}" "demo one"
echo "  headers the healthy upstream received:"
grep -a -A1 -E '^TLS-Relay(-Failure)?:' "$work/healthy.capture" | grep -v '^--' | sed 's/^/    /'
echo "Relay B has only 'leaf-only' (its intermediate is missing); the MTA keeps the message:"
send "${port[relay-b]}" "demo two"
echo
echo "=== 5. What relay A knows now: route health (GET /metrics, /status, and / in a browser) ==="
send "${port[relay-a]}" "demo three"
echo "  'expired' is failing and held down, so 'demo three' went straight to 'healthy':"
grep -a -A1 -E '^TLS-Relay:' "$work/healthy.capture" | tail -2 | sed 's/^/    /'
curl -s "http://127.0.0.1:$http_port/metrics" | grep -E '^tlsrelay_route_health.* 1$' | sed 's/^/    /'
if [ "${TLSRELAY_DEMO_HOLD:-0}" = 1 ]; then
  echo "  The status page is at http://127.0.0.1:$http_port/ ; press Enter to stop the demo."
  read -r _
else
  echo "  (TLSRELAY_DEMO_HOLD=1 $0 keeps relay A running to look at http://127.0.0.1:$http_port/)"
fi
echo
echo "=== 6. Before any relay: tlsrelay explain reads the MTA's own log ==========="
echo "Two real Postfix 3.7 logs (tests/data/explain/): an expired certificate under"
echo "smtp_tls_security_level = secure, and smtp_tls_wrappermode = yes against a STARTTLS port."
echo "From the log alone (--no-probe; on a mail host it also probes each route now):"
"$bin" explain --no-probe tests/data/explain/postfix-3.7/expired-secure.log \
  tests/data/explain/postfix-3.7/starttls-server-wrappermode.log 2>/dev/null | sed 's/^/  /' || true
echo
echo "Try one yourself: $bin explain   (reads /var/log/mail.log), $bin probe --help"
