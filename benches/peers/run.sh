#!/usr/bin/env bash
# Benchmark against peers: tierpace, a BullMQ worker (queue limiter) and a Bottleneck worker
# (reservoir + minTime), side by side on this machine, each sending to its own instance of the
# loopback fake Gupshup (examples/fake_gupshup.rs, which records every arrival time), each asked
# for the same rate and the same daily unique-customer cap.
#
# Per tool, two runs, each with a fresh private redis-server and a fresh fake:
#   clean  the tool sends the whole audience; CPU and peak RSS come from /usr/bin/time -v
#   kill   the tool is killed with SIGKILL after KILL_AT arrivals and started again at once
#
#   benches/peers/run.sh              # debug build of tierpace (PROFILE=release for the other)
#   RATE=80 CAP=950 CONTACTS=1200 KILL_AT=400 CONCURRENCY=16 LATENCY_MS=0 benches/peers/run.sh
#   LATENCY_MS=300 CONCURRENCY=default ...   # tierpace's default in-flight sizing (peers: 400)
#   TIER=unlimited CAP=100000000 ...         # a rate run: no tier cap for any tool
#   RATE=0 TIER=unlimited CAP=100000000 ...  # a capacity run: no rate cap either (tierpace gets
#                                            # max_mps = 1000000, BullMQ no limiter)
#   MODES=clean                              # skip the kill-and-restart run
#
# Needs: cargo, node + npm (npm ci from the lockfile on first run), redis-server, python3,
# /usr/bin/time. Results go to target/peers/<timestamp>/ and a Markdown table to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RATE=${RATE:-80}
CAP=${CAP:-950}          # tierpace: initial_tier = "1k" (allowance 950); peers: told 950
CONTACTS=${CONTACTS:-1200}
KILL_AT=${KILL_AT:-400}
TIMEOUT=${TIMEOUT:-120}  # seconds, per process run
CONCURRENCY=${CONCURRENCY:-16} # sends in flight at once, every tool ("default": tierpace's own)
TIER=${TIER:-1k}         # tierpace's initial_tier
MODES=${MODES:-"clean kill"}
LATENCY_MS=${LATENCY_MS:-0} # the fake answers this long after recording a send
QUIET=${QUIET:-6}        # tierpace never exits by itself: SIGTERM after this many quiet seconds
PROFILE=${PROFILE:-debug}
TOOLS=${TOOLS:-"tierpace bullmq bottleneck"}
SOURCE=5585999900001
OUT=${OUT:-$ROOT/target/peers/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

# PROFILE picks tierpace's build and the fake's (FAKE_PROFILE): the fake records each arrival's
# time, and a debug-build fake on a busy machine records them late and in clumps.
FAKE_PROFILE=${FAKE_PROFILE:-$PROFILE}
# BUILD=0: use the builds already in target/ (A/B runs with BIN= while the sources change)
if [ "${BUILD:-1}" != 0 ]; then
  (cd "$ROOT" && cargo build --bin tierpace --example fake_gupshup)
  if [ "$PROFILE" = release ] || [ "$FAKE_PROFILE" = release ]; then
    (cd "$ROOT" && cargo build --release --bin tierpace --example fake_gupshup)
  fi
fi
BIN=${BIN:-$ROOT/target/$PROFILE/tierpace} # BIN=path: another build (A/B runs)
FAKE=$ROOT/target/$FAKE_PROFILE/examples/fake_gupshup
# shellcheck source=benches/peers/lib.sh
. "$HERE/lib.sh"
cpu_of() { # utime+stime of a live process, in seconds
  awk '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

start_fake() { # $1 run dir
  rm -f "$1/port"
  "$FAKE" "$1/sends.csv" "$1/port" "$LATENCY_MS" & FAKE_PID=$!
  PIDS+=("$FAKE_PID")
  for _ in $(seq 100); do [ -s "$1/port" ] && break; sleep 0.1; done
  FAKE_URL=$(cat "$1/port")
}
stop_fake() { kill -TERM "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true; }

start_redis() { # $1 run dir
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$1" \
    > "$1/redis.log" 2>&1 & REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT/
}
stop_redis() { # records the server's CPU seconds in $1/redis_cpu
  cpu_of "$REDIS_PID" > "$1/redis_cpu"
  kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
}

# Config, campaign and audience as benches/e2e_load.rs writes them. warmup_share = 1: the peers
# have no template warm-up (tierpace's default sends a template's first 1,000 at half pace);
# lease_ttl = 3s: a restarted daemon takes its campaign back after 3 s instead of 15 s.
tierpace_setup() { # $1 run dir
  local d=$1
  mkdir -p "$d/tp/campaigns"
  echo "peers-hash-key-0123456789abcdef0123456789" > "$d/tp/hash.key"
  echo "test-gupshup-key" > "$d/tp/gupshup.key"
  cat > "$d/tp/tierpace.toml" <<TOML
state = "redis"
redis_url = "$REDIS_URL"
hash_key_file = "$d/tp/hash.key"
campaigns_dir = "campaigns"
log_level = "${TP_LOG:-warn}"
lease_ttl = "3s"
[pacing]
warmup_share = 1
[http]
listen = "127.0.0.1:$(free_port)"
[senders.s0]
provider = "gupshup"
source = "$SOURCE"
app_name = "Peers"
api_key_file = "$d/tp/gupshup.key"
base_url = "$FAKE_URL"
initial_tier = "$TIER"
max_mps = $( [ "$RATE" = 0 ] && echo 1000000 || echo "$RATE" )
$( [ "$CONCURRENCY" = default ] || echo "concurrency = $CONCURRENCY" )
TOML
  cat > "$d/tp/campaigns/c0.toml" <<TOML
id = "c0"
sender = "s0"
[template]
id = "6f1c2a3b-0000-4000-8000-000000000001"
category = "utility"
params = ["{{name}}"]
[audience]
file = "c0.csv"
[schedule]
calendar = "always"
[pacing]
mode = "asap"
TOML
  { echo "name,ddi,phone,email,opt_in"
    for ((i = 0; i < CONTACTS; i++)); do printf 'C%d,55,119%08d,,sim\n' "$i" "$i"; done
  } > "$d/tp/campaigns/c0.csv"
}

# Starts one incarnation of the tool under /usr/bin/time -v; sets TIME_PID and CHILD_PID.
launch() { # $1 tool, $2 run dir, $3 incarnation number
  local cmd
  case $1 in
    tierpace) cmd=(${TP_WRAP:-} "$BIN" run --config "$2/tp/tierpace.toml") ;; # TP_WRAP=heaptrack: a profiler
    bullmq) cmd=(node "$HERE/bullmq.js" work) ;;
    bottleneck) cmd=(node "$HERE/bottleneck.js") ;;
  esac
  local peers_concurrency=$CONCURRENCY
  [ "$peers_concurrency" = default ] && peers_concurrency=400
  FAKE_URL=$FAKE_URL REDIS_URL=$REDIS_URL SOURCE=$SOURCE RATE=$RATE CAP=$CAP CONTACTS=$CONTACTS CONCURRENCY=$peers_concurrency \
  RUST_LOG=${TP_LOG:-warn} /usr/bin/time -v -o "$2/time.$3.txt" "${cmd[@]}" > "$2/out.$3.log" 2>&1 &
  TIME_PID=$!
  PIDS+=("$TIME_PID")
  CHILD_PID=
  for _ in $(seq 100); do CHILD_PID=$(pgrep -P "$TIME_PID" || true); [ -n "$CHILD_PID" ] && break; sleep 0.05; done
}

