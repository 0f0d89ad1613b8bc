#!/usr/bin/env node
// A configuration watcher that reloads on change, on Lattice's friendly HTTP API (/api) with
// Server-Sent Events; no client library, only fetch. It reads every key under a prefix as the
// application's settings (config/app/log_level → log_level), then watches the prefix from the
// revision it read, so no change between the read and the watch is missed, and "reloads" (prints
// the new settings) after every revision that changed them. A dropped stream resumes from the last
// revision seen (Last-Event-ID), the way an SSE client should.
//
//   node examples/config-watcher/watch-config.mjs --endpoint http://127.0.0.1:2379 --prefix config/app/
//   curl -X PUT http://127.0.0.1:2379/api/kv/config/app/log_level --data-binary debug    # → reloaded
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string', default: process.env.LATTICE_ENDPOINT ?? 'http://127.0.0.1:2379' },
    prefix: { type: 'string', default: 'config/app/' },
    'exit-after': { type: 'string', default: '0' }, // stop after this many reloads (0: never)
  },
});
const base = args.endpoint.replace(/\/$/, '');
const exitAfter = Number(args['exit-after']);
/** An SSE event larger than this is not a config change we can use: fail instead of buffering on. */
const maxEventBytes = 1024 * 1024;
/** Reconnect attempts in a row before giving up, and the pause between them. */
const maxReconnects = 10;
const reconnectDelayMs = 1000;

const keyPath = (prefix) => prefix.split('/').map(encodeURIComponent).join('/');

/** The settings as the application sees them: the key without the prefix → the value. */
const settings = new Map();
const show = () => JSON.stringify(Object.fromEntries([...settings].sort(([a], [b]) => (a < b ? -1 : 1))));

async function loadAll() {
  const res = await fetch(`${base}/api/kv/${keyPath(args.prefix)}?prefix`);
  if (!res.ok) throw new Error(`reading ${args.prefix}: ${res.status} ${await res.text()}`);
  const body = await res.json();
  settings.clear();
  for (const kv of body.kvs) settings.set(kv.key.slice(args.prefix.length), kv.value);
  // The whole prefix is one page up to 1000 keys; a bigger config would follow body.next.
  if (body.more) throw new Error('more than one page of settings: not handled by this example');
  console.log(`loaded revision ${body.revision}: ${show()}`);
  return body.revision;
}

/** Applies one "change" event (all the events of one revision) and reloads. */
function applyChange(change) {
  for (const event of change.events) {
    const name = event.kv.key.slice(args.prefix.length);
    if (event.type === 'PUT') settings.set(name, event.kv.value);
    else settings.delete(name);
  }
  console.log(`reloaded revision ${change.revision}: ${show()}`);
}

/** Reads one SSE stream until it ends; returns the last revision applied. */
async function follow(lastRevision, onReload) {
  const res = await fetch(`${base}/api/watch/${keyPath(args.prefix)}?prefix`, {
    headers: { Accept: 'text/event-stream', 'Last-Event-ID': String(lastRevision) },
  });
  if (res.status === 410) throw new Error('the revision to resume from was compacted: reload everything');
  if (!res.ok || !res.body) throw new Error(`watch: ${res.status} ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (buffer.length > maxEventBytes) throw new Error(`an SSE event over ${maxEventBytes} bytes`);
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
      if (fields.event === 'created') console.log(`watching ${args.prefix} after revision ${lastRevision}`);
      if (fields.event === 'change') {
        const change = JSON.parse(fields.data);
        applyChange(change);
        lastRevision = change.revision;
        if (onReload()) return lastRevision;
      }
    }
  }
  return lastRevision;
}

async function main() {
  let revision = await loadAll();
  let reloads = 0;
  const counted = () => {
    reloads += 1;
    return exitAfter > 0 && reloads >= exitAfter;
  };
  for (let failures = 0; ; ) {
    try {
      revision = await follow(revision, counted);
      if (exitAfter > 0 && reloads >= exitAfter) return;
      failures = 0;
    } catch (err) {
      failures += 1;
      if (failures > maxReconnects) throw err;
      console.log(`watch stream failed (${err instanceof Error ? err.message : err}); resuming after revision ${revision}`);
    }
    await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
  }
}

main().then(
  () => process.exit(0), // the open fetch body would keep the process alive
  (err) => {
    console.error(`config watcher failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
