// The etcdctl steps the auth differential runs against real etcd and Lattice: every Auth RPC and its
// errors ("root user does not have root role" through a bare AuthEnable between rootRoleSteps, as
// etcdctl's auth enable grants the role itself), then each enforcement rule with users that hold read, write, readwrite grants on keys,
// ranges, prefixes and from-key ranges. Each step: etcdctl's arguments, and stdin when it reads one.

export interface AuthStep {
  readonly args: readonly string[];
  readonly input?: string;
}

const as = (user: string, ...args: string[]): AuthStep => ({ args: [...args, '--user', user] });
const root = 'root:rootpw';
const alice = 'alice:apw';
const bob = 'bob:bpw';

/** Users, roles and grants while auth is off, with the errors each RPC can give. */
export const setupSteps: readonly AuthStep[] = [
  { args: ['user', 'add', 'root:rootpw'] },
  { args: ['user', 'add', 'root:other'] }, // user name already exists
  { args: ['user', 'list'] },
  { args: ['role', 'add', 'root'] },
  { args: ['role', 'add', 'root'] }, // role name already exists
  { args: ['user', 'grant-role', 'root', 'root'] },
  { args: ['user', 'grant-role', 'root', 'root'] }, // granted twice: accepted, nothing changes
  { args: ['role', 'add', 'reader'] },
  { args: ['role', 'add', 'writer'] },
  { args: ['role', 'add', 'rw'] },
  { args: ['role', 'add', 'late'] },
  { args: ['role', 'grant-permission', 'reader', 'read', '/r/', '--prefix'] },
  { args: ['role', 'grant-permission', 'reader', 'read', '/shared/a', '/shared/m'] },
  { args: ['role', 'grant-permission', 'writer', 'write', '/w/', '/w0'] },
  { args: ['role', 'grant-permission', 'writer', 'readwrite', '/shared/k', '/shared/z'] },
  { args: ['role', 'grant-permission', 'rw', 'readwrite', 'k1'] },
  { args: ['role', 'grant-permission', 'rw', 'read', 'zz', '--from-key'] },
  { args: ['role', 'grant-permission', 'rw', 'write', 'k1'] }, // same key again: its type is updated
  { args: ['role', 'grant-permission', 'rw', 'readwrite', 'k1'] },
  { args: ['role', 'grant-permission', 'nosuch', 'read', 'a'] }, // role name not found
  { args: ['role', 'revoke-permission', 'rw', 'notgranted'] }, // permission is not granted to the role
  { args: ['role', 'revoke-permission', 'nosuch', 'a'] }, // role name not found
  { args: ['user', 'add', 'alice:apw'] },
  { args: ['user', 'add', 'bob:bpw'] },
  { args: ['user', 'add', 'nopw', '--no-password'] },
  { args: ['user', 'grant-role', 'alice', 'reader'] },
  { args: ['user', 'grant-role', 'alice', 'rw'] },
  { args: ['user', 'grant-role', 'bob', 'writer'] },
  { args: ['user', 'grant-role', 'nopw', 'reader'] },
  { args: ['user', 'grant-role', 'alice', 'nosuch'] }, // role name not found
  { args: ['user', 'grant-role', 'nosuch', 'reader'] }, // user name not found
  { args: ['user', 'revoke-role', 'bob', 'reader'] }, // role is not granted to the user
  { args: ['user', 'revoke-role', 'nosuch', 'reader'] }, // user name not found
  { args: ['user', 'get', 'alice'] },
  { args: ['user', 'get', 'nosuch'] }, // user name not found
  { args: ['role', 'get', 'reader'] },
  { args: ['role', 'get', 'writer'] },
  { args: ['role', 'get', 'rw'] },
  { args: ['role', 'get', 'nosuch'] }, // role name not found
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
  { args: ['user', 'delete', 'nosuch'] },
  { args: ['role', 'delete', 'nosuch'] },
  { args: ['role', 'delete', 'late'] },
  { args: ['user', 'add', 'gone:pw'] },
  { args: ['user', 'delete', 'gone'] },
  { args: ['put', '/r/a', 'r-value'] },
  { args: ['put', '/w/a', 'w-value'] },
  { args: ['put', '/shared/b', 'shared'] },
  { args: ['put', 'k1', 'one'] },
  { args: ['auth', 'enable'] },
  { args: ['auth', 'enable'] }, // enabled already: needs root now
];

