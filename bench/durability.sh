#!/usr/bin/env bash
# What each durability mode costs: kvbench put with 1 and 1000 clients against Lattice in sync, quorum
# and async mode on one member, and sync and quorum on three members. Writes a markdown table.
#
# Usage: bash bench/durability.sh
# Env:
#   C1_OPS    ops of the 1-client entries    (default 3000)
#   CN_OPS    ops of the 1000-client entries (default 20000)
#   ENGINE    Lattice storage engine (default rocksdb)
#   KVBENCH   a built kvbench binary (default: build one into a temp dir)
#   OUT_DIR   output dir (default bench/results/<UTC time>-durability)
#   BUILD=0   skip `tsc -p tsconfig.json`
#
# Every entry gets fresh members (empty temp data dirs, loopback ports from 43000 on); the mode is
# given as --durability, the rest are etcd's standard flags. 1000 clients run over 100 connections,
# as in the shared suite; with three members the calls are spread over all members' client URLs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
c1_ops="${C1_OPS:-3000}"
cn_ops="${CN_OPS:-20000}"
engine="${ENGINE:-rocksdb}"
out="${OUT_DIR:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)-durability}"
mkdir -p "$out/logs"
log() { echo "[durability.sh $(date -u +%H:%M:%S)] $*" >&2; }

if [[ "${BUILD:-1}" == 1 ]]; then (cd "$repo" && npx tsc -p tsconfig.json); fi
kvb="${KVBENCH:-}"
if [[ -z "$kvb" ]]; then
  # (grep -m1 may end dpkg early with SIGPIPE: not a failure)
  etcd_src="$(dpkg -L golang-etcd-server-dev 2>/dev/null | grep -m1 'go.etcd.io/etcd$' || true)"
  [[ -n "$etcd_src" ]] || { echo "durability.sh: golang-etcd-server-dev not installed; set KVBENCH" >&2; exit 1; }
  kvb="$(mktemp -d)/kvbench"
  (cd "$repo/../shared/bench/kvbench" && GOPATH="${etcd_src%/src/go.etcd.io/etcd}" GO111MODULE=off go build -o "$kvb" .)
fi

pids=()
data=""
# Each entry's data dir goes, and dirty pages are written back, so no entry pays for an earlier one's write-back.
stop_members() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  if [[ -n "$data" ]]; then rm -rf "$data"; data=""; fi
  sync
}
trap stop_members EXIT

# start_members MODE SIZE → sets endpoints
start_members() {
  local mode="$1" size="$2" cluster="" i
  data="$(mktemp -d)"
  for ((i = 1; i <= size; i++)); do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((43000 + 2 * i + 1))"; done
  endpoints=""
  for ((i = 1; i <= size; i++)); do
    local cp=$((43000 + 2 * i)) pp=$((43000 + 2 * i + 1))
    node "$repo/bin/lattice.js" --name "m$i" --data-dir "$data/m$i" --engine "$engine" --durability "$mode" \
      --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
      --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
      --initial-cluster "$cluster" >"$out/logs/$mode-$size-m$i.log" 2>&1 &
    pids+=("$!")
    endpoints+="${endpoints:+,}127.0.0.1:$cp"
  done
  for ((i = 0; i < 100; i++)); do "$kvb" ping --endpoints "$endpoints" >/dev/null 2>&1 && return 0; sleep 0.3; done
  echo "members did not start; see $out/logs" >&2; exit 1
}

: >"$out/results.jsonl"
for entry in "sync 1" "quorum 1" "async 1" "sync 3" "quorum 3"; do
  read -r mode size <<<"$entry"
  for load in "c1|--conns 1 --clients 1 --total $c1_ops" "c1000|--conns 100 --clients 1000 --total $cn_ops"; do
    label="$mode-m$size-put-${load%%|*}"
    log "$label"
    start_members "$mode" "$size"
    # shellcheck disable=SC2086
    "$kvb" put --endpoints "$endpoints" --seq-keys --key-size 8 --val-size 256 ${load#*|} --duration 60s --server-pid "${pids[0]}" --label "$label" \
      | grep '^{"kvbench"' >>"$out/results.jsonl"
    stop_members
  done
done

node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const base = new Map(lines.filter((r) => r.label.startsWith("sync-")).map((r) => [r.label.replace(/^sync-/, ""), r.ops_per_s]));
console.log("| entry | ops/s | p50 ms | p99 ms | errors | vs sync |");
console.log("|---|---|---|---|---|---|");
for (const r of lines) {
  const b = base.get(r.label.replace(/^[a-z]+-/, ""));
  console.log(`| ${r.label} | ${r.ops_per_s.toFixed(0)} | ${r.lat_ms.p50.toFixed(2)} | ${r.lat_ms.p99.toFixed(2)} | ${r.errors} | ${b ? (r.ops_per_s / b).toFixed(2) + "x" : ""} |`);
}' "$out/results.jsonl" | tee "$out/durability.md"
echo "results: $out" >&2
