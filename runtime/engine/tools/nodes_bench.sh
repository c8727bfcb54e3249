#!/usr/bin/env bash
# The nodes benchmark (book: Performance, "Several nodes on one PostgreSQL journal"): the
# example production under the README's load, in the same rounds, as one node on its
# SQLite journal, then one, two and three nodes on one PostgreSQL server started here on
# loopback (Debian's, fsync and synchronous_commit on). The load tool spreads its
# connections over the nodes (as a TCP load balancer would) and plays both peers. Not a
# test: it prints, per run, what the load tool measured, each node's and the server's CPU
# seconds per thousand messages, and PostgreSQL's transactions and WAL fsyncs (what a
# commit waits for).
#
#   [WRITERS=4] [RUNS="sqlite-1 postgres-1 ..."] [PG_SETTINGS="-c ..."] [STATEMENTS=1] \
#     [PLACEMENT=spread|with-processor] \
#     [DELAY_MS=0.5] [RATE=1000] \
#     runtime/engine/tools/nodes_bench.sh PRODUCTION ACCORD [ROUNDS] [MESSAGES]
#
# PRODUCTION is the example's release binary (`accord build --release examples/trakcare-lab`),
# ACCORD the release `accord`. STATEMENTS=1 also prints, per PostgreSQL run, the statements
# the server spent most time on, planning and running them (pg_stat_statements, with
# track_planning), the statements the journal's functions run inside them, and how many
# statements it ran and planned.
# DELAY_MS puts a network between the nodes and the server: they connect through
# delay_proxy.py, which holds what it forwards that long each way, and the script first
# prints the round trip that makes (pgbench, `SELECT 1`). RATE paces the load tool.
set -euo pipefail
prod=${1:?the production binary}
accord=${2:?the accord binary}
rounds=${3:-2}
messages=${4:-20000}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/accord-nodes-bench.XXXXXX)
port=15433
password=bench-password
pg_settings="-c max_connections=300 -c track_wal_io_timing=on ${PG_SETTINGS:-}"
statements=${STATEMENTS:-0}
delay_ms=${DELAY_MS:-}
rate=${RATE:+--rate $RATE}
if [ "$statements" = 1 ]; then
  pg_settings="$pg_settings -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
fi
# Which runs: all by default; e.g. RUNS="sqlite-1 postgres-1" for those two only.
runs=${RUNS:-sqlite-1 postgres-1 postgres-2 postgres-3}
# shellcheck source=scratch_postgres.sh
source "$(dirname "$0")/scratch_postgres.sh"

# The writers of the PostgreSQL runs, shared out among the nodes (at least one each), so
# that every run puts as many transactions side by side on the server and the runs differ
# by the nodes' coordination only.
writers=${WRITERS:-4}
# Where the lanes run on several nodes (`[journal] lane_placement`): the default if unset.
placement=${PLACEMENT:-}

# Node K of N's configuration: the load settings with its own listeners (services, admin).
config() { # config BACKEND K N
  local out="$work/$1-$2.toml" base=$((16661 + 100 * $2))
  cp "$repo/examples/trakcare-lab/config/load.toml" "$out"
  sed -i "s/^port = 16661/port = $base/; s/127.0.0.1:9465/127.0.0.1:$((9465 + $2))/" "$out"
  printf '[endpoints.hub_winpath_in]\nport = %d\n[endpoints.mpi_feed]\nport = %d\n' \
    $((base + 1)) $((base + 2)) >> "$out"
  if [ "$1" = postgres ]; then
    sed -i '/^sync = /d' "$out"
    sed -i "s|^\[journal\]|[journal]\nurl = \"postgres://accord@127.0.0.1:$node_port/bench\"\npassword = { file = \"$work/journal-password\" }\nwriters = $(( writers / $3 > 0 ? writers / $3 : 1 ))${placement:+\nlane_placement = \"$placement\"}|" "$out"
  fi
  echo "$out"
}

cpu() { # cpu PID: user + system seconds so far
  awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"
}

