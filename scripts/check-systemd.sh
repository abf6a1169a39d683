#!/usr/bin/env bash
# Checks systemd/tierpace.service the way systemd itself will read it:
#   1. `systemd-analyze verify` on the unit, and on the unit with override.conf.example as a
#      drop-in: any warning (an unknown or misspelt key, a bad value) fails the check, because
#      systemd only warns and then ignores such a line, silently dropping a hardening setting.
#   2. `systemd-analyze security --offline=yes`: the overall exposure must stay <= 2.0 ("OK").
# Needs no running systemd (works in a container); installs Debian's `systemd` package when
# systemd-analyze is missing. Usage: scripts/check-systemd.sh [MAX_EXPOSURE] (default 2.0).
set -euo pipefail
cd "$(dirname "$0")/.."

max_exposure="${1:-2.0}"
unit=systemd/tierpace.service
dropin=systemd/override.conf.example

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "check-systemd: installing systemd (Debian package) for systemd-analyze" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
echo "check-systemd: $(systemd-analyze --version | head -n1)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# verify checks that ExecStart's binary exists and is executable; point it at a stub so the unit
# verifies without tierpace being installed. Everything else is the shipped unit, byte for byte.
mkdir -p "$work/bin" "$work/verify"
printf '#!/bin/sh\nexit 0\n' >"$work/bin/tierpace"
chmod 0755 "$work/bin/tierpace"
sed "s#/usr/local/bin/tierpace#$work/bin/tierpace#g" "$unit" >"$work/verify/tierpace.service"

verify() {
  local what="$1" out
  # --man=no: no man pages in minimal images. verify exits 0 on mere warnings, so read its output.
  if ! out="$(cd "$work/verify" && systemd-analyze verify --man=no ./tierpace.service 2>&1)" || [ -n "$out" ]; then
    echo "check-systemd: FAIL: systemd-analyze verify ($what):" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "check-systemd: verify ($what): clean"
}

verify "unit"
# The drop-in example must verify too (a unit file's own directory is on the load path).
mkdir -p "$work/verify/tierpace.service.d"
sed "s#/usr/local/bin/tierpace#$work/bin/tierpace#g" "$dropin" >"$work/verify/tierpace.service.d/override.conf"
verify "unit + override.conf.example"

# Security scoring reads the shipped unit as it is (no drop-in).
report="$(systemd-analyze security --offline=yes "$unit" 2>&1)" || {
  echo "check-systemd: FAIL: systemd-analyze security:" >&2
  echo "$report" >&2
  exit 1
}
exposure="$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for tierpace.service: \([0-9.]*\).*/\1/p')"
if [ -z "$exposure" ]; then
  echo "check-systemd: FAIL: no exposure level in systemd-analyze security output:" >&2
  echo "$report" >&2
  exit 1
fi
if awk -v e="$exposure" -v max="$max_exposure" 'BEGIN { exit !(e <= max) }'; then
  echo "check-systemd: security exposure $exposure <= $max_exposure: OK"
else
  printf '%s\n' "$report" | grep '✗' >&2 || true
  echo "check-systemd: FAIL: security exposure $exposure > $max_exposure" >&2
  exit 1
fi
