#!/usr/bin/env bash
# 3-member Lattice vs 3-member etcd 3.4 under the kvbench put/get/txn-put entries of the single-member
# suite (bench/run.sh); writes a table of ops/s, server CPU per op and fsyncs per write, with the
# Lattice/etcd ratios.
#
# Usage: bash bench/cluster.sh
# Env:
#   SMOKE=1      tiny op counts and a 5 s cap (checks the script, numbers meaningless)
#   C1_OPS       ops of the 1-client entries           (default 5000)
#   CN_OPS       ops of the 1000-client and txn entries (default 10000)
#   DURATION     cap per entry (default 30s)
#   WARM_OPS     before each measured run, this many unmeasured 1-client puts under another prefix
#                on the same fresh cluster, for both servers (default 0: none). A fresh Node server
#                runs its first thousands of calls in V8's interpreter and baseline tiers; this
#                measures the steady state a long-running member is in.
#   ONLY         regex on entry labels (default: all)
#   SERVERS      which clusters, in order (default "etcd lattice")
#   ENGINE       Lattice storage engine (default rocksdb)
#   FSYNC=0      skip the Lattice fsync pass (default: run it when strace is installed)
#   OUT_DIR      output dir (default bench/results/<UTC time>-cluster[-smoke])
#   BUILD=0      skip `tsc -p tsconfig.json`
#   KVBENCH      a built kvbench binary (default: build one into a temp dir)
#   BENCH_LATTICE_BIN  the Lattice entry script (default <repo>/bin/lattice.js)
#
# Every entry gets a freshly started cluster (three members, static bootstrap with etcd's standard
# flags, fresh temp data dirs, free loopback ports). The script waits until every member answers a
# linearizable Get, then runs kvbench with --endpoints = all three client URLs (clientv3 round-robins
# the calls of each connection over the members).
# Server CPU is the sum of utime+stime (/proc/<pid>/stat) of the three member processes, read right
# before and after the kvbench run (so it includes kvbench's connect and the entry's tiny setup).
# fsyncs: etcd's are scraped from every member's /metrics (etcd_disk_wal_fsync_duration_seconds_count
# and etcd_disk_backend_commit_duration_seconds_count) before and after the entry. Lattice has no such
# counters; the write entries are run a second time on a fresh cluster with
# `strace -f -c -e trace=fdatasync,fsync` attached to each member (strace slows the servers, so that
# pass counts fsyncs only; its throughput and CPU are not used).
# Output: $OUT_DIR/results.jsonl (kvbench JSON lines + "server" field), $OUT_DIR/entries.tsv,
#         $OUT_DIR/logs/, $OUT_DIR/cluster.md (also printed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="$(cd "$repo/../shared/bench" 2>/dev/null && pwd)" || { echo "cluster.sh: ../shared/bench not found next to $repo" >&2; exit 1; }

smoke="${SMOKE:-0}"
c1_ops="${C1_OPS:-5000}"
warm_ops="${WARM_OPS:-0}"
cn_ops="${CN_OPS:-10000}"
dur="${DURATION:-30s}"
if [[ "$smoke" == 1 ]]; then c1_ops="${C1_OPS:-100}"; cn_ops="${CN_OPS:-1000}"; dur="${DURATION:-5s}"; fi
only="${ONLY:-.}"
servers="${SERVERS:-etcd lattice}"
engine="${ENGINE:-rocksdb}"
fsync_pass="${FSYNC:-1}"
command -v strace >/dev/null 2>&1 || fsync_pass=0
lattice_bin="${BENCH_LATTICE_BIN:-$repo/bin/lattice.js}"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
suffix=""; [[ "$smoke" == 1 ]] && suffix="-smoke"
out="${OUT_DIR:-$here/results/$stamp-cluster$suffix}"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"

log() { echo "[cluster.sh $(date -u +%H:%M:%S)] $*" >&2; }

