#!/usr/bin/env bash
# Installs everything tlsrelay needs to build and test, from Debian 12's packages.
# Used by the README and by .ci/run; safe to run again (apt-get skips what is there).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates openssl
  clang clang-format clang-tidy libclang-rt-14-dev
  libssl-dev libboost1.81-dev libtomlplusplus-dev nlohmann-json3-dev catch2 libmilter-dev
  faketime iproute2 iptables procps psmisc postfix swaks sasl2-bin libsasl2-modules
  chromium curl systemd dpkg-dev groff-base man-db util-linux prometheus
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # Postfix is a test peer (our MTA in front, smtp-sink behind), never the system's MTA here.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all build and test dependencies are installed"
