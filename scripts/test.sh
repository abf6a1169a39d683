#!/usr/bin/env bash
# The full test suite, on a fresh machine: installs redis-server from Debian's packages when it
# is missing (tests start their own private servers from that binary), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "test.sh: installing redis-server (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi

cargo test --locked "$@"
