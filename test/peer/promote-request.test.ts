// `member promote` forwarded from a follower to the leader (src/peer/promote-request.ts,
// src/cluster/promote-forward.ts): the path, and the follower's side against a stand-in leader on
// loopback that answers as the leader's peer port does.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { forwardPromote } from '../../src/cluster/promote-forward.js';
import { EtcdError } from '../../src/core/errors.js';
import { parsePromotePath, promotePath, type PromoteAnswer } from '../../src/peer/promote-request.js';
import { remoteClusterJson } from '../../src/server/join-cluster.js';

const bigId = 0x8e9e05c52164694dn;
const paths = suite('promote path');

paths('the ID travels in decimal, as etcd puts it in /members/promote/<id>', () => {
  assert.is(promotePath(bigId), `/members/promote/${bigId.toString(10)}`);
  assert.is(parsePromotePath(promotePath(bigId)), bigId);
});

paths('anything but a decimal ID after the prefix is no promote path', () => {
  for (const p of ['/members/promote/', '/members/promote/12a', '/members/promote/-1', '/members', '/members/promote/1/2']) {
    assert.is(parsePromotePath(p), undefined, p);
  }
});

paths.run();

const forward = suite('forwarding a promote');

/** A stand-in leader whose peer port answers every promote with `answer`, counting requests. */
async function standInLeader(answer: (id: bigint) => PromoteAnswer): Promise<{ url: string; requests: bigint[]; close(): Promise<void> }> {
  const requests: bigint[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const id = parsePromotePath(String(headers[':path']));
    if (headers[':method'] !== 'POST' || id === undefined) {
      stream.respond({ ':status': 404 });
      stream.end();
      return;
    }
    requests.push(id);
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify(answer(id)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const leaderId = 7n;
const deps = (url: string, leader = leaderId) => ({ leader: () => leader, peerUrlsOf: (id: bigint) => (id === leaderId ? [url] : []), requestTimeoutMs: 1_000 });

forward('the leader promotes: the follower answers the leader member list', async () => {
  const member = { id: bigId, name: 'm4', peerUrls: ['http://127.0.0.1:1'], clientUrls: [], isLearner: false };
  const leader = await standInLeader(() => ({ type: 'promoted', members: remoteClusterJson(1n, [member]) }));
  try {
    assert.equal(await forwardPromote(deps(leader.url), bigId), [member]);
    assert.equal(leader.requests, [bigId]);
  } finally {
    await leader.close();
  }
});

forward('the leader refuses: the follower answers the same EtcdError at once', async () => {
  const leader = await standInLeader(() => ({ type: 'refused', error: 'learnerNotReady' }));
  try {
    const err = await forwardPromote(deps(leader.url), bigId).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof EtcdError && err.kind === 'learnerNotReady', String(err));
    assert.is(leader.requests.length, 1);
  } finally {
    await leader.close();
  }
});

forward('without a leader the follower retries until the request timeout: etcdserver: request timed out', async () => {
  const started = Date.now();
  const err = await forwardPromote({ leader: () => 0n, peerUrlsOf: () => [], requestTimeoutMs: 300 }, bigId).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof EtcdError && err.kind === 'timeout', String(err));
  assert.ok(Date.now() - started >= 300);
});

forward.run();
