// When a client's LeaseRevoke may carry its auth header (a log entry older builds cannot decode):
// only while every member has advertised it can apply it in its peer handshake, as last heard
// since this process started (a member down now counts with what it said).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdvertisedLogFeatures, everyMemberApplies } from '../../src/cluster/log-feature-gate.js';
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

test('the gate is open only while every other member, learners included, advertises the feature', () => {
  const members = [{ id: 1n }, { id: 2n }, { id: 3n }];
  const advertising = new Set([2n, 3n]);
  const advertises = (id: bigint, f: string): boolean => f === revokeAuthHeaderFeature && advertising.has(id);
  assert.ok(everyMemberApplies(members, 1n, advertises, revokeAuthHeaderFeature));
  assert.not.ok(everyMemberApplies(members, 1n, advertises, 'another-feature'));
  // member 3 restarts on an older build: shut
  advertising.delete(3n);
  assert.not.ok(everyMemberApplies(members, 1n, advertises, revokeAuthHeaderFeature));
  // a single member decides alone
  assert.ok(everyMemberApplies([{ id: 1n }], 1n, () => false, revokeAuthHeaderFeature));
});

test('what a member advertised is remembered while it is down; one never heard from since start counts as unable', () => {
  const members = [{ id: 1n }, { id: 2n }, { id: 3n }];
  const heard = new AdvertisedLogFeatures();
  const gate = (): boolean => everyMemberApplies(members, 1n, (id, f) => heard.advertises(id, f), revokeAuthHeaderFeature);
  heard.record(2n, new Set([revokeAuthHeaderFeature]));
  assert.not.ok(gate(), 'member 3 not heard from since this process started');
  heard.record(3n, new Set([revokeAuthHeaderFeature, 'later-feature']));
  assert.ok(gate());
  // member 3 goes down: nothing is recorded, the gate stays open (no fallback to the check before proposing)
  assert.ok(gate(), 'a member that is down still counts with what it last advertised');
  // member 3 comes back advertising less (an older build): shut until it advertises the feature again
  heard.record(3n, new Set());
  assert.not.ok(gate());
  heard.record(3n, new Set([revokeAuthHeaderFeature]));
  assert.ok(gate());
  // a removed member is forgotten: if it is added back, it must advertise again
  heard.forget(3n);
  assert.not.ok(heard.advertises(3n, revokeAuthHeaderFeature));
});

test.run();
