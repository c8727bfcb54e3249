#!/usr/bin/env bash
# The console benchmark (book: Performance, "The console on a large journal"): the example
# production on its SQLite journal filled to ROWS messages by the load tool, then, in each
# of ROUNDS rounds, the same steady load (RATE messages a second for SECONDS) twice: once
# with no page requests, once with `console_pages.py` asking for searches and message
# viewer pages one after another. Prints the page times and, for both runs, the
# production's CPU seconds per thousand messages. Not a test.
#
#   runtime/engine/tools/console_bench.sh PRODUCTION ACCORD [ROWS] [ROUNDS] [RATE] [SECONDS]
#
# PRODUCTION is the example's release binary (`accord build --release examples/trakcare-lab`),
# ACCORD the release `accord`.
set -euo pipefail
prod=${1:?the production binary}
accord=${2:?the accord binary}
rows=${3:-1000000}
rounds=${4:-2}
rate=${5:-500}
seconds=${6:-30}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/accord-console-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
password="console bench passphrase"
config="$work/load.toml"
cp "$repo/examples/trakcare-lab/config/load.toml" "$config"
hash=$(echo "$password" | "$prod" console hash-password)
printf '[console]\n[console.operators.bench]\nrole = "operator"\npassword = "%s"\n' "$hash" >> "$config"
"$prod" run --env dev --config "$config" --store "$work/store" 2>"$work/production.log" &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:9465/ready >/dev/null 2>&1 && break; sleep 0.1; done
journal="$work/store/journal.sqlite"
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect('file:$journal?mode=ro', uri=True).execute('SELECT COUNT(*) FROM messages').fetchone()[0])"; }
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$pid/stat"; }
load() { # load MESSAGES [--rate R]
  "$accord" hl7 load 127.0.0.1:16661 "$repo/examples/trakcare-lab/samples/adt_a01.hl7" \
    --connections 16 --patients 10000 --peer 17001 --peer 17002 --messages "$@"
}

# A received admission makes three rows (itself and its two deliveries).
echo "== filling the journal to $rows rows"
load $((rows / 3)) | grep -E "total:|ACK latency"
echo "journal rows: $(count)"

for round in $(seq "$rounds"); do
  for with in none pages; do
    messages=$((rate * seconds))
    before=$(cpu)
    load "$messages" --rate "$rate" > "$work/load-$with.txt" &
    loader=$!
    if [ "$with" = pages ]; then
      sleep 1
      python3 "$repo/runtime/engine/tools/console_pages.py" http://127.0.0.1:9465 bench \
        "$password" "$journal" $((seconds - 4)) > "$work/pages.json"
    fi
    wait "$loader"
    after=$(cpu)
    awk -v a="$before" -v b="$after" -v m="$messages" -v r="$round" -v w="$with" \
      'BEGIN { printf "round %d, %s: production CPU %.2f s, %.1f ms per 1,000 messages\n", r, w, b - a, (b - a) * 1e6 / m }'
    grep -E "total:|ACK latency" "$work/load-$with.txt" | sed "s/^/round $round, $with: /"
    if [ "$with" = pages ]; then
      sed "s/^/round $round, pages: /" "$work/pages.json"
    fi
  done
done
