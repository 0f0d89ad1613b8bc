#!/usr/bin/env bash
# Auth overhead: kvbench put, get and a 100-key prefix range against Lattice and real etcd 3.4, each without auth and with
# auth enabled (a user holding readwrite on the prefix kvb/, where the load and kvbench's ping key are); prints a markdown table of
# ops/s, p99 and the auth/no-auth ratio per server.
#
# kvbench (../shared/bench) has no user/password flags, so this builds a copy whose clientv3.Config
# takes Username/Password from KVB_USER/KVB_PASSWORD (a one-line change; otherwise the same program).
#
# Usage: bash bench/auth.sh        Env: TOTAL (ops per entry, default 20000), CLIENTS (default 50),
#        ENGINE (Lattice engine, default rocksdb), BUILD=0 to skip tsc, REPEAT (default 1: rounds of
#        the four servers, alternating; the table shows each figure's median over the rounds).
#        SERVERS (default "etcd lattice").
# Besides ops/s and p99, it reports the server's CPU per 1,000 ops (utime+stime of the server
# process, read by kvbench), the steadier figure on a shared machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="$(cd "$repo/../shared/bench" && pwd)"
total="${TOTAL:-20000}"
clients="${CLIENTS:-50}"
engine="${ENGINE:-rocksdb}"
work="$(mktemp -d -t auth-bench.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ "${BUILD:-1}" == 1 ]]; then (cd "$repo" && npx tsc -p tsconfig.json); fi
etcd_src="$(dpkg -L golang-etcd-server-dev | awk '/go.etcd.io\/etcd$/ && !found { print; found = 1 }')"
cp -r "$shared/kvbench" "$work/kvbench"
sed -i 's|LogConfig: &lc})|LogConfig: \&lc, Username: os.Getenv("KVB_USER"), Password: os.Getenv("KVB_PASSWORD")})|' "$work/kvbench/main.go"
grep -q 'KVB_USER' "$work/kvbench/main.go" || { echo "auth.sh: could not patch kvbench" >&2; exit 1; }
(cd "$work/kvbench" && GOPATH="${etcd_src%/src/go.etcd.io/etcd}" GO111MODULE=off go build -o "$work/kvb" .)

port=42479
start_server() { # $1 = etcd | lattice
  rm -rf "$work/data"
  local urls=(--listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port"
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))"
    --initial-cluster "default=http://127.0.0.1:$((port + 1))" --name default --data-dir "$work/data")
  if [[ "$1" == etcd ]]; then etcd "${urls[@]}" >"$work/server.log" 2>&1 &
  else node "$repo/bin/lattice.js" "${urls[@]}" --engine "$engine" >"$work/server.log" 2>&1 &
  fi
  server_pid=$!
  "$work/kvb" ping --endpoints "127.0.0.1:$port" >/dev/null 2>&1 || { sleep 2; "$work/kvb" ping --endpoints "127.0.0.1:$port" >/dev/null; }
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
# Both variants get the same users, roles and warm-up calls; only the last step, `auth enable`, differs.
setup_auth() { # $1 = on | off
  local e=(etcdctl --endpoints "127.0.0.1:$port")
  "${e[@]}" user add root:rootpw >/dev/null && "${e[@]}" role add root >/dev/null && "${e[@]}" user grant-role root root >/dev/null
  "${e[@]}" role add bench >/dev/null && "${e[@]}" role grant-permission bench readwrite kvb/ --prefix >/dev/null
  "${e[@]}" user add bench:benchpw >/dev/null && "${e[@]}" user grant-role bench bench >/dev/null
  if [[ "$1" == on ]]; then "${e[@]}" auth enable >/dev/null; fi
}
result() { # kvbench args... → "ops_per_s p99 server_cpu_ms_per_op"
  "$work/kvb" "$@" --endpoints "127.0.0.1:$port" --server-pid "$server_pid" 2>/dev/null | grep '^{"kvbench"' | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const r = JSON.parse(s.trim().split("\n").pop());
      if (r.errors > 0) console.error(`(${r.errors} errors)`);
      console.log(`${Math.round(r.ops_per_s)} ${r.lat_ms.p99.toFixed(2)} ${((1000 * r.server_cpu_s) / r.ops).toFixed(4)}`); });'
}

declare -A out
repeat="${REPEAT:-1}"
for ((round = 1; round <= repeat; round++)); do
  for server in ${SERVERS:-etcd lattice}; do
    # the order flips every round: a fixed order measured the second variant cheaper on both servers
    modes="off on"; (( round % 2 == 0 )) && modes="on off"
    for mode in $modes; do
      start_server "$server"
      setup_auth "$mode"
      if [[ "$mode" == on ]]; then export KVB_USER=bench KVB_PASSWORD=benchpw; else unset KVB_USER KVB_PASSWORD; fi
      out[$server-$mode-put]+="$(result put --prefix kvb/b/ --key-size 24 --clients "$clients" --conns 4 --total "$total");"
      out[$server-$mode-get]+="$(result range --key kvb/b/one --consistency l --clients "$clients" --conns 4 --total "$total");"
      out[$server-$mode-range100]+="$(result range --prefix kvb/r/ --prefix-keys 100 --consistency s --clients "$clients" --conns 4 --total "$((total / 4))");"
      stop_server
    done
  done
done
unset KVB_USER KVB_PASSWORD

# "a b c;a b c;..." → the median of each column
median() { node -e '
  const rows = process.argv[1].split(";").filter(Boolean).map((r) => r.trim().split(/\s+/).map(Number));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  console.log(rows[0].map((_, i) => Number(med(rows.map((r) => r[i])).toPrecision(4))).join(" "));' "$1"; }
ratio() { node -e "console.log((Number(process.argv[1]) / Number(process.argv[2])).toFixed(2))" "$1" "$2"; }
echo "| server | workload | ops/s no auth | ops/s auth | auth / no auth | p99 ms no auth | p99 ms auth | CPU ms/op no auth | CPU ms/op auth | CPU auth / no auth |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for server in ${SERVERS:-etcd lattice}; do
  for w in put get range100; do
    read -r a ap ac <<<"$(median "${out[$server-off-$w]}")"
    read -r b bp bc <<<"$(median "${out[$server-on-$w]}")"
    ops=$total; [[ "$w" == range100 ]] && ops=$((total / 4))
    echo "| $server | $w ($clients clients, $ops ops, median of $repeat) | $a | $b | $(ratio "$b" "$a") | $ap | $bp | $ac | $bc | $(ratio "$bc" "$ac") |"
  done
done
