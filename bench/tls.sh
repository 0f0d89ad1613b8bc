#!/usr/bin/env bash
# TLS overhead: put and get throughput over https vs plain http, for Lattice and real etcd 3.4, on
# the same server (it listens on both an https and an http client URL). kvbench has no TLS flags,
# so the load comes from test/interop/go/tlsclient (clientv3 3.4, one connection, closed loops).
#
# Usage: bash bench/tls.sh
# Env:
#   ENGINE    Lattice engine: rocksdb (default) | memory
#   CLIENTS   concurrent request loops (default 16)
#   TOTAL     requests per entry (default 20000)
#   MTLS=1    require client certificates (--client-cert-auth; default 1)
#   REPEAT    runs per entry (default 3); the table shows the median ops/s
# Output: a markdown table of ops/s and TLS/plain ratios, printed (and saved under bench/results/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
F="$repo/test/fixtures/tls"
engine="${ENGINE:-rocksdb}"
clients="${CLIENTS:-16}"
total="${TOTAL:-20000}"
mtls="${MTLS:-1}"
repeat="${REPEAT:-3}"
out="$repo/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-tls-$engine"
mkdir -p "$out"

gopath=/usr/share/gocode
client="$(mktemp -d)/tlsclient"
(cd "$repo" && GOPATH="$gopath" GO111MODULE=off CGO_ENABLED=0 GOCACHE="${GOCACHE:-/tmp/lattice-gocache}" go build -o "$client" ./test/interop/go/tlsclient)
(cd "$repo" && npx tsc -p tsconfig.json)

port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

tls_flags=(--cert-file "$F/server.pem" --key-file "$F/server-key.pem")
client_tls=(--cacert "$F/ca.pem")
if [[ "$mtls" == 1 ]]; then
  tls_flags+=(--trusted-ca-file "$F/ca.pem" --client-cert-auth)
  client_tls+=(--cert "$F/client.pem" --key "$F/client-key.pem")
fi

pid=""
stop_server() { if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap stop_server EXIT

start_server() { # kind
  local kind=$1 data; data=$(mktemp -d)
  sport=$(port); pport=$(port); peer=$(port)
  local args=(--name b --data-dir "$data" --listen-client-urls "https://127.0.0.1:$sport,http://127.0.0.1:$pport"
    --advertise-client-urls "https://127.0.0.1:$sport" --listen-peer-urls "http://127.0.0.1:$peer"
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "b=http://127.0.0.1:$peer" "${tls_flags[@]}")
  if [[ "$kind" == etcd ]]; then etcd "${args[@]}" > "$out/$kind.log" 2>&1 &
  else node "$repo/bin/lattice.js" "${args[@]}" --engine "$engine" > "$out/$kind.log" 2>&1 & fi
  pid=$!
  for _ in $(seq 100); do grep -q 'ready to serve client requests' "$out/$kind.log" && return 0; sleep 0.2; done
  echo "tls.sh: $kind did not start (see $out/$kind.log)" >&2; exit 1
}

run() { # kind op scheme → prints ops/s
  local kind=$1 op=$2 scheme=$3
  if [[ "$scheme" == https ]]; then
    "$client" bench --endpoints "https://127.0.0.1:$sport" "${client_tls[@]}" --op "$op" --clients "$clients" --total "$total"
  else
    "$client" bench --endpoints "http://127.0.0.1:$pport" --op "$op" --clients "$clients" --total "$total"
  fi | tee -a "$out/results.jsonl" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(r.errors>0)console.error(`${r.errors} errors`);console.log(Math.round(r.ops_per_s))})'
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A result
for kind in etcd lattice; do
  start_server "$kind"
  for round in $(seq "$repeat"); do
    for op in put get; do
      for scheme in http https; do
        result[$kind/$op/$scheme]+="$(run "$kind" "$op" "$scheme") "
      done
    done
  done
  stop_server
done

{
  echo "| server | op | plain ops/s | TLS ops/s | TLS/plain |"
  echo "|---|---|---|---|---|"
  for kind in etcd lattice; do
    for op in put get; do
      p=$(echo "${result[$kind/$op/http]}" | median); t=$(echo "${result[$kind/$op/https]}" | median)
      echo "| $kind | $op | $p | $t | $(awk -v a="$t" -v b="$p" 'BEGIN{printf "%.2f", a/b}') |"
    done
  done
  echo
  echo "clients=$clients total=$total mtls=$mtls repeat=$repeat engine=$engine; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/table.md"
