#!/usr/bin/env bash
# The full test suite, on a fresh machine: installs redis-server (and curl, jq for the docs test)
# from Debian's packages when missing (tests start their own private servers from that binary), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  missing+=(redis-server)
fi
# The docs test (tests/docs_examples.rs) runs README's examples, which pipe to curl and jq.
for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --locked "$@"
