// The OpenAPI 3 description of /api, served at /api/openapi.json. It is checked against the server
// by test/api/openapi.test.ts, which calls every operation and validates status and body shape.

type Schema = Readonly<Record<string, unknown>>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const int: Schema = { type: 'integer' };
const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const obj = (properties: Record<string, Schema>, required: readonly string[]): Schema => ({ type: 'object', properties, required });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const encoding: Schema = { type: 'string', enum: ['base64'], description: 'present when the bytes are not UTF-8: the field is their base64' };

const json = (schema: Schema, description: string): Schema => ({ description, content: { 'application/json': { schema } } });
const error = (description: string): Schema => json(ref('Error'), description);

const keyParam: Schema = { name: 'key', in: 'path', required: true, description: 'the key, percent-encoded bytes (may contain /)', schema: str };
const leaseIdParam: Schema = { name: 'id', in: 'path', required: true, description: 'lease ID, decimal or 0x-hex', schema: str };
const nameParam: Schema = { name: 'name', in: 'path', required: true, description: 'percent-encoded bytes', schema: str };
const tenantNameParam: Schema = { name: 'name', in: 'path', required: true, description: 'the tenant name, [a-z0-9-]{1,63}', schema: str };
const q = (name: string, description: string, schema: Schema = bool): Schema => ({ name, in: 'query', required: false, description, schema });
const h = (name: string, description: string): Schema => ({ name, in: 'header', required: false, description, schema: str });

const common = {
  '400': error('invalid input (bad percent-encoding, JSON, unknown field or parameter)'),
  '401': error('auth is enabled and the request has no valid credentials (Authorization: Bearer <token> or Basic)'),
  '403': error('cross-origin write refused (see --api-cors-origins), or, with auth enabled, outside the caller\'s permissions (authPermissionDenied)'),
  '503': error('no leader, timed out, or stopping'),
};

