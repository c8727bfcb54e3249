#!/usr/bin/env bash
# What the bidirectional semantics cost under load (book: Performance, "Lookups and
# ordered conflicts"): the example production under the README's load, built three ways
# from copies of examples/trakcare-lab and alternated in the same rounds:
#
#   plain    the patient class's conflict rule without an event time (`conflict newest`),
#            and no lookup;
#   ordered  the example as it is: `conflict newest by updated_at`, so each A01's class is
#            decided against the stored value's event time;
#   lookup   plain, with WinPath's ADT carrying a value read back from the stored patient
#            (`PID-2.1 <- lookup(Patient.nhs_number, mrn)`): one stored-record read a message.
#
# Not a test: it prints what each run measured.
#
#   runtime/engine/tools/semantics_bench.sh ACCORD [ROUNDS] [MESSAGES]
#
# ACCORD is the release `accord` (it builds the variants, and its `hl7 load` is the sender
# and plays both peers). CARGO_TARGET_DIR is where the variants build (default
# target/accord-target).
set -euo pipefail
accord=$(realpath "${1:?the accord binary}")
rounds=${2:-3}
messages=${3:-40000}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/accord-semantics-bench.XXXXXX)
target=${CARGO_TARGET_DIR:-$repo/target/accord-target}

variant() { # variant NAME: a copy of the example, its estate named for NAME
  local dir="$work/$1"
  cp -r "$repo/examples/trakcare-lab" "$dir"
  sed -i "s/^estate \"\(.*\)\" version/estate \"\1 $1\" version/" "$dir/estate.accord"
  case "$1" in
    plain | lookup)
      sed -i 's/patient_class: owner trakcare; conflict newest by updated_at/patient_class: owner trakcare; conflict newest/' "$dir/estate.accord"
      ;;
  esac
  if [ "$1" = lookup ]; then
    sed -i 's/^  PID-13\[1\].1 <- phone clear$/&\n  PID-2.1 <- lookup(Patient.nhs_number, mrn)/' "$dir/mappings.accord"
    grep -q 'lookup(Patient.nhs_number, mrn)' "$dir/mappings.accord"
  fi
  "$accord" build --release "$dir" >&2
}

binary() { # the release binary of variant NAME
  local name
  name=$(sed -n 's/^estate "\(.*\)" version.*/\1/p' "$work/$1/estate.accord" |
    tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9]\+/-/g; s/^-//; s/-$//')
  echo "$target/release/$name"
}

run() { # run NAME
  local store="$work/store-$1"
  rm -rf "$store"
  "$(binary "$1")" run --env dev --config "$repo/examples/trakcare-lab/config/load.toml" \
    --store "$store" 2>"$work/$1.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:9465/ready >/dev/null 2>&1 && break; sleep 0.1; done
  sync
  "$accord" hl7 load 127.0.0.1:16661 "$repo/examples/trakcare-lab/samples/adt_a01.hl7" \
    --connections 16 --messages "$messages" --patients 1000 --peer 17001 --peer 17002 --pid "$pid" |
    sed "s/^/$1: /"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

export CARGO_TARGET_DIR=$target
for v in plain ordered lookup; do
  variant "$v"
  test -x "$(binary "$v")" || { echo "no binary for $v at $(binary "$v")" >&2; exit 1; }
done
for round in $(seq "$rounds"); do
  echo "== round $round"
  for v in plain ordered lookup; do
    run "$v"
    sleep 2
  done
done
echo "work directory: $work"
