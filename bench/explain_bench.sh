#!/usr/bin/env bash
# How fast `tlsrelay explain` reads a big mail.log (issue 20: "1 GB of mail.log in about 10 s
# on this machine"): generates a Postfix log of SIZE_MB megabytes that looks like a busy
# relay's (smtpd connects and disconnects, cleanup, qmgr, smtp deliveries with TLS, and one
# line in a hundred a TLS failure on one of twenty routes, with the TLS library line after
# it), then times `tlsrelay explain --no-probe` on it RUNS times and prints the median
# wall time, the throughput and the peak resident memory (GNU time).
#
#   bench/explain_bench.sh [--size-mb N] [--runs N] [--build DIR] [--keep]
#
# Not a test: a figure for bench/README.md and the README. Needs /usr/bin/time (Debian's
# `time` package) and about SIZE_MB of free space in $TMPDIR.
set -euo pipefail

size_mb=1024
runs=3
build=""
keep=""
while [ $# -gt 0 ]; do
  case $1 in
  --size-mb) size_mb=$2; shift 2 ;;
  --runs) runs=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  *) echo "usage: $0 [--size-mb N] [--runs N] [--build DIR] [--keep]" >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
build=${build:-$src/build-bench}
if [ ! -x "$build/proxy/tlsrelay" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTLSRELAY_TESTS=OFF >/dev/null
fi
ninja -C "$build" tlsrelay >/dev/null
[ -x /usr/bin/time ] || { echo "$0: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tlsrelay-explain-bench.XXXXXX")
[ -n "$keep" ] || trap 'rm -rf "$work"' EXIT
log="$work/mail.log"

# A busy relay's day, compressed: about 140 bytes a line, the clock advancing a second every
# 50 lines; queue ids from a counter.
awk -v target=$((size_mb * 1024 * 1024)) 'BEGIN {
  srand(20);
  split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ");
  t = 0; bytes = 0; n = 0;
  while (bytes < target) {
    n++; if (n % 50 == 0) t++;
    d = 1 + int(t / 86400) % 28; h = int(t / 3600) % 24; m = int(t / 60) % 60; s = t % 60;
    ts = sprintf("%s %2d %02d:%02d:%02d mx1", mon[1 + int(t / 2419200) % 12], d, h, m, s);
    q = sprintf("%X", 1048576 + n);
    r = n % 100; pid = 1000 + n % 5000;
    if (r < 20) {
      line = sprintf("%s postfix/smtpd[%d]: connect from client%d.example.org[198.51.100.%d]", ts, pid, n % 997, n % 250);
    } else if (r < 40) {
      line = sprintf("%s postfix/cleanup[%d]: %s: message-id=<%d.%d@client.example.org>", ts, pid, q, n, t);
    } else if (r < 60) {
      line = sprintf("%s postfix/qmgr[%d]: %s: from=<user%d@example.org>, size=%d, nrcpt=1 (queue active)", ts, pid, q, n % 5000, 1000 + n % 90000);
    } else if (r < 80) {
      line = sprintf("%s postfix/smtp[%d]: Trusted TLS connection established to smarthost.example.net[192.0.2.%d]:587: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", ts, pid, n % 4);
    } else if (r < 98) {
      line = sprintf("%s postfix/smtp[%d]: %s: to=<rcpt%d@example.com>, relay=smarthost.example.net[192.0.2.%d]:587, delay=0.4, delays=0.1/0/0.2/0.1, dsn=2.0.0, status=sent (250 2.0.0 OK %d)", ts, pid, q, n % 9000, n % 4, n);
    } else if (r == 98) {
      k = int(n / 100) % 20;
      line = sprintf("%s postfix/smtp[%d]: SSL_connect error to mx%d.example.com[203.0.113.%d]:25: -1", ts, pid, k, k);
    } else {
      line = sprintf("%s postfix/smtp[%d]: warning: TLS library problem: error:0A000086:SSL routines::certificate verify failed:../ssl/statem/statem_clnt.c:1889:", ts, pid - 1);
    }
    print line; bytes += length(line) + 1;
  }
}' >"$log"
bytes=$(stat -c %s "$log")
lines=$(wc -l <"$log")

times=()
rss=()
for i in $(seq "$runs"); do
  /usr/bin/time -f '%e %M' -o "$work/time.$i" "$build/proxy/tlsrelay" explain --no-probe "$log" \
    >"$work/out.$i" 2>"$work/err.$i" || [ $? -eq 1 ]
  # GNU time says "Command exited with non-zero status 1" first: exit 1 is "failures found".
  read -r secs kib < <(tail -n 1 "$work/time.$i")
  times+=("$secs")
  rss+=("$kib")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
t=$(median "${times[@]}")
m=$(median "${rss[@]}")
echo "explain --no-probe on a generated Postfix log: $((bytes / 1048576)) MiB, $lines lines"
echo "runs: ${times[*]} s; median $t s = $(awk -v b="$bytes" -v t="$t" 'BEGIN { printf "%.0f", b / 1048576 / t }') MiB/s; peak RSS median $m KiB"
grep -m3 -E 'route|Summary|summary' "$work/out.1" || true