const schemas: Record<string, Schema> = {
  TenantLimits: obj(
    {
      requestsPerSecond: { type: 'number', description: 'token bucket per member, burst one second; past it: etcdserver: too many requests' },
      bytesPerSecond: { type: 'number', description: 'request bytes per second, per member' },
      maxKeys: { ...int, description: 'keys stored under the prefix' },
      maxBytes: { ...int, description: 'key + value bytes stored under the prefix' },
      leaseTtlMinSeconds: { ...int, description: 'a shorter grant is raised to it' },
      leaseTtlMaxSeconds: { ...int, description: 'a longer grant is refused' },
      maxWatchers: { ...int, description: 'watchers open at once, per member' },
    },
    [],
  ),
  TenantUsage: obj(
    {
      keys: { ...int, description: 'keys stored under the prefix (the same on every member)' },
      bytes: { ...int, description: 'key + value bytes stored (the same on every member)' },
      requests: { ...int, description: 'requests this member admitted' },
      rejections: { ...int, description: 'requests refused for a limit, on this member' },
      watchers: { ...int, description: 'watchers open on this member' },
    },
    ['keys', 'bytes', 'requests', 'rejections', 'watchers'],
  ),
  Tenant: obj(
    {
      name: str,
      prefix: { ...str, description: 'the key prefix its clients do not see' },
      users: arr(str),
      certCommonNames: arr(str),
      limits: { $ref: '#/components/schemas/TenantLimits' },
      source: { type: 'string', enum: ['config', 'admin'], description: 'config: in the answering member\'s configuration (change it there)' },
      usage: { $ref: '#/components/schemas/TenantUsage' },
      generation: { ...int, description: 'a configured tenant\'s edition: a member proposes its file\'s spec only over a lower stored generation' },
      configState: {
        type: 'string',
        enum: ['agrees', 'pending', 'stale', 'mismatch', 'newer'],
        description: 'a tenant of the answering member\'s configuration: how it stands against the cluster\'s spec (stale: a lower generation here; the member enforces the cluster\'s spec)',
      },
      pending: {
        ...str,
        description: 'present only while the cluster does not enforce the tenant and its clients are refused (etcdserver: not capable): why (its prefix holds keys, it clashes with an enforced tenant, not proposed yet)',
      },
    },
    ['name', 'prefix', 'users', 'certCommonNames', 'limits', 'source', 'usage'],
  ),
  TenantList: obj({ tenants: arr({ $ref: '#/components/schemas/Tenant' }) }, ['tenants']),
  Error: obj(
    {
      error: obj(
        {
          code: { type: 'string', description: "this API's code, or the core's error kind (compacted, leaseNotFound, noLeader, …)" },
          message: { type: 'string', description: "etcd's text for store errors" },
          fields: { type: 'array', items: str, description: 'unknownField: the names refused' },
          allow: { type: 'array', items: str, description: 'methodNotAllowed: the methods the path takes' },
          compact_revision: { type: 'integer', description: 'compacted (watch): the compact revision' },
        },
        ['code', 'message'],
      ),
    },
    ['error'],
  ),
  KeyValue: obj(
    {
      key: str,
      key_encoding: encoding,
      value: str,
      value_encoding: encoding,
      value_json: { description: 'the value parsed as JSON (with ?json, when it parses)' },
      create_revision: int,
      mod_revision: int,
      version: int,
      lease: { type: 'string', description: 'lease ID (decimal), "0" for none' },
    },
    ['key', 'create_revision', 'mod_revision', 'version', 'lease'],
  ),
  /** A KeyValue in an event: a DELETE's carries only the key and the revision of the delete. */
  EventKv: obj(
    { key: str, key_encoding: encoding, value: str, value_encoding: encoding, create_revision: int, mod_revision: int, version: int, lease: str },
    ['key', 'mod_revision'],
  ),
  Event: obj({ type: { type: 'string', enum: ['PUT', 'DELETE'] }, kv: ref('EventKv'), prev_kv: ref('EventKv') }, ['type', 'kv']),
  KeyGet: obj({ revision: int, kv: ref('KeyValue') }, ['revision', 'kv']),
  KeyList: obj({ revision: int, count: int, more: bool, kvs: arr(ref('KeyValue')), next: str }, ['revision', 'count', 'more', 'kvs']),
  KeyHistory: obj({ key: str, key_encoding: encoding, revision: int, compact_revision: int, events: arr(ref('Event')), truncated: bool }, ['key', 'revision', 'compact_revision', 'events', 'truncated']),
  PutResult: obj({ revision: int, prev_kv: ref('KeyValue') }, ['revision']),
  DeleteResult: obj({ revision: int, deleted: int, prev_kvs: arr(ref('KeyValue')) }, ['revision', 'deleted']),
  Conflict: obj(
    { error: obj({ code: { type: 'string', enum: ['revisionMismatch', 'keyExists'] }, message: str, current_mod_revision: int, revision: int, current: { type: 'object', nullable: true } }, ['code', 'message', 'current_mod_revision']) },
    ['error'],
  ),
  Lease: obj({ id: str, id_hex: str, ttl: int, revision: int }, ['id', 'id_hex', 'ttl']),
  LeaseList: obj({ leases: arr(obj({ id: str, id_hex: str }, ['id', 'id_hex'])) }, ['leases']),
  LeaseDetail: obj({ id: str, id_hex: str, ttl: int, granted_ttl: int, keys: arr(obj({ key: str, key_encoding: encoding }, ['key'])) }, ['id', 'id_hex', 'ttl', 'granted_ttl', 'keys']),
  Revision: obj({ revision: int }, ['revision']),
  Members: obj(
    { members: arr(obj({ id: str, id_hex: str, name: str, peer_urls: arr(str), client_urls: arr(str), is_learner: bool, is_leader: bool }, ['id', 'id_hex', 'name', 'peer_urls', 'client_urls', 'is_learner', 'is_leader'])) },
    ['members'],
  ),
  Status: obj(
    {
      name: str,
      member_id: str,
      member_id_hex: str,
      cluster_id: str,
      version: str,
      leader: str,
      leader_hex: str,
      is_leader: bool,
      is_learner: bool,
      raft_term: int,
      raft_index: int,
      revision: int,
      compact_revision: int,
      db_size: int,
      db_size_in_use: int,
      alarms: arr(str),
      errors: arr(str),
    },
    ['member_id', 'leader', 'is_leader', 'raft_term', 'raft_index', 'revision', 'compact_revision', 'db_size', 'db_size_in_use', 'alarms', 'errors'],
  ),
  Compacted: obj({ revision: int, compacted: int }, ['revision', 'compacted']),
  LockResult: obj({ revision: int, key: str, key_encoding: encoding }, ['revision', 'key']),
  LeaderKey: obj({ name: str, name_encoding: encoding, key: str, key_encoding: encoding, rev: int, lease: str }, ['name', 'key', 'rev', 'lease']),
  CampaignResult: obj({ revision: int, leader: ref('LeaderKey') }, ['revision', 'leader']),
  LeaderResult: obj({ revision: int, kv: ref('KeyValue') }, ['revision', 'kv']),
  Export: obj({ prefix: str, prefix_encoding: encoding, revision: int, kvs: arr(ref('KeyValue')), next: str }, ['prefix', 'revision', 'kvs']),
  Tree: obj(
    {
      prefix: str,
      prefix_encoding: encoding,
      revision: int,
      delimiter: str,
      dirs: arr(obj({ key: str, key_encoding: encoding }, ['key'])),
      keys: arr(ref('KeyValue')),
      more: bool,
    },
    ['prefix', 'revision', 'delimiter', 'dirs', 'keys', 'more'],
  ),
  ImportResult: obj({ imported: int, revisions: arr(int) }, ['imported', 'revisions']),
};

