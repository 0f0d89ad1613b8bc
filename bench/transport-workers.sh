#!/bin/bash
# Transport workers (--transport-workers N, src/adapters/transport-workers/): the same kvbench loads
# against fresh single members with the given worker counts and against etcd, alternating, so each
# round sees the machine alike. Server CPU is summed over the process tree (the workers count).
#
#   bench/transport-workers.sh [ROUNDS]
#   WORKERS="0 1 2" ENGINE=rocksdb LOADS=$'put --clients 1000 --conns 100 --total 100000\n...' bench/transport-workers.sh 3
#
# Prints one line per run: who, load, ops/s, p99 ms, server CPU s, µs of server CPU per op (every
# process and thread), µs of the server's main thread per op (the thread a single member is bound
# by), errors.
set -euo pipefail
rounds=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
kvbench=${KVBENCH:-/tmp/kvbench}
engine=${ENGINE:-rocksdb}
workers=${WORKERS:-0 1 2}
loads=${LOADS:-$'put --clients 1000 --conns 100 --total 100000\nrange --clients 1000 --conns 100 --total 200000 --consistency s\nrange --clients 1000 --conns 100 --total 200000 --consistency l\nput --clients 1 --conns 1 --total 10000\nrange --clients 1 --conns 1 --total 20000 --consistency s'}
etcd_too=${ETCD:-1}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run_one() { # who load
  local who=$1 load=$2 port peer dir pid
  port=$(free_port); peer=$(free_port); dir=$(mktemp -d /tmp/tw-bench-XXXX)
  if [ "$who" = etcd ]; then
    etcd --data-dir "$dir/data" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "default=http://127.0.0.1:$peer" > "$dir.log" 2>&1 &
  else
    node "$here/bin/lattice.js" --data-dir "$dir/data" --engine "$engine" --transport-workers "$who" \
      --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "default=http://127.0.0.1:$peer" > "$dir.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 100); do "$kvbench" ping --endpoints "127.0.0.1:$port" > /dev/null 2>&1 && break; sleep 0.1; done
  local t0; t0=$(awk '{print $14+$15}' "/proc/$pid/task/$pid/stat")
  # shellcheck disable=SC2086
  local out; out=$("$kvbench" $load --endpoints "127.0.0.1:$port" --server-pid "$pid" 2>&1 | tail -n 1)
  local t1; t1=$(awk '{print $14+$15}' "/proc/$pid/task/$pid/stat")
  kill "$pid"; wait "$pid" 2> /dev/null || true; rm -rf "$dir" "$dir.log"
  local label; label=$([ "$who" = etcd ] && echo etcd || echo "lattice-w$who")
  echo "$out" | node -e '
    const [label, load, ticks] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const us = (s) => (s / r.ops * 1e6).toFixed(1);
    // etcd has no thread that bounds it: its goroutines run on every core
    const main = label === "etcd" ? "-" : us(Number(ticks) / 100);
    console.log([label, load, r.ops_per_s.toFixed(0), r.lat_ms.p99.toFixed(2), r.server_cpu_s.toFixed(2), us(r.server_cpu_s), main, r.errors].join("\t"));
  ' "$label" "$load" "$((t1 - t0))"
}

echo -e "who\tload\tops/s\tp99 ms\tserver CPU s\tµs CPU/op\tµs main thread/op\terrors"
for r in $(seq 1 "$rounds"); do
  while IFS= read -r load; do
    [ -z "$load" ] && continue
    for w in $workers; do run_one "$w" "$load"; done
    if [ "$etcd_too" = 1 ]; then run_one etcd "$load"; fi
  done <<< "$loads"
done
