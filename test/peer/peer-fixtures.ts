// Shared by the peer tests: message builders, a seeded random source, a capturing logger, and
// transports on free loopback ports that record what they receive.
import { MessageType, type Message } from '../../src/raft/types.js';
import type { LogFields, Logger } from '../../src/server/logger.js';
import { PeerTransport, type PeerTransportLimits, type PeerTransportOptions } from '../../src/peer/peer-transport.js';
import { freePort, loopbackHost } from '../helpers/free-port.js';

export function message(fields: Partial<Message> & { type: MessageType; to: bigint; from: bigint }): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...fields,
  };
}

import { seededRandom } from '../helpers/seeded-random.js';
export { seededRandom };

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields: LogFields;
}

/** A Logger that keeps every line (and prints warnings and errors when PEER_TEST_LOG is set). */
export function capturingLogger(lines: LogLine[]): Logger {
  const make = (): Logger => {
    const emit = (level: string) => (msg: string, fields: LogFields = {}) => {
      lines.push({ level, msg, fields });
      if (process.env['PEER_TEST_LOG'] && level !== 'debug') console.log(level, msg, JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    };
    return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'), named: () => make() };
  };
  return make();
}

/** Polls until check() is true or the deadline passes (then throws with `what`). */
export async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface TestMember {
  readonly id: bigint;
  readonly url: string;
  readonly transport: PeerTransport;
  readonly received: Message[];
  readonly unreachable: bigint[];
  readonly snapshotStatus: Array<{ peer: bigint; ok: boolean }>;
  readonly logs: LogLine[];
  readonly removed: Set<bigint>;
  /** Replaceable per test. */
  receiveSnapshot: (m: Message, state: AsyncIterable<Uint8Array>) => Promise<void>;
}

/** Fast timeouts so failure paths show within a test's patience. */
export const fastLimits: Partial<PeerTransportLimits> = {
  reconnectMinMs: 50,
  reconnectMaxMs: 200,
  dialTimeoutMs: 1_000,
  linkHeartbeatIntervalMs: 200,
  streamReadTimeoutMs: 800,
  handshakeTimeoutMs: 800,
  probeIntervalMs: 300,
  probeTimeoutMs: 1_000,
  snapshotStallTimeoutMs: 2_000,
};

export async function startMember(
  id: bigint,
  extra: Partial<PeerTransportOptions> & { clusterId?: bigint; port?: number } = {},
): Promise<TestMember> {
  const port = extra.port ?? (await freePort());
  const url = `http://${loopbackHost}:${port}`;
  const received: Message[] = [];
  const unreachable: bigint[] = [];
  const snapshotStatus: Array<{ peer: bigint; ok: boolean }> = [];
  const logs: LogLine[] = [];
  const removed = new Set<bigint>();
  const member: { -readonly [K in keyof TestMember]: TestMember[K] } = {
    id,
    url,
    transport: undefined as unknown as PeerTransport,
    received,
    unreachable,
    snapshotStatus,
    logs,
    removed,
    receiveSnapshot: async (_m, state) => {
      for await (const _chunk of state) {
        // discard
      }
    },
  };
  member.transport = await PeerTransport.start({
    localId: id,
    clusterId: extra.clusterId ?? 0xc1n,
    listenUrls: [url],
    onMessages: (ms) => received.push(...ms),
    onUnreachable: (peer) => unreachable.push(peer),
    onSnapshotStatus: (peer, ok) => snapshotStatus.push({ peer, ok }),
    receiveSnapshot: (m, state) => member.receiveSnapshot(m, state),
    isRemoved: (peer) => removed.has(peer),
    membersJson: () => ({ members: [{ id: id.toString(16), peerURLs: [url] }] }),
    logger: capturingLogger(logs),
    ...extra,
    limits: { ...fastLimits, ...extra.limits },
  });
  return member;
}

/** Makes every member know every other. */
export function meshUp(members: readonly TestMember[]): void {
  for (const a of members) for (const b of members) if (a !== b) a.transport.addPeer(b.id, [b.url]);
}

export const heartbeat = (from: bigint, to: bigint, commit: number): Message => message({ type: MessageType.Heartbeat, from, to, term: 1, commit });
