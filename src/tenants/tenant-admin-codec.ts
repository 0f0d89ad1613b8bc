// Protobuf messages of Lattice's tenant admin service. Only etcd's own .proto files live under proto/,
// so this one is written out here instead; its messages as a .proto would read:
//
//   syntax = "proto3";
//   package lattice.tenants.v1;
//   service Tenants {
//     rpc List(ListRequest) returns (TenantList);       // every tenant with its usage
//     rpc Get(TenantName) returns (Tenant);
//     rpc Put(Tenant) returns (Tenant);                 // create or change (usage, source, pending, config_state ignored)
//     rpc Delete(DeleteRequest) returns (DeleteResponse);
//   }
//   message ListRequest {}
//   message DeleteResponse {}
//   message TenantName { string name = 1; }
//   // field 1 as TenantName's, so a client sending TenantName still deletes an admin tenant
//   message DeleteRequest {
//     string name = 1;
//     optional uint64 generation = 2;   // a configured tenant's stored generation: confirms it is out of every configuration
//   }
//   message TenantList { repeated Tenant tenants = 1; }
//   message Tenant {
//     string name = 1; string prefix = 2; repeated string users = 3; repeated string cert_common_names = 4;
//     Limits limits = 5; Usage usage = 6; string source = 7;   // "config" or "admin"
//     optional uint64 generation = 8;     // a configured tenant's (stored with its spec); Put refuses one
//     optional string pending = 9;        // present while its clients are refused: why
//     optional string config_state = 10;  // this member's configured tenants: "agrees", "pending", "stale", "mismatch" or "newer"
//   }
//   message Limits {   // an absent field: no limit
//     optional double requests_per_second = 1; optional double bytes_per_second = 2;
//     optional uint64 max_keys = 3; optional uint64 max_bytes = 4;
//     optional uint64 lease_ttl_min_seconds = 5; optional uint64 lease_ttl_max_seconds = 6;
//     optional uint64 max_watchers = 7;
//   }
//   message Usage { uint64 keys = 1; uint64 bytes = 2; uint64 requests = 3; uint64 rejections = 4; uint64 watchers = 5; }
//
// Field names are the JSON ones of /api/tenants (tenant-admin-api.ts), camelCase here as there.
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { TenantView } from './tenant-admin.js';
import type { TenantLimits, TenantSpec } from './tenant-spec.js';
import type { TenantUsage } from './tenant-state.js';

/** A tenant as the service carries it: a spec, with usage, source, pending and configState in answers. */
export interface TenantMessage extends TenantSpec {
  readonly source?: string;
  readonly usage?: TenantUsage;
  readonly pending?: string;
  /** One of TenantConfigState's values from this server; kept as sent. */
  readonly configState?: string;
}

/** Delete's request: `generation` confirms the deletion of a configured tenant stored with it (as HTTP's `?generation=`). */
export interface TenantDeleteRequest {
  readonly name: string;
  readonly generation?: number;
}

const doubleLimits = ['requestsPerSecond', 'bytesPerSecond'] as const;
const countLimits = ['maxKeys', 'maxBytes', 'leaseTtlMinSeconds', 'leaseTtlMaxSeconds', 'maxWatchers'] as const;
const usageFields = ['keys', 'bytes', 'requests', 'rejections', 'watchers'] as const;

function writeLimits(l: TenantLimits, w: BinaryWriter): void {
  doubleLimits.forEach((f, i) => {
    const v = l[f];
    if (v !== undefined) w.uint32(((i + 1) << 3) | WireType.Bit64).double(v);
  });
  countLimits.forEach((f, i) => {
    const v = l[f];
    if (v !== undefined) w.uint32(((i + 3) << 3) | WireType.Varint).uint64(v);
  });
}

function readLimits(r: BinaryReader, end: number): TenantLimits {
  const out: Record<string, number> = {};
  while (r.pos < end) {
    const [field, wire] = r.tag();
    if (field >= 1 && field <= 2 && wire === WireType.Bit64) out[doubleLimits[field - 1]!] = r.double();
    else if (field >= 3 && field <= 7 && wire === WireType.Varint) out[countLimits[field - 3]!] = Number(r.uint64());
    else r.skip(wire);
  }
  return out;
}

export function encodeTenant(t: TenantMessage | TenantView, w: BinaryWriter = new BinaryWriter()): BinaryWriter {
  w.uint32((1 << 3) | WireType.LengthDelimited).string(t.name);
  w.uint32((2 << 3) | WireType.LengthDelimited).string(t.prefix);
  for (const u of t.users) w.uint32((3 << 3) | WireType.LengthDelimited).string(u);
  for (const c of t.certCommonNames) w.uint32((4 << 3) | WireType.LengthDelimited).string(c);
  w.uint32((5 << 3) | WireType.LengthDelimited).fork();
  writeLimits(t.limits, w);
  w.join();
  if (t.usage !== undefined) {
    w.uint32((6 << 3) | WireType.LengthDelimited).fork();
    const usage = t.usage;
    usageFields.forEach((f, i) => {
      if (usage[f] !== 0) w.uint32(((i + 1) << 3) | WireType.Varint).uint64(usage[f]);
    });
    w.join();
  }
  if (t.source !== undefined) w.uint32((7 << 3) | WireType.LengthDelimited).string(t.source);
  if (t.generation !== undefined) w.uint32((8 << 3) | WireType.Varint).uint64(t.generation);
  if (t.pending !== undefined) w.uint32((9 << 3) | WireType.LengthDelimited).string(t.pending);
  if (t.configState !== undefined) w.uint32((10 << 3) | WireType.LengthDelimited).string(t.configState);
  return w;
}

