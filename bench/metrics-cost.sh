#!/usr/bin/env bash
# What collecting metrics costs under the put benchmark (kvbench put, 1000 clients): the same
# Lattice build scraped every SCRAPE_S seconds (default 1, 15x Prometheus's default rate) and not
# scraped, and a build without the metrics code (BASE_DIR, e.g. the commit before it) for the cost
# of the counters on the call path. Server CPU per op is the figure to compare; runs alternate so
# that load from other processes spreads over all variants.
#   KVBENCH=/tmp/kvbench BASE_DIR=/tmp/lattice-base bench/metrics-cost.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kvbench=${KVBENCH:-/tmp/kvbench}
base=${BASE_DIR:-}
rounds=${ROUNDS:-3}
total=${TOTAL:-60000}
scrape_s=${SCRAPE_S:-1}
port=${PORT:-52379}
out=$(mktemp -d)

run() { # label repo-dir scrape(0|1)
  local label=$1 dir=$2 scrape=$3 data
  data=$(mktemp -d)
  node "$dir/bin/lattice.js" --data-dir "$data" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((port + 1))" >"$out/$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  local scraper=
  if [ "$scrape" = 1 ]; then
    (while sleep "$scrape_s"; do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null || true; done) &
    scraper=$!
  fi
  "$kvbench" put --endpoints "127.0.0.1:$port" --key-size 8 --val-size 256 --conns 100 --clients 1000 \
    --total "$total" --duration 60s --server-pid "$pid" --label "$label" | tail -1 >>"$out/results.jsonl"
  [ -n "$scraper" ] && kill "$scraper"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}

for r in $(seq "$rounds"); do
  [ -n "$base" ] && run "without-metrics-code" "$base" 0
  run "metrics-not-scraped" "$here" 0
  run "metrics-scraped-every-${scrape_s}s" "$here" 1
done
echo "results: $out/results.jsonl"
cat "$out/results.jsonl"