# label | write entry (1/0) | kvbench arguments — the same flags as the shared suite's entries
entries=(
  "put-seq-k8-c1|1|put --seq-keys --key-size 8 --val-size 256 --conns 1 --clients 1 --total $c1_ops"
  "put-rand-k8-c1000|1|put --key-size 8 --val-size 256 --conns 100 --clients 1000 --total $cn_ops"
  "get-l-c1|0|range --consistency l --conns 1 --clients 1 --total $c1_ops"
  "get-s-c1|0|range --consistency s --conns 1 --clients 1 --total $c1_ops"
  "get-l-c1000|0|range --consistency l --conns 100 --clients 1000 --total $cn_ops"
  "get-s-c1000|0|range --consistency s --conns 100 --clients 1000 --total $cn_ops"
  "txn-put-c100|1|txn-put --key-size 8 --conns 10 --clients 100 --total $cn_ops"
)

# ---- build ----
if [[ "${BUILD:-1}" == 1 && -z "${BENCH_LATTICE_BIN:-}" ]]; then
  log "building Lattice (tsc -p tsconfig.json)"
  (cd "$repo" && npx tsc -p tsconfig.json)
fi
kvb="${KVBENCH:-}"
kvb_tmp=""
if [[ -z "$kvb" ]]; then
  etcd_src="$(dpkg -L golang-etcd-server-dev 2>/dev/null | grep -m1 'go.etcd.io/etcd$' || true)"
  [[ -n "$etcd_src" ]] || { echo "cluster.sh: golang-etcd-server-dev not installed; set KVBENCH" >&2; exit 1; }
  kvb_tmp="$(mktemp -d -t kvbench-bin.XXXXXX)"
  log "building kvbench"
  (cd "$shared/kvbench" && GOPATH="${etcd_src%/src/go.etcd.io/etcd}" GO111MODULE=off go build -o "$kvb_tmp/kvbench" .)
  kvb="$kvb_tmp/kvbench"
fi

free_ports() { # $1 free loopback ports, all held open at once so they are distinct
  node -e '
    const net = require("node:net"); const n = Number(process.argv[1]); const socks = [];
    const next = () => { if (socks.length === n) { console.log(socks.map((s) => s.address().port).join(" "));
      for (const s of socks) s.close(); return; }
      const s = net.createServer(); s.listen(0, "127.0.0.1", () => { socks.push(s); next(); }); };
    next();' "$1"
}

cpu_ticks() { # utime+stime of one pid, in clock ticks (0 if gone)
  awk '{sub(/.*\) /,""); print $12+$13}' "/proc/$1/stat" 2>/dev/null || echo 0
}

etcd_fsyncs() { # "<wal fsyncs> <backend commits>" summed over client URLs $@ (empty fields if none)
  local ep sum_w=0 sum_b=0 got=0 m
  for ep in "$@"; do
    m="$(curl -s --max-time 2 "$ep/metrics" 2>/dev/null || true)"
    [[ -n "$m" ]] || continue
    if grep -q '^etcd_disk_wal_fsync_duration_seconds_count' <<<"$m"; then
      got=1
      sum_w=$((sum_w + $(awk '/^etcd_disk_wal_fsync_duration_seconds_count/{print int($2)}' <<<"$m")))
      sum_b=$((sum_b + $(awk '/^etcd_disk_backend_commit_duration_seconds_count/{print int($2)}' <<<"$m")))
    fi
  done
  [[ "$got" == 1 ]] && echo "$sum_w $sum_b" || echo " "
}

# ---- cluster lifecycle ----
pids=()
names=(m0 m1 m2)
client_urls=()
data_root=""
stracers=()
stop_cluster() {
  local p
  for p in "${stracers[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${stracers[@]}"; do wait "$p" 2>/dev/null || true; done
  stracers=()
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
  if [[ -n "$data_root" ]]; then rm -rf "$data_root"; fi
  data_root=""
  return 0
}
cleanup_all() { stop_cluster; [[ -n "$kvb_tmp" ]] && rm -rf "$kvb_tmp"; return 0; }
trap cleanup_all EXIT
trap 'exit 130' INT TERM

