#!/usr/bin/env node
// Generates docs/compatibility.md: every etcd v3 RPC (from proto/) and every etcd flag (from the flag
// specs, as `lattice --help` prints them from the build) as supported / different / not yet, with the
// test files that exercise each RPC (found by scanning test/ for the ways a test calls it).
//
//   node scripts/compat-matrix.mjs           write docs/compatibility.md
//   node scripts/compat-matrix.mjs --check   exit 1 when docs/compatibility.md is not what would be written
//   node scripts/compat-matrix.mjs --stdout  print it instead
//
// Needs dist/ (npm run build): the flag list comes from the compiled src/server/config.js.
// What a generator cannot know (how an implemented RPC or flag differs from etcd) is in the two
// tables `rpcDifferences` and `flagDifferences` below; keep them in step with docs/limitations.md.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const outputPath = join(repoRoot, 'docs', 'compatibility.md');
const protoRoot = join(repoRoot, 'proto', 'etcd');
const grpcAdapterDir = join(repoRoot, 'src', 'adapters', 'grpc');
const testRoot = join(repoRoot, 'test');
const builtConfig = join(repoRoot, 'dist', 'src', 'server', 'config.js');
/** Test sources larger than this are data, not tests (fixtures), and are not scanned. */
const maxScannedFileBytes = 512 * 1024;
const scannedExtensions = ['.ts', '.go', '.json', '.txt', '.mjs', '.js'];

/** Implemented RPCs that answer differently from etcd 3.4 in some case (docs/limitations.md). */
const rpcDifferences = {
  'KV.Range': 'a read at an old revision that overlaps a compaction past it fails with `required revision has been compacted` (etcd may still answer)',
  'KV.Txn': "a delete from a key followed by a put with `ignore_value`/`ignore_lease` of a deleted key answers `key not found` (etcd 3.4 panics)",
  'Watch.Watch': "progress requests are answered once every watcher of the stream caught up (etcd 3.5's behaviour); a stream over 4 MiB unsent catches up from history; with auth, a from-key watch needs read on every key from its start (etcd 3.4 checks only the start key)",
  'Lease.LeaseTimeToLive': 'keys are listed in key order (etcd: map order)',
  'Maintenance.Hash': "a CRC-32C of the engine's content: equal between Lattice members, never equal to etcd's (HashKV is etcd's hash)",
  'Maintenance.Defragment': 'runs while clients carry on (etcd blocks every request while it defragments)',
  'Auth.Authenticate': 'gives up after 5 retries with `revision of auth store is old` (etcd retries without bound)',
  'Lock.Lock': "with auth on, a cancelled lock's waiting key is removed with the caller's permission (etcd's clean-up is refused and the key waits for its lease); a lock taken just as its call was cancelled is released (etcd's stays held until its lease ends)",
  'Election.Campaign': "with auth on, a cancelled campaign's key is removed with the caller's permission (etcd's clean-up is refused and the key waits for its lease); a campaign won just as its call was cancelled resigns (etcd's leader stays until its lease ends)",
  'Election.Observe': 'a caller who may not read the election ends with `permission denied` (etcd ends the stream with no error and no answer)',
};

/** etcd flags Lattice reads differently from etcd 3.4, or refuses ('not yet' overrides the spec). */
const flagDifferences = {
  discovery: { status: 'not yet', note: 'refused at start-up: bootstrap with `--initial-cluster`' },
  'discovery-srv': { status: 'not yet', note: 'refused at start-up: bootstrap with `--initial-cluster`' },
  'pre-vote': { status: 'different', note: "on by default, as in etcd 3.5 (etcd 3.4: off)" },
  proxy: { status: 'different', note: 'only `off`; the v2 proxy is not there' },
  'initial-cluster-token': { status: 'different', note: 'an explicit token that differs from the data dir\'s is refused at restart (etcd ignores it)' },
  logger: { status: 'different', note: '`capnslog` also writes zap-style JSON lines' },
  'host-whitelist': { status: 'different', note: '`/api` checks `Host` even with the default `*` (etcd\'s paths as etcd)' },
  'experimental-enable-lease-checkpoint': { status: 'different', note: 'on by default (etcd: off)' },
  'experimental-lease-checkpoint-interval': { status: 'different', note: "etcd 3.5's flag" },
  'experimental-auto-compaction-revision-check-interval': { status: 'different', note: 'Lattice only (etcd checks every 5 minutes, fixed)' },
  'unsafe-no-fsync': { status: 'different', note: "etcd 3.5's flag" },
  'experimental-snapshot-catchup-entries': { status: 'different', note: "etcd 3.5's flag" },
};