const leaseBody = obj({ lease: { type: 'string', description: 'lease ID (required)' } }, ['lease']);
const leaderBody = obj({ leader: ref('LeaderKey'), value: str, value_encoding: encoding }, ['leader']);
const requestJson = (schema: Schema): Schema => ({ required: true, content: { 'application/json': { schema } } });

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'Lattice friendly HTTP API',
    version: '1',
    description:
      'Keys are URL paths of percent-encoded bytes. Keys and values are UTF-8 text in JSON, or base64 with a `<field>_encoding: "base64"` sibling when they are not UTF-8. Revisions are numbers; lease and member IDs are decimal strings. Errors: `{"error":{"code","message",…}}` with etcd\'s text for store errors.',
  },
  paths: {
    '/api/kv/{key}': {
      get: {
        summary: 'Read a key, a range (?prefix, ?from_key) or a key\'s history (?history)',
        parameters: [
          keyParam,
          q('prefix', 'every key starting with the key'),
          q('from_key', 'every key >= the key'),
          q('revision', 'read at this revision', int),
          q('limit', 'at most this many keys (or history events); a range defaults to 1000 keys a page, at most 10000', int),
          q('continue', 'the next token of the previous page of a range (same revision)', str),
          q('keys_only', 'leave values out'),
          q('count_only', 'only the count'),
          q('serializable', 'answer from this member without a read barrier'),
          q('json', 'add value_json when the value parses as JSON'),
          q('raw', 'single key: answer the value bytes themselves'),
          q('history', 'every revision of the key still held, oldest first (at most ?limit, default 1000, max 10000; truncated: true when cut)'),
          q('start_revision', 'with ?history: from this revision on (the next page: last mod_revision + 1)', int),
        ],
        responses: {
          '200': {
            description: 'the key (KeyGet), a range (KeyList) or a history (KeyHistory); ETag is the mod_revision of a single key',
            content: { 'application/json': { schema: { oneOf: [ref('KeyGet'), ref('KeyList'), ref('KeyHistory')] } }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          '404': error('the key does not exist (code keyNotFound)'),
          '410': error('the revision is compacted'),
          ...common,
        },
      },
      put: {
        summary: 'Write the request body as the value; compare-and-swap with If-Match, create-only with If-None-Match: *',
        parameters: [keyParam, q('lease', 'attach to this lease', str), q('prev_kv', 'answer the previous key-value'), q('encoding', 'the body is base64 text', { type: 'string', enum: ['base64'] }), q('ignore_lease', 'keep the key\'s current lease'), h('If-Match', 'the mod_revision the key must have (or *: must exist)'), h('If-None-Match', '*: only if the key does not exist')],
        requestBody: { required: false, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '200': json(ref('PutResult'), 'written'),
          '201': json(ref('PutResult'), 'created (If-None-Match: *)'),
          '404': error('the lease does not exist'),
          '412': json(ref('Conflict'), 'the key changed (or exists): the current revision is in the body'),
          '413': error('larger than --max-request-bytes'),
          ...common,
        },
      },
      delete: {
        summary: 'Delete a key, or a range with ?prefix / ?from_key',
        parameters: [keyParam, q('prefix', 'every key starting with the key'), q('from_key', 'every key >= the key'), q('prev_kv', 'answer the deleted key-values'), h('If-Match', 'the mod_revision the key must have')],
        responses: {
          '200': json(ref('DeleteResult'), 'deleted'),
          '404': error('a single key that does not exist'),
          '412': json(ref('Conflict'), 'the key changed'),
          ...common,
        },
      },
    },
    '/api/watch/{key}': {
      get: {
        summary: 'Live watch: Server-Sent Events (Accept: text/event-stream) or a WebSocket upgrade on this path',
        description:
          'SSE events: `created` {revision}, `change` (id: revision) {revision, events}, `compacted` {error}. WebSocket text messages carry the same data with a `type` field. Resume with Last-Event-ID (SSE) or ?start_revision. A client whose unread backlog stays over the bound is disconnected.',
        parameters: [keyParam, q('prefix', 'every key starting with the key'), q('from_key', 'every key >= the key'), q('start_revision', 'replay from this revision', int), q('prev_kv', 'add prev_kv to events'), h('Last-Event-ID', 'the last revision received: resume after it')],
        responses: {
          '200': { description: 'an event stream', content: { 'text/event-stream': { schema: str } } },
          '406': error('neither SSE nor WebSocket was asked for'),
          '410': error('the start revision is compacted (compact_revision in the body)'),
          '429': error('too many open watches from this address'),
          ...common,
        },
      },
    },
    '/api/leases': {
      get: { summary: 'List leases', responses: { '200': json(ref('LeaseList'), 'the leases'), ...common } },
      post: {
        summary: 'Grant a lease',
        requestBody: requestJson(obj({ ttl: int, id: str }, ['ttl'])),
        responses: { '201': json(ref('Lease'), 'granted'), '409': error('the ID exists'), ...common },
      },
    },
    '/api/leases/{id}': {
      get: { summary: 'Time to live and attached keys', parameters: [leaseIdParam], responses: { '200': json(ref('LeaseDetail'), 'the lease'), '404': error('no such lease'), ...common } },
      delete: { summary: 'Revoke (deletes its keys)', parameters: [leaseIdParam], responses: { '200': json(ref('Revision'), 'revoked'), '404': error('no such lease'), ...common } },
    },
    '/api/leases/{id}/keepalive': {
      post: { summary: 'Renew once', parameters: [leaseIdParam], responses: { '200': json(ref('Lease'), 'renewed'), '404': error('no such lease'), ...common } },
    },
    '/api/tenants': {
      get: { summary: 'Every tenant with its limits and usage (root only with auth on; never a tenant\'s client)', responses: { '200': json(ref('TenantList'), 'the tenants'), ...common } },
    },
    '/api/tenants/{name}': {
      get: { summary: 'One tenant with its usage', parameters: [tenantNameParam], responses: { '200': json(ref('Tenant'), 'the tenant'), '404': error('no such tenant'), ...common } },
      put: {
        summary: 'Create or change a tenant (through the log); a tenant keeps its prefix and is created only over an empty one',
        parameters: [tenantNameParam],
        requestBody: requestJson(obj({ prefix: str, users: arr(str), certCommonNames: arr(str), limits: ref('TenantLimits') }, ['prefix'])),
        responses: {
          '200': json(ref('Tenant'), 'changed'),
          '201': json(ref('Tenant'), 'created'),
          ...common,
          '400': error('invalid input (bad JSON, unknown field or limit) or an invalid spec: a bad name or limit, a prefix nested with another tenant\'s, a user or certificate name bound to another tenant, a shared lease ID range, or a changed prefix (a tenant keeps its prefix)'),
          '405': error('a method other than GET, PUT or DELETE (Allow header)'),
          '409': error('the prefix holds keys, the tenant is a configured one (in this member\'s configuration, or stored with a generation), or it was changed at the same time'),
          '413': error('larger than --max-request-bytes'),
        },
      },
      delete: {
        summary: 'Delete a tenant (its keys stay)',
        parameters: [tenantNameParam, q('generation', 'deletes a configured tenant (stored with a generation) taken out of every member\'s configuration: its stored generation', int)],
        responses: {
          '204': { description: 'deleted' },
          '404': error('no such tenant'),
          '409': error('the tenant is in this member\'s configuration (change it there), or stored with a generation and `generation` does not name it'),
          ...common,
        },
      },
    },
    '/api/members': { get: { summary: 'Cluster members', responses: { '200': json(ref('Members'), 'members'), ...common } } },
    '/api/status': { get: { summary: 'This member: leader, revision, raft index, db size, alarms', responses: { '200': json(ref('Status'), 'status'), ...common } } },
    '/api/compaction': {
      post: {
        summary: 'Compact history below a revision',
        requestBody: requestJson(obj({ revision: int, physical: bool }, ['revision'])),
        responses: { '200': json(ref('Compacted'), 'compacted'), '410': error('already compacted'), ...common },
      },
    },
    '/api/locks/{name}': {
      post: { summary: 'Acquire a lock (waits); answers the lock key', parameters: [nameParam], requestBody: requestJson(leaseBody), responses: { '200': json(ref('LockResult'), 'held'), ...common } },
      delete: { summary: 'Release: {name} is the lock key that POST answered', parameters: [nameParam], responses: { '200': json(ref('Revision'), 'released'), ...common } },
    },
    '/api/elections/{name}': {
      get: {
        summary: 'The current leader; with Accept: text/event-stream, `leader` events ({revision, kv}) for it and every change',
        parameters: [nameParam],
        responses: {
          '200': { description: 'the leader', content: { 'application/json': { schema: ref('LeaderResult') }, 'text/event-stream': { schema: str } } },
          '404': error('nobody leads (election: no leader)'),
          ...common,
        },
      },
    },
    '/api/elections/{name}/campaign': {
      post: {
        summary: 'Campaign (waits until elected)',
        parameters: [nameParam],
        requestBody: requestJson(obj({ lease: str, value: str, value_encoding: encoding }, ['lease'])),
        responses: { '200': json(ref('CampaignResult'), 'elected'), ...common },
      },
    },
    '/api/elections/{name}/proclaim': {
      post: { summary: 'Set a new leader value', parameters: [nameParam], requestBody: requestJson(leaderBody), responses: { '200': json(ref('Revision'), 'proclaimed'), '409': error('not the leader'), ...common } },
    },
    '/api/elections/{name}/resign': {
      post: { summary: 'Give up leadership', parameters: [nameParam], requestBody: requestJson(leaderBody), responses: { '200': json(ref('Revision'), 'resigned'), ...common } },
    },
    '/api/tree/{key}': {
      get: {
        summary: 'One level of the key tree under a prefix: the keys directly under it and each deeper path once as a dir',
        parameters: [
          keyParam,
          q('delimiter', 'splits keys into levels (default /)', str),
          q('limit', 'at most this many dirs + keys (default 1000, at most 10000)', int),
          q('revision', 'read at this revision', int),
          q('after', 'the last dir or key of the previous page (when more was true)', str),
        ],
        responses: { '200': json(ref('Tree'), 'one level'), '410': error('the revision is compacted'), ...common },
      },
    },
    '/api/export/{key}': {
      get: {
        summary: 'Every key under a prefix, at one revision, in pages (a next token while more remain)',
        parameters: [
          keyParam,
          q('revision', 'read at this revision', int),
          q('limit', 'keys per page (default 1000, at most 10000)', int),
          q('continue', 'the next token of the previous page (same revision)', str),
        ], responses: { '200': json(ref('Export'), 'the keys'), '410': error('the revision is compacted'), ...common } },
    },
    '/api/import': {
      post: {
        summary: 'Write keys (as exported); in transactions of at most --max-txn-ops puts',
        requestBody: requestJson(obj({ kvs: arr(obj({ key: str, key_encoding: encoding, value: str, value_encoding: encoding, lease: str }, ['key'])) }, ['kvs'])),
        responses: { '200': json(ref('ImportResult'), 'written'), '413': error('larger than --max-request-bytes'), ...common },
      },
    },
    '/api/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3', content: { 'application/json': { schema: { type: 'object' } } } } } } },
  },
  components: { schemas },
} as const;
