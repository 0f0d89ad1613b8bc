// What an auth log entry carries: one Auth RPC as the proposing member prepared it (passwords already
// hashed, a simple token's random part already drawn, so applying is deterministic on every member),
// and the header etcd puts on every entry: who asked, at which auth revision.
//
// Encoded as JSON (keys are latin1 strings: JSON keeps every code point below 256 as it is).

/** etcd's RequestHeader.username / auth_revision. Revision 0: no user (etcd's empty AuthInfo). */
export interface AuthHeader {
  readonly user: string;
  readonly revision: number;
}

export const noUser: AuthHeader = { user: '', revision: 0 };

/** authpb.Permission_Type. */
export type PermType = 0 | 1 | 2;

export type AuthOp =
  | { readonly op: 'enable' }
  | { readonly op: 'disable' }
  /** `tokenPrefix` is empty for JWT (the proposer signs after the apply). */
  | { readonly op: 'authenticate'; readonly name: string; readonly tokenPrefix: string }
  /** `hashedPassword` is a bcrypt hash ("" with noPassword). */
  | { readonly op: 'userAdd'; readonly name: string; readonly hashedPassword: string; readonly noPassword: boolean }
  | { readonly op: 'userGet'; readonly name: string }
  | { readonly op: 'userList' }
  | { readonly op: 'userDelete'; readonly name: string }
  | { readonly op: 'userChangePassword'; readonly name: string; readonly hashedPassword: string }
  | { readonly op: 'userGrantRole'; readonly user: string; readonly role: string }
  | { readonly op: 'userRevokeRole'; readonly name: string; readonly role: string }
  | { readonly op: 'roleAdd'; readonly name: string }
  | { readonly op: 'roleGet'; readonly role: string }
  | { readonly op: 'roleList' }
  | { readonly op: 'roleDelete'; readonly role: string }
  | { readonly op: 'roleGrantPermission'; readonly name: string; readonly permType: PermType; readonly key: string; readonly rangeEnd: string }
  | { readonly op: 'roleRevokePermission'; readonly role: string; readonly key: string; readonly rangeEnd: string };

export interface AuthRequest {
  readonly op: AuthOp;
  readonly header: AuthHeader;
}

const opNames: ReadonlySet<string> = new Set([
  'enable',
  'disable',
  'authenticate',
  'userAdd',
  'userGet',
  'userList',
  'userDelete',
  'userChangePassword',
  'userGrantRole',
  'userRevokeRole',
  'roleAdd',
  'roleGet',
  'roleList',
  'roleDelete',
  'roleGrantPermission',
  'roleRevokePermission',
]);

/** The fields each op must carry, and their types: a decoded entry is checked, never trusted. */
const fieldTypes: Readonly<Record<string, Readonly<Record<string, 'string' | 'boolean' | 'number'>>>> = {
  authenticate: { name: 'string', tokenPrefix: 'string' },
  userAdd: { name: 'string', hashedPassword: 'string', noPassword: 'boolean' },
  userGet: { name: 'string' },
  userDelete: { name: 'string' },
  userChangePassword: { name: 'string', hashedPassword: 'string' },
  userGrantRole: { user: 'string', role: 'string' },
  userRevokeRole: { name: 'string', role: 'string' },
  roleAdd: { name: 'string' },
  roleGet: { role: 'string' },
  roleDelete: { role: 'string' },
  roleGrantPermission: { name: 'string', permType: 'number', key: 'string', rangeEnd: 'string' },
  roleRevokePermission: { role: 'string', key: 'string', rangeEnd: 'string' },
};

export function encodeAuthRequest(r: AuthRequest): Buffer {
  return Buffer.from(JSON.stringify(r), 'utf8');
}

export function decodeAuthRequest(body: Uint8Array): AuthRequest {
  const parsed: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null) throw new Error('auth request: not an object');
  const { op, header } = parsed as Record<string, unknown>;
  if (typeof header !== 'object' || header === null) throw new Error('auth request: no header');
  const { user, revision } = header as Record<string, unknown>;
  if (typeof user !== 'string' || typeof revision !== 'number' || !Number.isSafeInteger(revision)) throw new Error('auth request: bad header');
  if (typeof op !== 'object' || op === null) throw new Error('auth request: no op');
  const fields = op as Record<string, unknown>;
  const name = fields['op'];
  if (typeof name !== 'string' || !opNames.has(name)) throw new Error(`auth request: unknown op ${String(name)}`);
  for (const [field, type] of Object.entries(fieldTypes[name] ?? {})) {
    if (typeof fields[field] !== type) throw new Error(`auth request: ${name}.${field} is not a ${type}`);
  }
  if (name === 'roleGrantPermission' && ![0, 1, 2].includes(fields['permType'] as number)) throw new Error('auth request: bad permission type');
  return { op: op as AuthOp, header: { user, revision } };
}
