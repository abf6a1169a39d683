# Shared by benches/peers/run.sh and shared_pacer_run.sh (sourced after HERE is set): the Node
# peers' modules, the processes to stop on exit, a free loopback port, the rows of a CSV file.

[ -d "$HERE/node_modules" ] || (cd "$HERE" && npm ci --no-audit --no-fund)

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
count() { local n; n=$(wc -l < "$1" 2>/dev/null || echo 1); echo $(( n > 0 ? n - 1 : 0 )); }