export function decodeTenant(bytes: Uint8Array | BinaryReader, length?: number): TenantMessage {
  const r = bytes instanceof BinaryReader ? bytes : new BinaryReader(bytes);
  const end = length === undefined ? r.len : r.pos + length;
  let name = '';
  let prefix = '';
  const users: string[] = [];
  const certCommonNames: string[] = [];
  let limits: TenantLimits = {};
  let source: string | undefined;
  let usage: TenantUsage | undefined;
  let generation: number | undefined;
  let pending: string | undefined;
  let configState: string | undefined;
  while (r.pos < end) {
    const [field, wire] = r.tag();
    if (field === 8 && wire === WireType.Varint) {
      generation = Number(r.uint64());
      continue;
    }
    if (wire !== WireType.LengthDelimited) {
      r.skip(wire);
      continue;
    }
    if (field === 1) name = r.string();
    else if (field === 2) prefix = r.string();
    else if (field === 3) users.push(r.string());
    else if (field === 4) certCommonNames.push(r.string());
    else if (field === 5) {
      const len = r.uint32();
      limits = readLimits(r, r.pos + len);
    } else if (field === 6) {
      const len = r.uint32();
      const stop = r.pos + len;
      const u: Record<string, number> = { keys: 0, bytes: 0, requests: 0, rejections: 0, watchers: 0 };
      while (r.pos < stop) {
        const [f, wt] = r.tag();
        if (f >= 1 && f <= 5 && wt === WireType.Varint) u[usageFields[f - 1]!] = Number(r.uint64());
        else r.skip(wt);
      }
      usage = u as unknown as TenantUsage;
    } else if (field === 7) source = r.string();
    else if (field === 9) pending = r.string();
    else if (field === 10) configState = r.string();
    else r.skip(wire);
  }
  return {
    name,
    prefix,
    users,
    certCommonNames,
    limits,
    ...(generation === undefined ? {} : { generation }),
    ...(source === undefined ? {} : { source }),
    ...(usage === undefined ? {} : { usage }),
    ...(pending === undefined ? {} : { pending }),
    ...(configState === undefined ? {} : { configState }),
  };
}

export function encodeTenantList(tenants: readonly (TenantMessage | TenantView)[]): Buffer {
  const w = new BinaryWriter();
  for (const t of tenants) {
    w.uint32((1 << 3) | WireType.LengthDelimited).fork();
    encodeTenant(t, w);
    w.join();
  }
  return Buffer.from(w.finish());
}

export function decodeTenantList(bytes: Uint8Array): TenantMessage[] {
  const r = new BinaryReader(bytes);
  const out: TenantMessage[] = [];
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) out.push(decodeTenant(r, r.uint32()));
    else r.skip(wire);
  }
  return out;
}

export function encodeTenantName(name: string): Buffer {
  return Buffer.from(new BinaryWriter().uint32((1 << 3) | WireType.LengthDelimited).string(name).finish());
}

export function decodeTenantName(bytes: Uint8Array): string {
  const r = new BinaryReader(bytes);
  let name = '';
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) name = r.string();
    else r.skip(wire);
  }
  return name;
}

export function encodeDeleteRequest(req: TenantDeleteRequest): Buffer {
  // Delete took a bare name before it took a request: an old caller's string must not become "undefined".
  if (typeof req?.name !== 'string') throw new TypeError('Tenants.Delete takes { name, generation? }');
  const w = new BinaryWriter().uint32((1 << 3) | WireType.LengthDelimited).string(req.name);
  if (req.generation !== undefined) w.uint32((2 << 3) | WireType.Varint).uint64(req.generation);
  return Buffer.from(w.finish());
}

export function decodeDeleteRequest(bytes: Uint8Array): TenantDeleteRequest {
  const r = new BinaryReader(bytes);
  let name = '';
  let generation: number | undefined;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) name = r.string();
    else if (field === 2 && wire === WireType.Varint) generation = Number(r.uint64());
    else r.skip(wire);
  }
  return generation === undefined ? { name } : { name, generation };
}

/** The service's method definitions, in the shape of ts-proto's (for our gRPC layer and grpc-js clients alike). */
const method = <Req, Res>(name: string, encodeReq: (r: Req) => Buffer, decodeReq: (b: Buffer) => Req, encodeRes: (r: Res) => Buffer, decodeRes: (b: Buffer) => Res) => ({
  path: `/lattice.tenants.v1.Tenants/${name}`,
  requestStream: false as const,
  responseStream: false as const,
  requestSerialize: encodeReq,
  requestDeserialize: decodeReq,
  responseSerialize: encodeRes,
  responseDeserialize: decodeRes,
});

const empty = (): Buffer => Buffer.alloc(0);
const nothing = (): Record<string, never> => ({});
const tenantBytes = (t: TenantMessage | TenantView): Buffer => Buffer.from(encodeTenant(t).finish());

export const TenantsService = {
  list: method<Record<string, never>, (TenantMessage | TenantView)[]>('List', empty, nothing, encodeTenantList, decodeTenantList),
  get: method<string, TenantMessage | TenantView>('Get', encodeTenantName, decodeTenantName, tenantBytes, (b) => decodeTenant(b)),
  put: method<TenantMessage, TenantMessage | TenantView>('Put', tenantBytes, (b) => decodeTenant(b), tenantBytes, (b) => decodeTenant(b)),
  delete: method<TenantDeleteRequest, Record<string, never>>('Delete', encodeDeleteRequest, decodeDeleteRequest, empty, nothing),
} as const;
