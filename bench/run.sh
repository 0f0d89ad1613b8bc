#!/usr/bin/env bash
# Lattice vs real etcd 3.4 under the same kvbench workloads; writes a table of Lattice/etcd ratios.
#
# Usage: bash bench/run.sh            (or: npm run bench)
# Env:
#   ENGINE       Lattice storage engine: rocksdb (default) | memory
#   PLACEMENT    Lattice actor placement: main (default) | worker
#   QUICK=1      the shared suite's `quick` mode (op counts / 10) and a 10k-key large range
#   REPEAT       run each suite this many times (default 1); ratios use the median per entry
#   ONLY         regex on entry labels (default: the entries listed in $default_only below,
#                plus the large-range entry range-all-*)
#   OUT_DIR      output dir (default bench/results/<UTC time>-<engine>-<placement>[-quick])
#   REUSE_ETCD   reuse an etcd output dir of an earlier run instead of running etcd again
#   BENCH_LATTICE_BIN  the Lattice entry script (default <repo>/bin/lattice.js, built first); point it
#                at a copy of bin/ + dist/ to bench a frozen build while the tree is being edited
#   BENCH_LATTICE_ARGS extra Lattice flags, e.g. "--shards 4"
#                (not LATTICE_*: Lattice, like etcd with ETCD_*, warns about unknown LATTICE_* variables)
#   BUILD=0      skip `tsc -p tsconfig.json` before the run (default: build)
#   KVBENCH      a built kvbench binary (default: build it once into a temp dir)
#   LARGE_RANGE_KEYS  keys in the large-range memory entry (default 100000, QUICK 10000)
#   HTTP_GATEWAY=1  also the suite's JSON gateway entries (autocannon: AUTOCANNON, else one on PATH,
#                else the repo's node_modules/.bin/autocannon); they are not in the default ONLY,
#                so name them, e.g. ONLY='^http-(put|range)-c50$'
#
# Each entry gets a freshly started server with an empty data dir (the shared suite runner
# ../shared/bench/bench.sh does that and records server CPU / RSS). The HTTP gateway entries
# run only with HTTP_GATEWAY=1 (bench/api-http.mjs is the fuller HTTP comparison). Output:
#   $OUT_DIR/etcd/ and $OUT_DIR/lattice/  (RESULTS.md, results.jsonl, servers.tsv, logs/)
#   $OUT_DIR/ratios.md                   (also printed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="$(cd "$repo/../shared/bench" 2>/dev/null && pwd)" || { echo "run.sh: ../shared/bench not found next to $repo" >&2; exit 1; }
suite_sh="$shared/bench.sh"
[[ -x "$suite_sh" || -r "$suite_sh" ]] || { echo "run.sh: $suite_sh missing" >&2; exit 1; }

engine="${ENGINE:-rocksdb}"
placement="${PLACEMENT:-main}"
quick="${QUICK:-0}"
repeat="${REPEAT:-1}"
http_gateway="${HTTP_GATEWAY:-0}"
# bench.sh skips its HTTP entries when it finds no autocannon: without one on PATH, the repo's own
if [[ -z "${AUTOCANNON:-}" ]] && ! command -v autocannon >/dev/null && [[ -x "$repo/node_modules/.bin/autocannon" ]]; then export AUTOCANNON="$repo/node_modules/.bin/autocannon"; fi
case "$engine" in memory|rocksdb) ;; *) echo "run.sh: ENGINE must be memory or rocksdb" >&2; exit 2 ;; esac
case "$placement" in main|worker) ;; *) echo "run.sh: PLACEMENT must be main or worker" >&2; exit 2 ;; esac

suite=standard
large_keys="${LARGE_RANGE_KEYS:-100000}"
if [[ "$quick" == 1 ]]; then suite=quick; large_keys="${LARGE_RANGE_KEYS:-10000}"; fi
large_label="range-all-$((large_keys / 1000))k-s"

# The required workloads of the shared suite (anchored: get-l-c1 must not match get-l-c1000).
default_only="^(put-seq-k8-c1|put-rand-k8-c1000|get-[ls]-c1|get-[ls]-c1000|range100-s-c100|range1000-s-c100|txn-put-c100|${large_label})\$"
only="${ONLY:-$default_only}"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${OUT_DIR:-$here/results/$stamp-$engine-$placement$([[ "$quick" == 1 ]] && echo -quick)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
lattice_bin="${BENCH_LATTICE_BIN:-$repo/bin/lattice.js}"

free_port() { # a port the kernel considers free right now, and the next one too (peer port)
  node -e '
    const net = require("node:net");
    const tryPort = () => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => {
      const p = s.address().port; s.close(() => { const t = net.createServer();
        t.once("error", tryPort); t.listen(p + 1, "127.0.0.1", () => t.close(() => console.log(p))); }); }); };
    tryPort();'
}

