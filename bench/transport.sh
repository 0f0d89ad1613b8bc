#!/usr/bin/env bash
# The transport comparison of issue 9: server CPU per 1,000 calls for etcd, a bare grpc-js server, a
# bare node:http2 responder, a bare responder on HTTP/2 framed in JavaScript (bench/bare-*.mjs) and Lattice builds, under the same kvbench loads.
# Servers alternate within each repetition, each entry on a freshly started server; one JSON line
# per entry goes to $OUT/results.jsonl, and bench/transport-table.mjs makes the table of medians.
# The loads are shortened copies of the shared suite's entries (a third to a fifth of their calls),
# for quick A/B runs: on a fresh Node process they weigh the JIT's first compiles heavily (see
# docs/benchmarks.md, run S27). Targets are judged on the suite's own entries (bench/run.sh).
#
# Usage: bash bench/transport.sh
# Env:
#   KVBENCH   built kvbench (see ../shared/bench/README.md)       (required)
#   SERVERS   space-separated names among: etcd bare-grpc-js bare-http2 bare-raw-h2 lattice:<dir>  (a built tree)
#   LOADS     space-separated names among: get-s-c1 get-l-c1 get-s-c1000 get-l-c1000 put-c1 put-c1000 watch-10k
#   REPEAT    repetitions (default 3); OUT output dir (default a temp dir); ENGINE lattice engine (default memory)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kvb="${KVBENCH:?set KVBENCH to a built kvbench}"
servers="${SERVERS:-etcd bare-grpc-js bare-http2 lattice:$here/..}"
loads="${LOADS:-get-s-c1000 put-c1000}"
repeat="${REPEAT:-3}"
out="${OUT:-$(mktemp -d /tmp/transport-bench.XXXXXX)}"
mkdir -p "$out"
free_port() { node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }
port="$(free_port)"
peer="$(free_port)"
ep="127.0.0.1:$port"

start_server() { # $1 = name; sets pid and data
  data="$(mktemp -d /tmp/transport-bench-data.XXXXXX)"
  case "$1" in
    etcd) etcd --name kvb --data-dir "$data" --listen-client-urls "http://$ep" --advertise-client-urls "http://$ep" \
            --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
            --initial-cluster "kvb=http://127.0.0.1:$peer" >"$out/server.log" 2>&1 & ;;
    bare-grpc-js) node "$here/bare-grpc-js.mjs" "$port" >"$out/server.log" 2>&1 & ;;
    bare-http2) node "$here/bare-http2.mjs" "$port" >"$out/server.log" 2>&1 & ;;
    bare-raw-h2) node "$here/bare-raw-h2.mjs" "$port" >"$out/server.log" 2>&1 & ;;
    lattice:*) node "${1#lattice:}/bin/lattice.js" --name default --data-dir "$data" --listen-client-urls "http://$ep" \
            --advertise-client-urls "http://$ep" --listen-peer-urls "http://127.0.0.1:$peer" \
            --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "default=http://127.0.0.1:$peer" \
            --engine "${ENGINE:-memory}" >"$out/server.log" 2>&1 & ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
  pid=$!
  for _ in $(seq 1 100); do
    if "$kvb" ping --endpoints "$ep" --dial-timeout 1s >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "server $1 did not start" >&2; cat "$out/server.log" >&2; exit 1
}

stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap 'stop_server' EXIT

run_load() { # $1 = load name
  local common=(--endpoints "$ep" --server-pid "$pid" --duration 60s)
  case "$1" in
    get-s-c1) "$kvb" range --consistency s --conns 1 --clients 1 --total 3000 "${common[@]}" ;;
    get-l-c1) "$kvb" range --consistency l --conns 1 --clients 1 --total 3000 "${common[@]}" ;;
    get-s-c1000) "$kvb" range --consistency s --conns 100 --clients 1000 --total 30000 "${common[@]}" ;;
    get-l-c1000) "$kvb" range --consistency l --conns 100 --clients 1000 --total 30000 "${common[@]}" ;;
    put-c1) "$kvb" put --seq-keys --key-size 8 --val-size 256 --conns 1 --clients 1 --total 3000 "${common[@]}" ;;
    put-c1000) "$kvb" put --key-size 8 --val-size 256 --conns 100 --clients 1000 --total 30000 "${common[@]}" ;;
    watch-10k) "$kvb" watch --watchers 10000 --streams 100 --conns 10 --put-rate 10 --total 20 --duration 60s --endpoints "$ep" --server-pid "$pid" ;;
    *) echo "unknown load $1" >&2; exit 2 ;;
  esac
}

for r in $(seq 1 "$repeat"); do
  for load in $loads; do
    for s in $servers; do
      case "$s:$load" in bare-*:watch-*) continue ;; esac
      start_server "$s"
      line="$(run_load "$load" 2>>"$out/kvbench.log" | grep '^{"kvbench"' || true)"
      stop_server
      name="$s"; [[ "$s" == lattice:* ]] && name="lattice:$(basename "${s#lattice:}")"
      echo "{\"server\":\"$name\",\"load\":\"$load\",\"rep\":$r,\"result\":${line:-null}}" | tee -a "$out/results.jsonl" | cut -c1-200
    done
  done
done
node "$here/transport-table.mjs" "$out/results.jsonl" | tee "$out/table.md"
echo "output: $out"
