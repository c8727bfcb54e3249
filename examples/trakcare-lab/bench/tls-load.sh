#!/usr/bin/env bash
# The TLS load benchmark (book: Performance, "TLS under load"): the example production
# under `accord hl7 load`, once with its `prod` contract (TLS on the TrakCare ADT listener
# and on both operations, WinPath and the pharmacy) and once in plaintext (`dev`, the
# load benchmark's own configuration), alternated in the same rounds, same sample, same
# connections and patients. The certificates are made here with openssl, for localhost.
#
#   accord build --release examples/trakcare-lab
#   examples/trakcare-lab/bench/tls-load.sh [ROUNDS] [MESSAGES]
#
# Prints each run's figures; the ratio TLS / plaintext is computed from the `total:` lines.
set -euo pipefail
rounds=${1:-3}
messages=${2:-40000}
root=$(cd "$(dirname "$0")/../../.." && pwd)
accord=${ACCORD:-$root/target/release/accord}
production=$root/target/accord-target/release/lothian-trakcare-laboratory-estate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# A CA, a certificate for the hub (the listener), one for the peers, one for the hub as a
# client of the pharmacy: each for localhost and 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Bench CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
for who in hub peer client; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout $who.key -out $who.csr 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" > $who.ext
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile $who.ext -out $who.pem 2>/dev/null
done

cat > tls.toml <<TOML
[journal]
sync = "full"

[limits]
lanes = 16

[admin]
listen = "127.0.0.1:9465"

[settings]
HUB_TRAKCARE_PORT = 16661
HUB_WINPATH_PORT = 16662
WINPATH_HOST = "localhost"
WINPATH_PORT = 17001
PHARMACY_HOST = "localhost"
PHARMACY_PORT = 17002
MPI_HOST = "localhost"
MPI_PORT = 16663
TRAKCARE_HOST = "localhost"
TRAKCARE_RESULTS_PORT = 17003
ARCHIVE_DIR = "$work/archive"
HUB_CERT = "$work/hub.pem"
TRUST_CA = "$work/ca.pem"
HUB_CLIENT_CERT = "$work/client.pem"

[secrets]
HUB_KEY = "$work/hub.key"
HUB_CLIENT_KEY = "$work/client.key"
TOML
mkdir -p archive

run() { # mode env config
  local mode=$1 env=$2 config=$3
  rm -rf store && sync && sleep 3
  "$production" run --env "$env" --config "$config" --store store > "$mode.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    grep -q "production ready" "$mode.log" 2>/dev/null && break
    sleep 0.1
  done
  local tls=()
  [ "$mode" = tls ] && tls=(--tls-ca ca.pem --peer-cert peer.pem --peer-key peer.key)
  echo "== $mode, round $r"
  "$accord" hl7 load 127.0.0.1:16661 "$root/examples/trakcare-lab/samples/adt_a01.hl7" \
    --connections 16 --messages "$messages" --patients 1000 --peer 17001 --peer 17002 \
    --handshakes 200 --pid "$pid" "${tls[@]}" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for r in $(seq "$rounds"); do
  run plain dev "$root/examples/trakcare-lab/config/load.toml"
  run tls prod "$work/tls.toml"
done