log() { echo "[run.sh $(date -u +%H:%M:%S)] $*" >&2; }

# ---- build ----
if [[ "${BUILD:-1}" == 1 && -z "${BENCH_LATTICE_BIN:-}" ]]; then
  log "building Lattice (tsc -p tsconfig.json)"
  (cd "$repo" && npx tsc -p tsconfig.json) || { echo "run.sh: build failed (BUILD=0 to bench the existing dist/)" >&2; exit 1; }
fi

kvb="${KVBENCH:-}"
kvb_tmp=""
if [[ -z "$kvb" ]]; then
  etcd_src="$(dpkg -L golang-etcd-server-dev 2>/dev/null | grep -m1 'go.etcd.io/etcd$' || true)"
  [[ -n "$etcd_src" ]] || { echo "run.sh: golang-etcd-server-dev not installed; set KVBENCH" >&2; exit 1; }
  kvb_tmp="$(mktemp -d -t kvbench-bin.XXXXXX)"
  log "building kvbench"
  (cd "$shared/kvbench" && GOPATH="${etcd_src%/src/go.etcd.io/etcd}" GO111MODULE=off go build -o "$kvb_tmp/kvbench" .)
  kvb="$kvb_tmp/kvbench"
fi

# ---- large-range memory entry (not in the shared suite) ----
# Same conventions as bench.sh: fresh server + data dir, kvbench JSON line → results.jsonl, lifetime
# CPU / RSS / VmHWM → servers.tsv. kvbench populates $large_keys keys (64 clients, not measured), then
# 2 clients range over all of them 6 times in total. rss.log samples VmRSS/VmHWM every 0.25 s, so the
# peak before the ranges (populate) can be told apart from the peak during them.
lr_pid=""
lr_dir=""
lr_sampler=""
lr_cleanup() {
  [[ -n "$lr_sampler" ]] && { kill "$lr_sampler" 2>/dev/null || true; wait "$lr_sampler" 2>/dev/null || true; }
  lr_sampler=""
  if [[ -n "$lr_pid" ]] && kill -0 "$lr_pid" 2>/dev/null; then
    kill "$lr_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$lr_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$lr_pid" 2>/dev/null || true
  fi
  [[ -n "$lr_pid" ]] && { wait "$lr_pid" 2>/dev/null || true; }
  lr_pid=""
  [[ -n "$lr_dir" ]] && rm -rf "$lr_dir"
  lr_dir=""
}
cleanup_all() { lr_cleanup; [[ -n "$kvb_tmp" ]] && rm -rf "$kvb_tmp"; return 0; }
trap cleanup_all EXIT
trap 'exit 130' INT TERM

