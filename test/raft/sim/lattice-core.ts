// The core under test: Lattice's createRaftCore and its conf change codec.
import { decodeConfChange, encodeConfChange, isConfChangeDecodeError } from '../../../src/raft/conf-change-codec.js';
import { createRaftCore } from '../../../src/raft/raft-core.js';
import type { CoreUnderTest } from './sim-member.js';
import { SimViolation } from './sim-violation.js';

export const latticeCore: CoreUnderTest = {
  createCore: createRaftCore,
  encodeConfChange,
  decodeConfChange(data) {
    const change = decodeConfChange(data);
    if (isConfChangeDecodeError(change)) throw new SimViolation('state machine safety', `a committed conf change does not decode: ${change.malformed}`);
    return change;
  },
};