const statusOrder = ['supported', 'different', 'not yet'];
/** The order services are listed in (etcd's rpc.proto first, then the recipes). */
const serviceOrder = ['KV', 'Watch', 'Lease', 'Cluster', 'Maintenance', 'Auth', 'Lock', 'Election'];
const serviceRank = (name) => (serviceOrder.includes(name) ? serviceOrder.indexOf(name) : serviceOrder.length);

// --------------------------------------------------------------------------------------------------
// RPCs from the .proto files

function walk(dir, accept) {
  const out = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...walk(path, accept));
    else if (accept(path)) out.push(path);
  }
  return out;
}

const posixPath = (path) => relative(repoRoot, path).split(sep).join('/');

/** Every `rpc` of every `service` in proto/etcd, in file order, with its JSON gateway path. */
function readRpcs() {
  const rpcs = [];
  for (const file of walk(protoRoot, (p) => p.endsWith('.proto'))) {
    const text = readFileSync(file, 'utf8');
    const pkg = /^package\s+([\w.]+)\s*;/m.exec(text)?.[1] ?? '';
    const servicePattern = /^service\s+(\w+)\s*\{([\s\S]*?)^\}/gm;
    for (const service of text.matchAll(servicePattern)) {
      const rpcPattern = /rpc\s+(\w+)\s*\(\s*(stream\s+)?[\w.]+\s*\)\s*returns\s*\(\s*(stream\s+)?[\w.]+\s*\)\s*(\{[\s\S]*?\n\s*\}|;)/g;
      for (const rpc of service[2].matchAll(rpcPattern)) {
        const gateway = /post:\s*"([^"]+)"/.exec(rpc[4])?.[1] ?? '';
        const kind = rpc[2] && rpc[3] ? 'bidi stream' : rpc[3] ? 'server stream' : rpc[2] ? 'client stream' : 'unary';
        rpcs.push({ pkg, service: service[1], method: rpc[1], kind, gateway, proto: posixPath(file) });
      }
    }
  }
  // stable: methods keep their proto order within a service
  return rpcs.map((r, i) => ({ r, i })).sort((a, b) => serviceRank(a.r.service) - serviceRank(b.r.service) || a.i - b.i).map((x) => x.r);
}

const lowerFirst = (s) => s.charAt(0).toLowerCase() + s.slice(1);
const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Methods with a handler in the gRPC layer: `<Service>Service.<method>` named in src/adapters/grpc. */
function implementedRpcs() {
  const text = walk(grpcAdapterDir, (p) => p.endsWith('.ts')).map((f) => readFileSync(f, 'utf8')).join('\n');
  const found = new Set();
  for (const m of text.matchAll(/\b(\w+)Service\.(\w+)\b/g)) found.add(`${m[1]}.${m[2].toLowerCase()}`);
  return (rpc) => found.has(`${rpc.service}.${rpc.method.toLowerCase()}`);
}

// --------------------------------------------------------------------------------------------------
// Which test files exercise an RPC

