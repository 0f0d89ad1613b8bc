#!/usr/bin/env bash
# What collecting metrics costs under the put benchmark (kvbench put, 1000 clients): the same
# Lattice build scraped every SCRAPE_S seconds (default 1, 15x Prometheus's default rate) and not
# scraped, and the same build with its metrics taken out (STRIP=1, the default: a copy of dist/ whose
# server assembly skips the metric wrappers — WAL fsync and backend commit timers, the KV counters,
# the gRPC call observer and the applied-stream counters; /metrics still answers from what is left)
# for the cost of collecting on the call path. BASE_DIR adds another build (e.g. an older commit).
# Server CPU per op is the figure to compare; runs alternate so that load from other processes
# spreads over all variants.  Build first (npx tsc -p .).
#   KVBENCH=/tmp/kvbench ROUNDS=8 bench/metrics-cost.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kvbench=${KVBENCH:-/tmp/kvbench}
base=${BASE_DIR:-}
rounds=${ROUNDS:-3}
total=${TOTAL:-60000}
scrape_s=${SCRAPE_S:-1}
port=${PORT:-52379}
out=$(mktemp -d)
stripped=
if [ "${STRIP:-1}" = 1 ]; then
  stripped=$(mktemp -d)
  cp -r "$here/bin" "$here/dist" "$here/package.json" "$stripped/"
  ln -s "$here/node_modules" "$stripped/node_modules"
  strip() { # file, sed expression: each must change the file, or the comparison would be void
    local before; before=$(md5sum <"$stripped/$1")
    sed -i "$2" "$stripped/$1"
    [ "$(md5sum <"$stripped/$1")" != "$before" ] || { echo "metrics-cost.sh: could not strip $1 ($2)" >&2; exit 1; }
  }
  server=dist/src/server/lattice-server.js
  strip "$server" 's/timedFileSystem(nodeFileSystem, metrics.walFsync)/nodeFileSystem/'
  strip "$server" 's/timedEngine(engine, metrics.backendCommit)/engine/'
  strip "$server" "s/countingKv(maintenance.guardKv(store), metrics.kv, (fields) => log.named('etcdserver').warn('apply request took too long', fields))/maintenance.guardKv(store)/"
  strip "$server" 's/grpcStats: metrics.grpc,//'
  strip dist/src/metrics/member-observability.js 's/countApplied(m.store.applied\$, m.metrics.kv, liveKeys)/() => {}/'
fi
trap 'rm -rf "$out" ${stripped:+"$stripped"}' EXIT

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
  [ -n "$base" ] && run "base-build" "$base" 0
  [ -n "$stripped" ] && run "metrics-stripped" "$stripped" 0
  run "metrics-not-scraped" "$here" 0
  run "metrics-scraped-every-${scrape_s}s" "$here" 1
done
cat "$out/results.jsonl"
# median server CPU per put (µs) and puts/s per variant
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  for (const label of [...new Set(rows.map((r) => r.label))]) {
    const rs = rows.filter((r) => r.label === label), cpu = rs.map((r) => (1e6 * r.server_cpu_s) / r.ops);
    console.log(`${label}: ${med(cpu).toFixed(1)} µs CPU/put (${Math.min(...cpu).toFixed(1)}-${Math.max(...cpu).toFixed(1)}), ${Math.round(med(rs.map((r) => r.ops_per_s)))} puts/s, n=${rs.length}`);
  }' "$out/results.jsonl"
