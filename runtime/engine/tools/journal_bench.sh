#!/usr/bin/env bash
# The journal benchmark (book: Performance, "SQLite and PostgreSQL journals"): the example
# production under the README's load, alternately on its SQLite journal and on a
# PostgreSQL server started here on loopback (Debian's, with fsync and synchronous_commit
# on, as in production), in the same rounds. Not a test: it prints what each run measured.
#
#   runtime/engine/tools/journal_bench.sh PRODUCTION ACCORD [ROUNDS] [MESSAGES]
#
# PRODUCTION is the example's release binary (`accord build --release examples/trakcare-lab`),
# ACCORD the release `accord` (its `hl7 load` is the sender and plays both peers).
set -euo pipefail
prod=${1:?the production binary}
accord=${2:?the accord binary}
rounds=${3:-3}
messages=${4:-40000}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/accord-journal-bench.XXXXXX)
port=15432
password=bench-password
pg_settings="-c max_connections=200 -c shared_preload_libraries=pg_stat_statements"
# shellcheck source=scratch_postgres.sh
source "$(dirname "$0")/scratch_postgres.sh"

config_pg="$work/load-pg.toml"
cp "$repo/examples/trakcare-lab/config/load.toml" "$config_pg"
# The SQLite run's `sync` line makes no sense for PostgreSQL: its commits are its own.
sed -i '/^sync = /d' "$config_pg"
sed -i "s|^\[journal\]|[journal]\nurl = \"postgres://accord@127.0.0.1:$port/bench\"\npassword = { file = \"$work/journal-password\" }|" "$config_pg"

run() { # run NAME CONFIG
  local store="$work/store-$1"
  rm -rf "$store"
  "$prod" run --env dev --config "$2" --store "$store" 2>"$work/$1.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:9465/ready >/dev/null 2>&1 && break; sleep 0.1; done
  "$accord" hl7 load 127.0.0.1:16661 "$repo/examples/trakcare-lab/samples/adt_a01.hl7" \
    --connections 16 --messages "$messages" --patients 1000 --peer 17001 --peer 17002 --pid "$pid" \
    | sed "s/^/$1: /"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq "$rounds"); do
  echo "== round $round"
  run sqlite "$repo/examples/trakcare-lab/config/load.toml"
  sql -d postgres \
    -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
  run postgres "$config_pg"
  sql -d bench -At \
    -c "SELECT 'postgres: commits ' || xact_commit || ', buffer hits ' || blks_hit FROM pg_stat_database WHERE datname = 'bench'"
done