run() { # run BACKEND NODES
  local name="$1-$2" pids=() addrs=() before=()
  for k in $(seq 0 $(($2 - 1))); do
    local store="$work/store-$name-$k"
    rm -rf "$store"
    "$prod" run --env dev --node "n$k" --config "$(config "$1" "$k" "$2")" --store "$store" \
      2>"$work/$name-$k.log" &
    pids+=($!)
    addrs+=("127.0.0.1:$((16661 + 100 * k))")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((9465 + k))/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  done
  sleep 2 # the nodes share the lanes out
  for p in "${pids[@]}"; do before+=("$(cpu "$p")"); done
  local commits0=0 server0=0
  if [ "$1" = postgres ]; then
    server0=$(server_cpu)
    commits0=$(sql -d bench -At -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'")
    sql -d bench -At -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
    if [ "$statements" = 1 ]; then
      sql -d bench -At -c "SELECT pg_stat_statements_reset()" >/dev/null
    fi
  fi
  local t0 t1
  t0=$(date +%s.%N)
  "$accord" hl7 load "$(IFS=,; echo "${addrs[*]}")" "$repo/examples/trakcare-lab/samples/adt_a01.hl7" \
    --connections 16 --messages "$messages" --patients 1000 --peer 17001 --peer 17002 $rate \
    >"$work/load.out" &
  local load=$! load_cpu=0
  # The load tool's own CPU (it plays the senders and both peers), read just before it exits.
  while kill -0 "$load" 2>/dev/null; do
    load_cpu=$(cpu "$load" 2>/dev/null || echo "$load_cpu")
    sleep 0.1
  done
  wait "$load" || true
  t1=$(date +%s.%N)
  sed "s/^/$name: /" "$work/load.out"
  awk -v c="$load_cpu" -v m="$messages" -v n="$name" -v w="$(echo "$t1 - $t0" | bc)" \
    'BEGIN { printf "%s: load tool CPU %.2f s, %.1f ms per 1,000 messages; wall %.2f s\n", n, c, c * 1e6 / m, w }'
  local i=0
  for p in "${pids[@]}"; do
    awk -v a="${before[$i]}" -v b="$(cpu "$p")" -v m="$messages" -v n="$name" -v k="$i" \
      'BEGIN { printf "%s: node n%d CPU %.2f s, %.1f ms per 1,000 messages\n", n, k, b - a, (b - a) * 1e6 / m }'
    i=$((i + 1))
  done
  if [ "$1" = postgres ]; then
    sql -d bench -At -c "SELECT '$name: postgres commits ' || (xact_commit - $commits0) FROM pg_stat_database WHERE datname = 'bench'"
    # A commit waits for its WAL flush: the server's fsyncs of the WAL, and their mean time.
    sql -d bench -At -c "SELECT '$name: postgres WAL fsyncs ' || wal_sync || ', mean ' || round((wal_sync_time / GREATEST(wal_sync, 1))::numeric, 3) || ' ms' FROM pg_stat_wal"
    if [ "$statements" = 1 ]; then
      # Top-level statements only: a function's own statements are counted inside it.
      sql -d bench -At -F ' | ' -c "SELECT calls, round(total_exec_time::numeric) || ' ms', 'max ' || round(max_exec_time::numeric, 1) || ' ms', plans || ' plans ' || round(total_plan_time::numeric) || ' ms', rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements WHERE toplevel ORDER BY total_exec_time + total_plan_time DESC LIMIT 25" | sed "s/^/$name: /"
      # The statements the journal's functions run, inside the top-level ones above.
      sql -d bench -At -F ' | ' -c "SELECT calls, round(total_exec_time::numeric) || ' ms', 'max ' || round(max_exec_time::numeric, 1) || ' ms', plans || ' plans ' || round(total_plan_time::numeric) || ' ms', rows, left(regexp_replace(query, '\s+', ' ', 'g'), 100) FROM pg_stat_statements WHERE NOT toplevel ORDER BY total_exec_time + total_plan_time DESC LIMIT 8" | sed "s/^/$name: inside a function: /"
      sql -d bench -At -c "SELECT '$name: statements ' || sum(calls) || ', exec ms ' || round(sum(total_exec_time)::numeric) || ', plans ' || sum(plans) || ', plan ms ' || round(sum(total_plan_time)::numeric) FROM pg_stat_statements WHERE toplevel"
      # Index entries the scans went through, per index: many more than the rows
      # fetched means scans walked over entries of dead rows.
      sql -d bench -At -F ' | ' -c "SELECT indexrelname, idx_scan || ' scans', idx_tup_read || ' entries read', idx_tup_fetch || ' rows fetched' FROM pg_stat_user_indexes WHERE idx_scan > 0 ORDER BY idx_tup_read DESC LIMIT 6" | sed "s/^/$name: index /"
      sql -d bench -At -c "SELECT '$name: messages ' || n_live_tup || ' live, ' || n_dead_tup || ' dead rows, autovacuums ' || autovacuum_count || ', autoanalyzes ' || autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'messages'"
    fi
  fi
  for p in "${pids[@]}"; do kill "$p"; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$1" = postgres ]; then
    sleep 1 # the nodes' backends end
    awk -v a="$server0" -v b="$(server_cpu)" -v m="$messages" -v n="$name" \
      'BEGIN { printf "%s: postgres server CPU %.2f s, %.1f ms per 1,000 messages\n", n, b - a, (b - a) * 1e6 / m }'
  fi
}

fresh() {
  sql -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
  if [ "$statements" = 1 ]; then
    sql -d bench -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  fi
}

# The port the nodes connect to: the server's, or the delaying proxy's in front of it.
node_port=$port
if [ -n "$delay_ms" ]; then
  node_port=$((port + 1))
  python3 "$(dirname "$0")/delay_proxy.py" "$node_port" "$port" "$delay_ms" &
  proxy=$!
  trap 'kill $proxy 2>/dev/null; stop_server' EXIT
  sleep 0.5
  echo "SELECT 1;" > "$work/one.sql"
  if [ "$(id -u)" = 0 ]; then chown postgres "$work/one.sql"; fi
  for p in "$port" "$node_port"; do
    PGPASSWORD=$password "$bin/pgbench" -n -M prepared -h 127.0.0.1 -p "$p" -U accord \
      -f "$work/one.sql" -T 3 -c 1 postgres 2>/dev/null \
      | sed -n "s/^latency average = /round trip to port $p (pgbench SELECT 1): /p"
  done
fi

for round in $(seq "$rounds"); do
  echo "== round $round"
  for r in $runs; do
    case "$r" in
      sqlite-1) run sqlite 1 ;;
      postgres-*) fresh; run postgres "${r#postgres-}" ;;
    esac
  done
done
