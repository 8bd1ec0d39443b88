#!/usr/bin/env bash
# Installs what tlsrelay needs from Debian 12's packages; safe to run again (apt-get skips
# what is there).
#
#   scripts/setup.sh           build and test dependencies (scripts/test.sh, .ci/run)
#   scripts/setup.sh --build   only what building the program and its package needs: no
#                              test servers (Postfix, Prometheus, Chromium) on a mail host
set -euo pipefail

build=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libssl-dev libboost1.81-dev libtomlplusplus-dev nlohmann-json3-dev libmilter-dev zlib1g-dev
  dpkg-dev file groff-base
)
# The tests talk to real servers: a private Postfix in front and behind, a Prometheus that
# scrapes /metrics, Chromium for the status page; clang for the fuzz targets and sanitizers;
# stunnel4 and linux-perf for bench/run (the comparison with a TLS byte pump, cycles, the
# profile; Debian's perf 6.1 also runs on newer kernels).
test=(
  openssl clang clang-format clang-tidy libclang-rt-14-dev catch2
  faketime iproute2 iptables procps psmisc postfix swaks sasl2-bin libsasl2-modules
  chromium curl systemd man-db util-linux prometheus stunnel4 linux-perf
)

case "${1:-}" in
  --build) packages=("${build[@]}") ;;
  "") packages=("${build[@]}" "${test[@]}") ;;
  *) echo "usage: scripts/setup.sh [--build]" >&2; exit 2 ;;
esac

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  case " ${missing[*]} " in
    *" postfix "*)
      # Postfix is a test peer here (our MTA in front, smtp-sink behind), never the
      # system's MTA: no configuration on install.
      echo "postfix postfix/main_mailer_type select No configuration" |
        $sudo debconf-set-selections ;;
  esac
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = --build ]; then
  echo "setup: all build dependencies are installed"
else
  echo "setup: all build and test dependencies are installed"
fi