start_cluster() { # $1 = etcd|lattice, $2 = log prefix; sets pids, client_urls; returns 1 if not serving
  local kind="$1" lp="$2" ports i cluster="" peer client cmd
  read -r -a ports <<<"$(free_ports 6)"
  data_root="$(mktemp -d -t kvbench-cluster.XXXXXX)"
  client_urls=()
  for i in 0 1 2; do cluster+="${cluster:+,}${names[$i]}=http://127.0.0.1:${ports[$((2 * i + 1))]}"; done
  for i in 0 1 2; do
    client="http://127.0.0.1:${ports[$((2 * i))]}"
    peer="http://127.0.0.1:${ports[$((2 * i + 1))]}"
    client_urls+=("$client")
    local flags=(--name "${names[$i]}" --data-dir "$data_root/${names[$i]}"
      --listen-client-urls "$client" --advertise-client-urls "$client"
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer"
      --initial-cluster "$cluster" --initial-cluster-token "kvb-$kind-$$" --initial-cluster-state new)
    if [[ "$kind" == etcd ]]; then
      etcd "${flags[@]}" >"$lp-${names[$i]}.log" 2>&1 &
    else
      node "$lattice_bin" "${flags[@]}" --engine "$engine" >"$lp-${names[$i]}.log" 2>&1 &
    fi
    pids+=($!)
  done
  # serving = every member answers a linearizable Get (needs a leader and a working read index)
  local t0 ok
  t0=$(date +%s)
  while (( $(date +%s) - t0 < 60 )); do
    ok=0
    for i in 0 1 2; do
      kill -0 "${pids[$i]}" 2>/dev/null || { log "   member ${names[$i]} exited; see $lp-${names[$i]}.log"; return 1; }
      ETCDCTL_API=3 etcdctl --endpoints "${client_urls[$i]}" --dial-timeout 1s --command-timeout 2s \
        get kvb/ready >/dev/null 2>&1 && ok=$((ok + 1))
    done
    [[ "$ok" == 3 ]] && return 0
    sleep 0.3
  done
  log "   cluster not serving after 60 s"
  return 1
}

eps_csv() { local u s=""; for u in "${client_urls[@]}"; do s+="${s:+,}${u#http://}"; done; echo "$s"; }

printf 'server\tlabel\tcpu_ticks\tcpu_ticks_m0\tcpu_ticks_m1\tcpu_ticks_m2\twal_fsyncs\tbackend_commits\tstrace_fsyncs\tloadavg_before\tloadavg_after\tmachine_busy_pct\n' >"$out/entries.tsv"

machine_jiffies() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; t=b+$5+$6; print b, t}' /proc/stat; }

