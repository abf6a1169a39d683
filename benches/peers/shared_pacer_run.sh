#!/usr/bin/env bash
# Design (b) of issue #19 measured end to end, against the targets tests/replicas.rs holds the
# built design (sender lease) to: REPLICAS processes of benches/peers/shared_pacer.js share each
# sender's pace key and contact list in a private redis-server, and send to the loopback fake
# Gupshup (examples/fake_gupshup.rs, which stamps every arrival); one replica is killed with
# SIGKILL once KILL_AT arrivals have reached the fake; the others finish the lists.
#
#   benches/peers/shared_pacer_run.sh                                  # one sender, 10/s, 960 contacts
#   GUARD_MS=0 benches/peers/shared_pacer_run.sh                       # no guard on the spacing
#   SENDERS=5585999900001:10:900,5585999900002:5:450 benches/peers/shared_pacer_run.sh
#   SKIP_LATE_MS=25 benches/peers/shared_pacer_run.sh   # a replica waking later than that re-takes
#
# SENDERS is `source:max_mps:contacts,...`. Needs cargo, node + npm, redis-server, redis-cli,
# python3. Results go to target/peers/shared-<timestamp>/ and a summary to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SENDERS=${SENDERS:-5585999900001:10:960}
REPLICAS=${REPLICAS:-3}
KILL_AT=${KILL_AT:-150}     # arrivals at the fake before one replica is killed (0: no kill)
GUARD_MS=${GUARD_MS:-25}    # spacing = (1 s + GUARD_MS) / max_mps, tierpace's arrival_jitter
LATENCY_MS=${LATENCY_MS:-5} # the fake answers this long after stamping a send (tests/replicas.rs: 5)
TIMEOUT=${TIMEOUT:-300}     # seconds for the whole run
OUT=${OUT:-$ROOT/target/peers/shared-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

(cd "$ROOT" && cargo build --example fake_gupshup)
FAKE=$ROOT/target/debug/examples/fake_gupshup
# shellcheck source=benches/peers/lib.sh
. "$HERE/lib.sh"
now_ms() { date +%s%3N; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$OUT" \
  > "$OUT/redis.log" 2>&1 & REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
RCLI=(redis-cli -p "$REDIS_PORT")

"$FAKE" "$OUT/sends.csv" "$OUT/port" "$LATENCY_MS" & FAKE_PID=$!
PIDS+=("$FAKE_PID")
for _ in $(seq 100); do [ -s "$OUT/port" ] && break; sleep 0.1; done
FAKE_URL=$(cat "$OUT/port")

# The audiences: sender k gets k * 100000 + 1 ..., numbers as the other peers write them.
SENDER_ARG=""
k=0
for s in ${SENDERS//,/ }; do
  IFS=: read -r source mps n <<< "$s"
  python3 -c "import sys; k,n=int(sys.argv[1]),int(sys.argv[2]); print('RPUSH contacts:$source ' + ' '.join(f'55119{k*100000+i:08d}' for i in range(1,n+1)))" "$k" "$n" \
    | "${RCLI[@]}" > /dev/null
  SENDER_ARG+="${SENDER_ARG:+,}$source:$mps"
  k=$((k + 1))
done

REPL_PIDS=()
for r in $(seq "$REPLICAS"); do
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT/ FAKE_URL=$FAKE_URL REPLICA=r$r SENDERS=$SENDER_ARG \
    GUARD_MS=$GUARD_MS SKIP_LATE_MS=${SKIP_LATE_MS:-} DEPARTURES=$OUT/departures-r$r.csv node "$HERE/shared_pacer.js" 2> "$OUT/r$r.err" & REPL_PIDS+=($!)
  PIDS+=("${REPL_PIDS[-1]}")
done
echo "started $REPLICAS replicas: ${REPL_PIDS[*]} (senders $SENDER_ARG, guard ${GUARD_MS} ms)"

deadline=$(( $(date +%s) + TIMEOUT ))
if [ "$KILL_AT" -gt 0 ]; then
  # The fake appends to sends.csv every 250 ms, so the kill lands a few arrivals after KILL_AT.
  while [ "$(count "$OUT/sends.csv")" -lt "$KILL_AT" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout before the kill" >&2; exit 1; }
    sleep 0.05
  done
  kill -KILL "${REPL_PIDS[0]}"
  now_ms > "$OUT/killed_at_ms"
  echo "killed r1 (pid ${REPL_PIDS[0]}) at $(count "$OUT/sends.csv") arrivals (file count)"
  wait "${REPL_PIDS[0]}" 2>/dev/null || true
  SURVIVORS=("${REPL_PIDS[@]:1}")
else
  SURVIVORS=("${REPL_PIDS[@]}")
fi
for p in "${SURVIVORS[@]}"; do
  while kill -0 "$p" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout waiting for replica $p" >&2; exit 1; }
    sleep 0.2
  done
  wait "$p" || { echo "replica $p failed:" >&2; cat "$OUT"/r*.err >&2; exit 1; }
done
sleep 0.3
kill -TERM "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true

# What the killed replica had taken but not finished: tierpace's `unknown`.
"${RCLI[@]}" --scan --pattern 'inflight:*' | while read -r key; do
  src=${key#inflight:}; src=${src%%:*}
  "${RCLI[@]}" lrange "$key" 0 -1 | sed "s/^/$src,/"
done > "$OUT/unknown.csv"
"${RCLI[@]}" --scan --pattern 'contacts:*' | while read -r key; do
  "${RCLI[@]}" llen "$key" | sed "s/^/$key left: /"
done
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true

python3 "$HERE/shared_pacer_analyze.py" "$OUT" "$SENDERS" "$GUARD_MS" | tee "$OUT/summary.txt"
cat "$OUT"/r*.err
echo "results: $OUT"