# Waits for the incarnation to finish: Node workers exit by themselves; tierpace is sent
# SIGTERM once the fake has seen no new send for QUIET seconds. TIMEOUT bounds both.
await_end() { # $1 tool, $2 run dir
  local start=$SECONDS last=-1 since=$SECONDS n
  while kill -0 "$CHILD_PID" 2>/dev/null; do
    sleep 0.5
    n=$(count "$2/sends.csv")
    if [ "$n" != "$last" ]; then last=$n; since=$SECONDS; fi
    if { [ "$1" = tierpace ] && [ "$n" -gt 0 ] && (( SECONDS - since >= QUIET )); } || (( SECONDS - start >= TIMEOUT )); then
      (( SECONDS - start >= TIMEOUT )) && echo "  timeout: stopping $1" >&2
      kill -TERM "$CHILD_PID" 2>/dev/null || true
      break
    fi
  done
  wait "$TIME_PID" 2>/dev/null || true
}

run_one() { # $1 tool, $2 mode (clean|kill)
  local tool=$1 mode=$2 d=$OUT/$1-$2
  mkdir -p "$d"
  echo "== $tool, $mode run" >&2
  start_redis "$d"
  start_fake "$d"
  case $tool in
    tierpace) tierpace_setup "$d" ;;
    bullmq) (cd "$HERE" && FAKE_URL=$FAKE_URL REDIS_URL=$REDIS_URL CONTACTS=$CONTACTS node bullmq.js produce) 2> "$d/produce.log" ;;
  esac
  launch "$tool" "$d" 1
  if [ "$mode" = kill ]; then
    local start=$SECONDS
    while [ "$(count "$d/sends.csv")" -lt "$KILL_AT" ] && (( SECONDS - start < TIMEOUT )); do sleep 0.05; done
    kill -KILL "$CHILD_PID"
    wait "$TIME_PID" 2>/dev/null || true
    echo "  SIGKILL after $(count "$d/sends.csv") arrivals; restarting" >&2
    launch "$tool" "$d" 2
  fi
  await_end "$tool" "$d"
  sleep 0.5
  stop_fake
  stop_redis "$d"
  echo "  $(count "$d/sends.csv") sends recorded" >&2
}

for tool in $TOOLS; do
  for mode in $MODES; do run_one "$tool" "$mode"; done
done

echo "RATE=$RATE CAP=$CAP CONTACTS=$CONTACTS KILL_AT=$KILL_AT CONCURRENCY=$CONCURRENCY LATENCY_MS=$LATENCY_MS PROFILE=$PROFILE FAKE_PROFILE=$FAKE_PROFILE" > "$OUT/params"
python3 "$HERE/analyze.py" "$OUT" "$CAP" "$RATE" "$PROFILE" $TOOLS | tee "$OUT/table.md"