large_range() { # $1 = output dir, $2 = server command (bench.sh SERVER_CMD convention; empty = etcd)
  local dir="$1" cmd="$2" label="$large_label" port ep
  [[ "$label" =~ $only ]] || return 0
  mkdir -p "$dir/logs"
  port="$(free_port)"
  ep="127.0.0.1:$port"
  lr_dir="$(mktemp -d -t kvbench-data.XXXXXX)"
  export KVB_PORT="$port" KVB_PEER_PORT="$((port + 1))" KVB_DATA_DIR="$lr_dir/data"
  [[ -n "$cmd" ]] || cmd='etcd --name kvb --data-dir "$KVB_DATA_DIR" --listen-client-urls "http://127.0.0.1:$KVB_PORT" --advertise-client-urls "http://127.0.0.1:$KVB_PORT" --listen-peer-urls "http://127.0.0.1:$KVB_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$KVB_PEER_PORT" --initial-cluster "kvb=http://127.0.0.1:$KVB_PEER_PORT"'
  log "== $label ($large_keys keys) on $ep"
  bash -c "exec $cmd" >"$dir/logs/server-$label.log" 2>&1 &
  lr_pid=$!
  local up=0
  for _ in $(seq 1 60); do
    kill -0 "$lr_pid" 2>/dev/null || break
    if "$kvb" ping --endpoints "$ep" --dial-timeout 1s >/dev/null 2>&1; then up=1; break; fi
    sleep 0.5
  done
  if [[ "$up" != 1 ]]; then
    log "   server did not come up; see $dir/logs/server-$label.log"
    lr_cleanup; return 0
  fi
  ( while [[ -r "/proc/$lr_pid/status" ]]; do
      printf '%s %s\n' "$(date +%s.%N)" "$(awk '/^VmRSS|^VmHWM/{printf "%s=%.1f ", $1, $2/1024}' "/proc/$lr_pid/status" 2>/dev/null)"
      sleep 0.25
    done ) >"$dir/logs/$label.rss.log" 2>/dev/null &
  lr_sampler=$!
  if ! timeout 600 "$kvb" range --prefix-keys "$large_keys" --consistency s --conns 2 --clients 2 --total 6 \
        --duration 120s --op-timeout 60s --endpoints "$ep" --server-pid "$lr_pid" --label "$label" \
        >"$dir/logs/$label.txt" 2>"$dir/logs/$label.err"; then
    log "   FAILED (see $dir/logs/$label.err)"
  fi
  date +%s.%N >"$dir/logs/$label.end"
  grep '^{"kvbench"' "$dir/logs/$label.txt" >>"$dir/results.jsonl" || true
  local cpu rss hwm
  cpu="$(awk '{sub(/.*\) /,""); printf "%.2f", ($12+$13)/100}' "/proc/$lr_pid/stat" 2>/dev/null || true)"
  rss="$(awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$lr_pid/status" 2>/dev/null || true)"
  hwm="$(awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$lr_pid/status" 2>/dev/null || true)"
  printf '%s\t%s\t%s\t%s\t\t\t\t\n' "$label" "$cpu" "$rss" "$hwm" >>"$dir/servers.tsv"
  lr_cleanup
}

# Peak RSS before the measured ranges (i.e. after populating) vs at the end, from rss.log + the
# kvbench elapsed time. Printed under the ratio table.
large_range_summary() { # $1 = who, $2 = dir
  local dir="$2" label="$large_label"
  [[ -r "$dir/logs/$label.rss.log" && -r "$dir/logs/$label.end" ]] || return 0
  local elapsed
  elapsed="$(grep -o '"elapsed_s":[0-9.]*' "$dir/logs/$label.txt" 2>/dev/null | cut -d: -f2 || true)"
  local final
  final="$(awk -F'\t' -v l="$label" '$1 == l {h = $4} END {print h}' "$dir/servers.tsv" 2>/dev/null || true)"
  awk -v who="$1" -v keys="$large_keys" -v end="$(cat "$dir/logs/$label.end")" -v el="${elapsed:-0}" -v final="$final" '
    { t = $1; for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "VmHWM:") h = kv[2] }
      if (t < end - el) { before = h } last = h }
    END { if (final != "") last = final
          printf "| %s | %s | %s | %s |\n", who, keys, (before == "" ? "–" : before), (last == "" ? "–" : last) }' \
    "$dir/logs/$label.rss.log"
}

run_suite() { # $1 = who (etcd|lattice), $2 = server command ("" = etcd)
  local who="$1" cmd="$2" dir="$out/$1" port rc=0
  mkdir -p "$dir"
  port="$(free_port)"
  log "suite against $who on 127.0.0.1:$port → $dir"
  if [[ -n "$cmd" ]]; then
    SERVER_CMD="$cmd" SERVER_LABEL="$3" PORT="$port" PEER_PORT="$((port + 1))" OUT_DIR="$dir" KVBENCH="$kvb" \
      HTTP_GATEWAY="$http_gateway" REPEAT="$repeat" ONLY="$only" bash "$suite_sh" "$suite" || rc=$?
  else
    PORT="$port" PEER_PORT="$((port + 1))" OUT_DIR="$dir" KVBENCH="$kvb" \
      HTTP_GATEWAY="$http_gateway" REPEAT="$repeat" ONLY="$only" bash "$suite_sh" "$suite" || rc=$?
  fi
  # bench.sh stops at the first server that does not start; keep going so the rest is reported
  [[ "$rc" == 0 ]] || log "bench.sh against $who exited $rc (a server failed to start?); see $dir/logs/"
  for _ in $(seq 1 "$repeat"); do large_range "$dir" "$cmd"; done
}

