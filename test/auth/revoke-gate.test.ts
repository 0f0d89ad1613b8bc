// When a client's LeaseRevoke may carry its auth header (a log entry older builds cannot decode):
// only while every member advertises it can apply it, in the peer handshake.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { everyMemberApplies } from '../../src/cluster/log-feature-gate.js';
import { advertisedLogFeatures, checkHandshake, handshakeHeaders, peerHeaders, revokeAuthHeaderFeature } from '../../src/peer/peer-protocol.js';

const self = { localId: 1n, clusterId: 0xcafen };

test('a member advertises revoke-auth-header in its handshake, which a listener of the first peer protocol still accepts', () => {
  const headers = handshakeHeaders(self, 2n);
  assert.ok(advertisedLogFeatures(headers).has(revokeAuthHeaderFeature));
  const verdict = checkHandshake(headers, { localId: 2n, clusterId: 0xcafen, isKnownPeer: () => true, isRemoved: () => false });
  assert.equal(verdict, { ok: true, from: 1n });
});

test('a handshake without the header (an older build) or with an oversized one advertises nothing', () => {
  const older = { ...handshakeHeaders(self, 2n) };
  delete older[peerHeaders.logFeatures];
  assert.is(advertisedLogFeatures(older).size, 0);
  assert.is(advertisedLogFeatures({ [peerHeaders.logFeatures]: 'x'.repeat(2000) }).size, 0);
  assert.equal([...advertisedLogFeatures({ [peerHeaders.logFeatures]: ' a, ,b ' })], ['a', 'b']);
});

test('the gate is open only while every other member, learners included, advertises the feature now', () => {
  const members = [{ id: 1n }, { id: 2n }, { id: 3n }];
  const advertising = new Set([2n, 3n]);
  const advertises = (id: bigint, f: string): boolean => f === revokeAuthHeaderFeature && advertising.has(id);
  assert.ok(everyMemberApplies(members, 1n, advertises, revokeAuthHeaderFeature));
  assert.not.ok(everyMemberApplies(members, 1n, advertises, 'another-feature'));
  // member 3 restarts on an older build (or is not connected): shut
  advertising.delete(3n);
  assert.not.ok(everyMemberApplies(members, 1n, advertises, revokeAuthHeaderFeature));
  // a single member decides alone
  assert.ok(everyMemberApplies([{ id: 1n }], 1n, () => false, revokeAuthHeaderFeature));
});

test.run();