run_entry() { # $1 server, $2 label, $3 kvbench args, $4 mode: measure|strace
  local srv="$1" label="$2" args="$3" mode="$4" lp i
  lp="$out/logs/$srv-$label"
  if [[ "$mode" == strace ]]; then lp+="-strace"; fi
  log "== $srv $label ($mode)"
  if ! start_cluster "$srv" "$lp"; then stop_cluster; return 0; fi
  local eps; eps="$(eps_csv)"
  local -a c0=() c1=()
  local f0 f1 la0 la1 mj0 mj1 st_total=""
  if [[ "$mode" == strace ]]; then
    for i in 0 1 2; do
      strace -f -c -e trace=fdatasync,fsync -o "$lp-${names[$i]}.strace" -p "${pids[$i]}" 2>/dev/null &
      stracers+=($!)
    done
    sleep 1
  fi
  if (( warm_ops > 0 )); then
    # shellcheck disable=SC2086
    timeout 300 "$kvb" put --seq-keys --key-size 8 --val-size 256 --conns 1 --clients 1 --total "$warm_ops" \
      --prefix w/ --endpoints "$eps" >"$lp.warm.txt" 2>&1 || log "   warm-up FAILED (see $lp.warm.txt)"
  fi
  f0="$(etcd_fsyncs "${client_urls[@]}")"
  la0="$(cut -d' ' -f1-3 /proc/loadavg)"
  mj0="$(machine_jiffies)"
  for i in 0 1 2; do c0+=("$(cpu_ticks "${pids[$i]}")"); done
  # shellcheck disable=SC2086
  if ! timeout 300 "$kvb" $args --duration "$dur" --endpoints "$eps" --label "$label" \
        >"$lp.txt" 2>"$lp.err"; then
    log "   kvbench FAILED (see $lp.err)"
  fi
  for i in 0 1 2; do c1+=("$(cpu_ticks "${pids[$i]}")"); done
  mj1="$(machine_jiffies)"
  la1="$(cut -d' ' -f1-3 /proc/loadavg)"
  f1="$(etcd_fsyncs "${client_urls[@]}")"
  for i in 0 1 2; do kill -0 "${pids[$i]}" 2>/dev/null || log "   member ${names[$i]} DIED during the entry"; done
  if [[ "$mode" == strace ]]; then
    for i in "${stracers[@]}"; do kill -INT "$i" 2>/dev/null || true; done
    for i in "${stracers[@]}"; do wait "$i" 2>/dev/null || true; done
    stracers=()
    st_total=0
    for i in 0 1 2; do
      st_total=$((st_total + $(awk '$NF=="fsync"||$NF=="fdatasync"{n+=($4 ~ /^[0-9]+$/ ? $4 : 0)} END{print n+0}' "$lp-${names[$i]}.strace" 2>/dev/null || echo 0)))
    done
  fi
  stop_cluster
  local d=() tot=0
  for i in 0 1 2; do d+=($((c1[i] - c0[i]))); tot=$((tot + c1[i] - c0[i])); done
  local wal="" bc=""
  if [[ -n "${f0// /}" && -n "${f1// /}" ]]; then
    read -r w0 b0 <<<"$f0"; read -r w1 b1 <<<"$f1"
    wal=$((w1 - w0)); bc=$((b1 - b0))
  fi
  local busy
  busy="$(awk -v a="$mj0" -v b="$mj1" 'BEGIN{split(a,x," "); split(b,y," "); dt=y[2]-x[2]; if (dt>0) printf "%.0f", 200*(y[1]-x[1])/dt}')"
  local srvtag="$srv"
  if [[ "$mode" == strace ]]; then srvtag="$srv-strace"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srvtag" "$label" "$tot" "${d[0]}" "${d[1]}" "${d[2]}" \
    "$wal" "$bc" "$st_total" "$la0" "$la1" "$busy" >>"$out/entries.tsv"
  grep '^{"kvbench"' "$lp.txt" | sed "s/^{/{\"server\":\"$srvtag\",/" >>"$out/results.jsonl" || true
  log "   $(grep -m1 -iE 'ops/s|throughput' "$lp.txt" || tail -1 "$lp.txt")  cpu=${tot} ticks  load=${la1}"
}

{ echo "command: C1_OPS=$c1_ops CN_OPS=$cn_ops WARM_OPS=$warm_ops DURATION=$dur ENGINE=$engine FSYNC=$fsync_pass ONLY='$only' SERVERS='$servers' bash bench/cluster.sh"
  echo "started: $stamp"; echo "lattice: $(cd "$repo" && git rev-parse HEAD 2>/dev/null || echo '?')"
  echo "etcd: $(etcd --version 2>/dev/null | head -1)"; echo "nproc: $(nproc)"; } >"$out/command.txt"
log "output: $out   (entries: C1_OPS=$c1_ops CN_OPS=$cn_ops DURATION=$dur)"
: >"$out/results.jsonl"
for srv in $servers; do
  for e in "${entries[@]}"; do
    IFS='|' read -r label write args <<<"$e"
    [[ "$label" =~ $only ]] || continue
    run_entry "$srv" "$label" "$args" measure
  done
done
if [[ "$fsync_pass" == 1 && " $servers " == *" lattice "* ]]; then
  for e in "${entries[@]}"; do
    IFS='|' read -r label write args <<<"$e"
    [[ "$label" =~ $only && "$write" == 1 ]] || continue
    run_entry lattice "$label" "$args" strace
  done
fi

lattice_rev="$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$repo" && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo '+dirty' || true)"
node "$here/cluster-table.mjs" "$out" "Lattice $lattice_rev (--engine $engine), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/{print $3}'), C1_OPS=$c1_ops CN_OPS=$cn_ops WARM_OPS=$warm_ops DURATION=$dur, $(nproc) cores, $stamp" \
  >"$out/cluster.md"
cat "$out/cluster.md"
log "done: $out"