// etcdctl 3.4 subcommands that call the RPC (lock/elect use clientv3/concurrency, plain KV, so none here).
const etcdctlCommands = {
  'KV.Range': [['get']], 'KV.Put': [['put']], 'KV.DeleteRange': [['del']], 'KV.Txn': [['txn']], 'KV.Compact': [['compact'], ['compaction']],
  'Watch.Watch': [['watch']],
  'Lease.LeaseGrant': [['lease', 'grant']], 'Lease.LeaseRevoke': [['lease', 'revoke']], 'Lease.LeaseKeepAlive': [['lease', 'keep-alive']],
  'Lease.LeaseTimeToLive': [['lease', 'timetolive']], 'Lease.LeaseLeases': [['lease', 'list']],
  'Cluster.MemberAdd': [['member', 'add']], 'Cluster.MemberRemove': [['member', 'remove']], 'Cluster.MemberUpdate': [['member', 'update']],
  'Cluster.MemberList': [['member', 'list']], 'Cluster.MemberPromote': [['member', 'promote']],
  'Maintenance.Alarm': [['alarm']], 'Maintenance.Status': [['endpoint', 'status']], 'Maintenance.Defragment': [['defrag']],
  'Maintenance.HashKV': [['endpoint', 'hashkv']], 'Maintenance.Snapshot': [['snapshot', 'save']], 'Maintenance.MoveLeader': [['move-leader']],
  'Auth.AuthEnable': [['auth', 'enable']], 'Auth.AuthDisable': [['auth', 'disable']], 'Auth.Authenticate': [['--user']],
  'Auth.UserAdd': [['user', 'add']], 'Auth.UserGet': [['user', 'get']], 'Auth.UserList': [['user', 'list']], 'Auth.UserDelete': [['user', 'delete']],
  'Auth.UserChangePassword': [['user', 'passwd']], 'Auth.UserGrantRole': [['user', 'grant-role']], 'Auth.UserRevokeRole': [['user', 'revoke-role']],
  'Auth.RoleAdd': [['role', 'add']], 'Auth.RoleGet': [['role', 'get']], 'Auth.RoleList': [['role', 'list']], 'Auth.RoleDelete': [['role', 'delete']],
  'Auth.RoleGrantPermission': [['role', 'grant-permission']], 'Auth.RoleRevokePermission': [['role', 'revoke-permission']],
};

// Go clientv3 methods (in .go files) that call the RPC; concurrency's Mutex/Election use KV, not Lock/Election.
const goMethods = {
  'KV.Range': ['Get'], 'KV.Put': ['Put'], 'KV.DeleteRange': ['Delete'], 'KV.Txn': ['Txn'], 'KV.Compact': ['Compact'],
  'Watch.Watch': ['Watch'],
  'Lease.LeaseGrant': ['Grant'], 'Lease.LeaseRevoke': ['Revoke'], 'Lease.LeaseKeepAlive': ['KeepAlive', 'KeepAliveOnce'],
  'Lease.LeaseTimeToLive': ['TimeToLive'], 'Lease.LeaseLeases': ['Leases'],
  'Cluster.MemberAdd': ['MemberAdd', 'MemberAddAsLearner'], 'Cluster.MemberRemove': ['MemberRemove'], 'Cluster.MemberUpdate': ['MemberUpdate'],
  'Cluster.MemberList': ['MemberList'], 'Cluster.MemberPromote': ['MemberPromote'],
  'Maintenance.Alarm': ['AlarmList', 'AlarmDisarm'], 'Maintenance.Status': ['Status'], 'Maintenance.Defragment': ['Defragment'],
  'Maintenance.HashKV': ['HashKV'], 'Maintenance.Snapshot': ['Snapshot'], 'Maintenance.MoveLeader': ['MoveLeader'],
  'Auth.AuthEnable': ['AuthEnable'], 'Auth.AuthDisable': ['AuthDisable'],
  'Auth.UserAdd': ['UserAdd'], 'Auth.UserGet': ['UserGet'], 'Auth.UserList': ['UserList'], 'Auth.UserDelete': ['UserDelete'],
  'Auth.UserChangePassword': ['UserChangePassword'], 'Auth.UserGrantRole': ['UserGrantRole'], 'Auth.UserRevokeRole': ['UserRevokeRole'],
  'Auth.RoleAdd': ['RoleAdd'], 'Auth.RoleGet': ['RoleGet'], 'Auth.RoleList': ['RoleList'], 'Auth.RoleDelete': ['RoleDelete'],
  'Auth.RoleGrantPermission': ['RoleGrantPermission'], 'Auth.RoleRevokePermission': ['RoleRevokePermission'],
};

// npm etcd3 calls (in files that import etcd3) that reach the RPC.
const etcd3Calls = {
  'KV.Range': ['get', 'getAll'], 'KV.Put': ['put'], 'KV.DeleteRange': ['delete'], 'KV.Txn': ['if'],
  'Watch.Watch': ['watch'], 'Lease.LeaseGrant': ['lease'], 'Lease.LeaseRevoke': ['revoke'], 'Lease.LeaseKeepAlive': ['keepaliveOnce'],
};

const quoted = (word) => `['"\`]${escapeRegex(word)}['"\`]`;

