#!/usr/bin/env bash
# TLS overhead: put, get and range throughput and server CPU per request over https vs plain, for
# Lattice and real etcd 3.4, on the same server (it listens on both an https and an http client URL).
# kvbench has no TLS flags, so the load comes from test/interop/go/tlsclient (clientv3 3.4, one
# connection, closed loops). The plain arm dials a bare host:port: with an http:// endpoint clientv3
# sends ":authority: http://host:port", which Lattice serves through its authority shim, a cost the
# https arm (plain host:port authority) does not pay. The two arms swap order every round, and the
# server's CPU (utime+stime of its process, all threads) is read before and after each arm.
#
# Usage: bash bench/tls.sh
# Env:
#   ENGINE    Lattice engine: rocksdb (default) | memory
#   CLIENTS   concurrent request loops (default 16)
#   TOTAL     requests per entry (default 20000)
#   MTLS=1    require client certificates (--client-cert-auth; default 1)
#   REPEAT    runs per entry (default 3); the table shows the median ops/s and CPU µs per request
#   OPS       workloads (default "put get range"; range: Gets of a 100-key prefix)
# Output: a markdown table of ops/s, server CPU µs per request and TLS/plain ratios, printed (and
# saved under bench/results/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
F="$repo/test/fixtures/tls"
engine="${ENGINE:-rocksdb}"
clients="${CLIENTS:-16}"
total="${TOTAL:-20000}"
mtls="${MTLS:-1}"
repeat="${REPEAT:-3}"
read -r -a ops <<< "${OPS:-put get range}"
tick=$(getconf CLK_TCK)
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; } # the server's user+system time, all threads

run() { # kind op scheme → prints "ops/s cpu-µs-per-request"
  local kind=$1 op=$2 scheme=$3 before after json
  before=$(cpu_ticks)
  if [[ "$scheme" == https ]]; then
    json=$("$client" bench --endpoints "https://127.0.0.1:$sport" "${client_tls[@]}" --op "$op" --clients "$clients" --total "$total")
  else
    # bare host:port (no scheme): clientv3 dials plaintext and sends a plain host:port :authority
    json=$("$client" bench --endpoints "127.0.0.1:$pport" --op "$op" --clients "$clients" --total "$total")
  fi
  after=$(cpu_ticks)
  # one record per arm in results.jsonl; prints the ops/s and the server's CPU µs per request
  echo "$json" | node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const r = JSON.parse(s);
      const [kind, scheme, ticks, tick, file] = process.argv.slice(1);
      const cpu = ((Number(ticks) / Number(tick)) * 1e6) / r.ops;
      require("fs").appendFileSync(file, JSON.stringify({ kind, scheme, ...r, server_cpu_us_per_op: cpu }) + "\n");
      if (r.errors > 0) console.error(`${kind} ${scheme} ${r.op}: ${r.errors} errors`);
      console.log(Math.round(r.ops_per_s), cpu.toFixed(1));
    });' "$kind" "$scheme" "$((after - before))" "$tick" "$out/results.jsonl"
}

# the values end with a space: the empty field it leaves must not count (it sorted first and shifted
# the pick below the median)
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A result cpu
for kind in etcd lattice; do
  start_server "$kind"
  for round in $(seq "$repeat"); do
    # odd rounds plain first, even rounds TLS first: neither arm always runs on a warmer server
    if (( round % 2 )); then order=(http https); else order=(https http); fi
    for op in "${ops[@]}"; do
      for scheme in "${order[@]}"; do
        read -r ops_s cpu_us < <(run "$kind" "$op" "$scheme")
        result[$kind/$op/$scheme]+="$ops_s "
        cpu[$kind/$op/$scheme]+="$cpu_us "
      done
    done
  done
  stop_server
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
{
  echo "| server | op | plain ops/s | TLS ops/s | TLS/plain | plain CPU µs/req | TLS CPU µs/req | CPU TLS/plain |"
  echo "|---|---|---|---|---|---|---|---|"
  for kind in etcd lattice; do
    for op in "${ops[@]}"; do
      p=$(echo "${result[$kind/$op/http]}" | median); t=$(echo "${result[$kind/$op/https]}" | median)
      pc=$(echo "${cpu[$kind/$op/http]}" | median); tc=$(echo "${cpu[$kind/$op/https]}" | median)
      echo "| $kind | $op | $p | $t | $(ratio "$t" "$p") | $pc | $tc | $(ratio "$tc" "$pc") |"
    done
  done
  echo
  echo "clients=$clients total=$total mtls=$mtls repeat=$repeat engine=$engine; plain arm on a bare host:port, arm order alternating per round; server CPU from /proc/<pid>/stat; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/table.md"