/** Each rule, allowed and denied, once auth is on. */
export const enforcementSteps: readonly AuthStep[] = [
  { args: ['get', '/r/a'] }, // no user: user name is empty
  { args: ['put', '/r/a', 'x'] },
  { args: ['user', 'list'] },
  as('alice:wrong', 'get', '/r/a'), // authentication failed
  as('nosuch:pw', 'get', '/r/a'),
  as('nopw:', 'get', '/r/a'), // a user without a password cannot authenticate
  as(root, 'user', 'list'),
  as(root, 'role', 'list'),
  as(alice, 'get', '/r/a'),
  as(alice, 'get', '/r/', '--prefix'),
  as(alice, 'get', '/r/a', '/r/z'),
  as(alice, 'get', '/', '--prefix'), // wider than the grant
  as(alice, 'get', '/r', '--prefix'), // starts before the grant
  as(alice, 'get', '/shared/a', '/shared/z'), // reader's [a,m) and (bob's) nothing: a gap
  as(alice, 'get', '/shared/a', '/shared/m'),
  as(alice, 'put', '/r/a', 'x'), // read-only grant
  as(alice, 'del', '/r/a'),
  as(alice, 'put', 'k1', 'two'),
  as(alice, 'get', 'k1'),
  as(alice, 'get', 'k', '--prefix'), // k1 only is granted
  as(alice, 'put', 'k1', 'three', '--prev-kv'),
  as(alice, 'get', 'zz'),
  as(alice, 'get', 'zz', '--from-key'),
  as(alice, 'get', 'z', '--from-key'), // starts before the from-key grant
  as(alice, 'put', 'zzz', 'x'),
  as(bob, 'put', '/w/a', 'w2'),
  as(bob, 'put', '/w/b', 'w3'),
  as(bob, 'get', '/w/a'), // write-only grant
  as(bob, 'put', '/w/a', 'w4', '--prev-kv'), // prev_kv needs read
  as(bob, 'del', '/w/b', '--prev-kv'),
  as(bob, 'del', '/w/b'),
  as(bob, 'del', '/w/', '--prefix'), // exactly the granted range
  as(bob, 'del', '/', '--prefix'),
  as(bob, 'put', '/shared/k', 'bob'),
  as(bob, 'get', '/shared/k', '/shared/z'),
  as(bob, 'get', '/shared/a', '/shared/z'), // bob's grant starts at k
  { ...as(alice, 'txn'), input: 'value("/r/a") = "r-value"\n\nget /r/a\n\nget k1\n\n' },
  // the failure branch is not taken, yet its forbidden put refuses the whole txn
  { ...as(alice, 'txn'), input: 'value("/r/a") = "r-value"\n\nput k1 four\n\nput /w/a x\n\n' },
  { ...as(alice, 'txn'), input: 'value("/w/a") = "x"\n\nget /r/a\n\n\n' }, // a compare on a key alice cannot read
  { ...as(alice, 'txn'), input: 'value("/r/a") = "r-value"\n\nput k1 five\n\nget /r/a\n\n' },
  { ...as(root, 'txn'), input: 'value("/r/a") = "r-value"\n\nput /w/a x\n\nput /r/a y\n\n' },
  as(alice, 'user', 'list'), // needs root
  as(alice, 'role', 'list'),
  as(alice, 'user', 'get', 'alice'), // a user may read itself
  as(alice, 'user', 'get', 'bob'),
  as(alice, 'role', 'get', 'reader'), // and a role it holds
  as(alice, 'role', 'get', 'writer'),
  as(alice, 'user', 'add', 'carol:cpw'),
  as(alice, 'role', 'add', 'x'),
  as(alice, 'user', 'grant-role', 'alice', 'writer'),
  as(alice, 'auth', 'disable'),
  as(root, 'user', 'delete', 'root'), // invalid auth management
  as(root, 'user', 'revoke-role', 'root', 'root'),
  as(root, 'role', 'delete', 'root'),
  as(alice, 'endpoint', 'hashkv'), // maintenance needs root
  as(alice, 'endpoint', 'status', '-w', 'json'), // Status needs no permission (its IDs are left out of the comparison)
  as(alice, 'compact', '2'), // etcd 3.4 checks no permission for Compact
  as(root, 'user', 'add', 'carol:cpw'),
  as(root, 'user', 'add', 'carol:cpw'),
  as(root, 'role', 'add', 'extra'),
  as(root, 'role', 'grant-permission', 'extra', 'readwrite', '/x/', '--prefix'),
  as(root, 'user', 'grant-role', 'carol', 'extra'),
  as('carol:cpw', 'put', '/x/1', 'c'),
  as(root, 'role', 'revoke-permission', 'extra', '/x/', '--prefix'),
  as('carol:cpw', 'put', '/x/2', 'c'), // the revoked grant no longer holds
  as(root, 'role', 'grant-permission', 'extra', 'read', '/x/', '--prefix'),
  as('carol:cpw', 'get', '/x/', '--prefix'),
  as(root, 'role', 'delete', 'extra'),
  as('carol:cpw', 'get', '/x/', '--prefix'),
  as(root, 'user', 'get', 'carol'),
  { args: ['user', 'passwd', 'alice', '--interactive=false', '--user', root], input: 'apw2\n' },
  as(alice, 'get', '/r/a'), // the old password
  as('alice:apw2', 'get', '/r/a'),
  as(root, 'user', 'delete', 'carol'),
  as('carol:cpw', 'get', '/x/1'),
];

/** Auth off again: everyone may do everything. */
export const finalSteps: readonly AuthStep[] = [as(root, 'auth', 'disable'), { args: ['get', '/r/a'] }, { args: ['user', 'list'] }, { args: ['auth', 'disable'] }];

/** Watches: etcdctl prints the cancel reason etcd sends for a watch its caller may not open. */
export const watchSteps: readonly AuthStep[] = [as('alice:apw2', 'watch', '/w/', '--prefix'), as('alice:apw2', 'watch', '', '--prefix'), { args: ['watch', '/r/a'] }];

/**
 * Auth off, root loses its root role (allowed while auth is off); a bare AuthEnable RPC then fails with
 * "root user does not have root role" (the test sends it between `before` and `after`), and etcdctl's
 * auth enable, which grants the role again when told so, enables auth.
 */
export const rootRoleSteps: { readonly before: readonly AuthStep[]; readonly after: readonly AuthStep[] } = {
  before: [{ args: ['user', 'revoke-role', 'root', 'root'] }, { args: ['user', 'get', 'root'] }],
  after: [{ args: ['auth', 'enable'] }, as(root, 'user', 'get', 'root'), { args: ['get', '/r/a'] }, as(root, 'auth', 'disable')],
};