/** Regexes and the files they apply to: a test file exercises the RPC when one matches it. */
function testMatchers(rpc) {
  const id = `${rpc.service}.${rpc.method}`;
  const matchers = [
    // the gRPC path, as raw HTTP/2 tests and JSON steps name it
    { applies: () => true, pattern: new RegExp(`\\b${escapeRegex(rpc.pkg)}\\.${rpc.service}/${rpc.method}\\b`) },
    // ts-proto service definitions, or a grpc-js client of the service calling the method
    { applies: () => true, pattern: new RegExp(`\\b${rpc.service}Service\\.${lowerFirst(rpc.method)}\\b`) },
    { applies: (f) => f.path.endsWith('.ts') && new RegExp(`\\b${rpc.service}Client\\b`).test(f.text), pattern: new RegExp(`\\.${lowerFirst(rpc.method)}(\\(|\\.bind\\()`) },
    // a Go client of the service made from the generated package (v3lockpb.NewLockClient, …)
    { applies: (f) => f.path.endsWith('.go'), pattern: new RegExp(`\\.${rpc.method}\\(\\w+, &${escapeRegex(rpc.pkg)}\\.`) },
  ];
  if (rpc.gateway) matchers.push({ applies: () => true, pattern: new RegExp(`${escapeRegex(rpc.gateway)}\\b`) });
  for (const words of etcdctlCommands[id] ?? []) {
    matchers.push({ applies: (f) => /etcdctl/.test(f.text), pattern: new RegExp(words.map(quoted).join(',\\s*')) });
  }
  for (const name of goMethods[id] ?? []) {
    matchers.push({ applies: (f) => f.path.endsWith('.go'), pattern: new RegExp(`\\.${name}\\(`) });
  }
  for (const name of etcd3Calls[id] ?? []) {
    matchers.push({ applies: (f) => /from 'etcd3'/.test(f.text), pattern: new RegExp(`\\.${name}\\(`) });
  }
  if (id === 'Auth.Authenticate') {
    matchers.push({ applies: (f) => /from 'etcd3'/.test(f.text), pattern: /\bauth:\s*\{/ });
    matchers.push({ applies: (f) => f.path.endsWith('.go'), pattern: /\bUsername:/ });
  }
  return matchers;
}

function readTestFiles() {
  return walk(testRoot, (p) => scannedExtensions.some((e) => p.endsWith(e)) && statSync(p).size <= maxScannedFileBytes)
    .map((path) => ({ path: posixPath(path), text: readFileSync(path, 'utf8') }))
    .filter((f) => !f.path.startsWith('test/helpers/') && !f.path.startsWith('test/fixtures/'));
}

// --------------------------------------------------------------------------------------------------
// Flags from the built config module's --help text

async function readFlags() {
  if (!existsSync(builtConfig)) throw new Error(`${posixPath(builtConfig)} is missing: run npm run build first`);
  const { helpText } = await import(pathToFileURL(builtConfig).href);
  const flags = [];
  let section = '';
  for (const line of helpText().split('\n')) {
    const header = /^(\S.*):$/.exec(line);
    if (header) section = header[1];
    const flag = /^ {2}--([\w-]+) '(.*)'( \(ignored\))?$/.exec(line);
    if (flag && section) flags.push({ name: flag[1], def: flag[2], section, ignored: Boolean(flag[3]) });
  }
  return flags;
}

// --------------------------------------------------------------------------------------------------
// The document

const cell = (s) => s.replace(/\|/g, '\\|');
const code = (s) => (s === '' ? '' : `\`${cell(s)}\``);
const anchor = (heading) => heading.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');

function count(items) {
  const by = Object.fromEntries(statusOrder.map((s) => [s, 0]));
  for (const item of items) by[item.status] += 1;
  return statusOrder.map((s) => `${by[s]} ${s}`).join(', ');
}

export async function generate() {
  const isImplemented = implementedRpcs();
  const testFiles = readTestFiles();
  const rpcs = readRpcs().map((rpc) => {
    const id = `${rpc.service}.${rpc.method}`;
    const implemented = isImplemented(rpc);
    const note = rpcDifferences[id] ?? '';
    const status = !implemented ? 'not yet' : note ? 'different' : 'supported';
    const matchers = testMatchers(rpc);
    const tests = testFiles.filter((f) => matchers.some((m) => m.applies(f) && m.pattern.test(f.text))).map((f) => f.path);
    return { ...rpc, id, status, note, tests };
  });
  const flags = (await readFlags()).map((f) => {
    const diff = flagDifferences[f.name];
    const status = f.ignored ? 'not yet' : (diff?.status ?? 'supported');
    const note = f.ignored ? 'accepted and ignored, with a start-up warning when set' : (diff?.note ?? '');
    return { ...f, status, note };
  });
  const etcdFlags = flags.filter((f) => f.section !== 'Lattice');
  const latticeFlags = flags.filter((f) => f.section === 'Lattice');

  const out = [];
  out.push(
    '# etcd API compatibility',
    '',
    '<!-- Generated by `npm run compat` (scripts/compat-matrix.mjs). Do not edit: change the script or the code and run it again; test/docs/compat-matrix.test.ts fails when this file is out of date. -->',
    '',
    'Every etcd v3 RPC (from `proto/`) and every etcd 3.4 flag (from the flag specs behind `lattice --help`), as',
    '**supported** (as etcd 3.4 answers it), **different** (implemented; some answers or defaults differ, as noted)',
    'or **not yet**. The reference is etcd 3.4.23; see [limitations.md](limitations.md) for the details behind each note.',
    '',
    '## RPCs',
    '',
    `${rpcs.length} RPCs: ${count(rpcs)}.`,
    '',
    '| RPC | kind | status | notes | test files |',
    '|---|---|---|---|--:|',
  );
  for (const r of rpcs) {
    const tests = r.tests.length === 0 ? '0' : `[${r.tests.length}](#${anchor(`${r.service} ${r.method}`)})`;
    out.push(`| \`${r.service}.${r.method}\` | ${r.kind} | ${r.status} | ${cell(r.note)} | ${tests} |`);
  }
  out.push(
    '',
    'A test file counts for an RPC when it names the RPC in one of the ways a test calls it: the gRPC path',
    '(`etcdserverpb.KV/Range`), the generated service definition (`KVService.range`), a grpc-js client of the',
    "service calling the method, the JSON gateway path (`/v3/kv/range`), an etcdctl subcommand (`'lease', 'grant'`,",
    'in files that run etcdctl), a Go clientv3 method (`.Grant(` in `.go` files) or an npm etcd3 call (`.put(`, in files',
    "that import etcd3). `etcdctl lock`/`elect`, clientv3/concurrency and etcd3's locks and elections are made of KV",
    'and Lease calls, so they count there, not for the Lock and Election services.',
    '',
    '## etcd flags',
    '',
    `${etcdFlags.length} flags: ${count(etcdFlags)}. etcd's obsolete flags (\`--snapshot\`, \`--peer-heartbeat-interval\`, …) are`,
    "accepted with etcd's warning, as etcd does. `ETCD_*` variables work for every flag; a flag and its variable",
    'both set: the flag wins with a warning (etcd 3.4 exits 1).',
    '',
    '| flag | default | section | status | notes |',
    '|---|---|---|---|---|',
  );
  for (const f of etcdFlags) out.push(`| \`--${f.name}\` | ${code(f.def)} | ${f.section} | ${f.status} | ${cell(f.note)} |`);
  out.push('', "## Lattice's own flags", '', 'Not etcd flags; also read from `LATTICE_*` variables.', '', '| flag | default |', '|---|---|');
  for (const f of latticeFlags) out.push(`| \`--${f.name}\` | ${code(f.def)} |`);
  out.push('', '## Test files per RPC', '');
  for (const r of rpcs) {
    if (r.tests.length === 0) continue;
    out.push(`### ${r.service} ${r.method}`, '', ...r.tests.map((t) => `- \`${t}\``), '');
  }
  return out.join('\n').replace(/\n+$/, '\n');
}

async function main(args) {
  const text = await generate();
  if (args.includes('--stdout')) {
    process.stdout.write(text);
  } else if (args.includes('--check')) {
    const current = existsSync(outputPath) ? readFileSync(outputPath, 'utf8') : '';
    if (current !== text) {
      console.error('docs/compatibility.md is out of date: run npm run compat');
      process.exit(1);
    }
  } else {
    writeFileSync(outputPath, text);
    console.log(`wrote ${posixPath(outputPath)}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
