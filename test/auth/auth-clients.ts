// gRPC clients for auth tests (grpc-js, the generated KV and Auth clients), with a token in the
// metadata when given, and the etcdctl steps that set up users with grants.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthClient, KVClient, RangeRequest, PutRequest, type RangeResponse, type PutResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { etcdctl } from '../helpers/etcdctl.js';

const target = (endpoint: string): string => endpoint.replace(/^https?:\/\//, '');

export interface RawClients {
  authenticate(name: string, password: string): Promise<string>;
  get(key: string, token?: string): Promise<RangeResponse>;
  put(key: string, value: string, token?: string): Promise<PutResponse>;
  close(): void;
}

const metadataOf = (token: string | undefined): Metadata => {
  const m = new Metadata();
  if (token !== undefined) m.set('token', token);
  return m;
};

export function rawClients(endpoint: string): RawClients {
  const kv = new KVClient(target(endpoint), credentials.createInsecure());
  const auth = new AuthClient(target(endpoint), credentials.createInsecure());
  return {
    authenticate: (name, password) =>
      new Promise((resolve, reject) => auth.authenticate({ name, password }, (err: ServiceError | null, res) => (err ? reject(err) : resolve(res.token)))),
    get: (key, token) =>
      new Promise((resolve, reject) => kv.range(RangeRequest.fromPartial({ key: Buffer.from(key) }), metadataOf(token), (err: ServiceError | null, res) => (err ? reject(err) : resolve(res)))),
    put: (key, value, token) =>
      new Promise((resolve, reject) =>
        kv.put(PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) }), metadataOf(token), (err: ServiceError | null, res) => (err ? reject(err) : resolve(res))),
      ),
    close: () => {
      kv.close();
      auth.close();
    },
  };
}

/** The status a call failed with: "<code> <details>". */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as Partial<ServiceError>;
    return `${String(err.code)} ${err.details ?? String(e)}`;
  }
  throw new Error('expected the call to fail');
}

/** root (root role) and alice (readwrite on the prefix /a/), then auth enable. */
export async function setUpUsers(endpoint: string): Promise<void> {
  const steps = [
    ['user', 'add', 'root:rootpw'],
    ['role', 'add', 'root'],
    ['user', 'grant-role', 'root', 'root'],
    ['role', 'add', 'a-rw'],
    ['role', 'grant-permission', 'a-rw', 'readwrite', '/a/', '--prefix'],
    ['user', 'add', 'alice:apw'],
    ['user', 'grant-role', 'alice', 'a-rw'],
    ['auth', 'enable'],
  ];
  for (const step of steps) {
    const r = await etcdctl(endpoint, step);
    if (r.code !== 0) throw new Error(`etcdctl ${step.join(' ')}: ${r.stderr}`);
  }
}
