import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftNetwork, RaftRole } from './raft-network.js';

test('three nodes elect the node that campaigns and commit a proposal on all', () => {
  const net = new RaftNetwork([1, 2, 3]);
  net.campaign(1);
  assert.is(net.role(1), RaftRole.Leader);
  assert.equal(net.propose(1, 'a'), { ok: true });
  for (const id of [1, 2, 3]) assert.equal(net.appliedData(id), ['a']);
});

test.run();