t0=$(date +%s)
q() { printf '%q' "$1"; }
lattice_cmd="node $(q "$lattice_bin") --name default --data-dir \"\$KVB_DATA_DIR\" --listen-client-urls \"http://127.0.0.1:\$KVB_PORT\" --advertise-client-urls \"http://127.0.0.1:\$KVB_PORT\" --listen-peer-urls \"http://127.0.0.1:\$KVB_PEER_PORT\" --initial-advertise-peer-urls \"http://127.0.0.1:\$KVB_PEER_PORT\" --initial-cluster \"default=http://127.0.0.1:\$KVB_PEER_PORT\" --engine $engine --actor-placement $placement ${BENCH_LATTICE_ARGS:-}"

if [[ -n "${REUSE_ETCD:-}" ]]; then
  etcd_dir="$(cd "$REUSE_ETCD" && pwd)"
  log "reusing etcd results from $etcd_dir"
else
  run_suite etcd ""
  etcd_dir="$out/etcd"
fi
run_suite lattice "$lattice_cmd" "lattice (engine=$engine, placement=$placement)"
t1=$(date +%s)

# ---- Lattice errors / crashes: log lines at error level or worse, uncaught exceptions ----
problems=""
for f in "$out"/lattice/logs/server-*.log; do
  [[ -e "$f" ]] || continue
  if grep -qE '"level":"(error|fatal|panic)"|Uncaught|FATAL|Error:|out of memory|heap limit' "$f"; then
    problems+="- \`$(basename "$f")\`: $(grep -cE '"level":"(error|fatal|panic)"|Uncaught|FATAL|Error:|out of memory|heap limit' "$f") error lines; last lines:"$'\n\n```\n'"$(tail -n 8 "$f" | cut -c1-400)"$'\n```\n'
  fi
done

{
  echo "## Lattice vs etcd: ENGINE=$engine PLACEMENT=$placement $([[ "$quick" == 1 ]] && echo '(QUICK)')"
  echo
  cmdline="ENGINE=$engine PLACEMENT=$placement QUICK=$quick REPEAT=$repeat"
  [[ -n "${ONLY:-}" ]] && cmdline+=" ONLY='$ONLY'"
  [[ -n "${BENCH_LATTICE_ARGS:-}" ]] && cmdline+=" BENCH_LATTICE_ARGS='$BENCH_LATTICE_ARGS'"
  [[ -n "${BENCH_LATTICE_BIN:-}" ]] && cmdline+=" BENCH_LATTICE_BIN=$BENCH_LATTICE_BIN"
  [[ -n "${REUSE_ETCD:-}" ]] && cmdline+=" REUSE_ETCD=$REUSE_ETCD"
  echo "- command: \`$cmdline npm run bench\`"
  [[ -n "${REUSE_ETCD:-}" ]] && echo "- etcd figures reused from an earlier run: \`$etcd_dir\` (not measured at the same time as Lattice)"
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r), data dirs on $(df -T "${TMPDIR:-/tmp}" | awk 'NR==2{print $2" ("$1")"}')"
  if [[ -n "${BENCH_LATTICE_BIN:-}" ]]; then lattice_version="build at $BENCH_LATTICE_BIN"
  else lattice_version="$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n "$(cd "$repo" && git status --porcelain 2>/dev/null | head -1)" ]] && echo ' + uncommitted changes')"; fi
  echo "- etcd: $(etcd --version 2>/dev/null | head -1 || echo etcd); Lattice: $lattice_version, node $(node --version)"
  echo "- date $(date -u +%Y-%m-%dT%H:%MZ), wall time $((t1 - t0)) s; raw data: \`$out\`"
  echo
  node "$here/ratios.mjs" --etcd "$etcd_dir" --lattice "$out/lattice" --only "$only"
  if [[ "$large_label" =~ $only ]] && [[ -r "$etcd_dir/logs/$large_label.rss.log" || -r "$out/lattice/logs/$large_label.rss.log" ]]; then
    echo
    echo "Large range ($large_label: populate N keys of 256 B, then 2 clients range over all of them, 6 ranges):"
    echo
    echo "| server | keys | peak RSS MB after populate (before ranges) | peak RSS MB at end (ranges included) |"
    echo "|---|--:|--:|--:|"
    large_range_summary etcd "$etcd_dir"
    large_range_summary Lattice "$out/lattice"
  fi
  if [[ -n "$problems" ]]; then
    echo
    echo "Lattice server logs with errors:"
    echo
    printf '%s' "$problems"
  fi
} >"$out/ratios.md"
cat "$out/ratios.md"
log "wrote $out/ratios.md"

# Records name paths relative to the repository, not this machine's layout.
grep -rlF "$repo/" "$out" --include='*.md' 2>/dev/null | while IFS= read -r f; do sed -i "s#$repo/##g" "$f"; done
