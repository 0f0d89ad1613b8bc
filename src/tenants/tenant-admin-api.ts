// The tenant admin API under /api/tenants, in /api's style (JSON, one error shape):
//   GET    /api/tenants          every tenant with its usage
//   GET    /api/tenants/<name>   one tenant with its usage
//   PUT    /api/tenants/<name>   create or change one: {"prefix", "users", "certCommonNames", "limits"}
//   DELETE /api/tenants/<name>   remove one made here (a configured one stays: change the configuration)
// Root only when auth is on; never a tenant's own client. Changes go through the log as a key under
// the reserved prefix (tenant-directory.ts): answered once applied here, so the next request sees them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerApi } from '../core/kv-api.js';
import { PutRequest, RangeRequest, DeleteRangeRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { ApiError, badRequest, sendError, sendJson, toApiError } from '../adapters/api/api-errors.js';
import { accessOf, authIdentity } from '../adapters/api/api-identity.js';
import { parseJsonObject, readBody, type BodyLimits, type JsonObject } from '../adapters/api/api-request.js';
import type { ErrorLogger } from '../adapters/grpc/error-status.js';
import type { HttpHandler } from '../adapters/http/http-router.js';
import type { TenantDirectory } from './tenant-directory.js';
import type { TenantState } from './tenant-state.js';
import type { TenantLimits, TenantSpec } from './tenant-spec.js';
import { specProblem, tenantSpecKeyPrefix, tenantsProblem } from './tenant-validation.js';

const route = '/api/tenants';
const specFields = ['prefix', 'users', 'certCommonNames', 'limits'];
const limitFields: readonly (keyof TenantLimits)[] = ['requestsPerSecond', 'bytesPerSecond', 'maxKeys', 'maxBytes', 'leaseTtlMinSeconds', 'leaseTtlMaxSeconds', 'maxWatchers'];

export interface TenantAdminDeps {
  readonly api: ServerApi;
  readonly directory: TenantDirectory;
  /** Whether a request comes from a tenant's client (they may not manage tenants). */
  readonly isTenantRequest: (req: IncomingMessage) => Promise<boolean>;
  readonly body: BodyLimits;
  readonly log: ErrorLogger;
}

export function createTenantAdminHandler(deps: TenantAdminDeps): HttpHandler {
  const identity = authIdentity(deps.api);
  const { directory, api } = deps;

  const describe = (t: TenantState): Record<string, unknown> => ({
    ...t.spec,
    source: directory.sourceOf(t.name),
    usage: directory.usage(t.name),
  });

  const serve = async (req: IncomingMessage, res: ServerResponse, name: string | undefined): Promise<void> => {
    accessOf(api, await identity(req)).requireAdmin();
    if (await deps.isTenantRequest(req)) throw new ApiError(403, 'authPermissionDenied', 'a tenant cannot manage tenants');
    const method = req.method ?? 'GET';
    if (name === undefined) {
      if (method !== 'GET') throw new ApiError(405, 'methodNotAllowed', 'method not allowed; use GET', { allow: ['GET'] });
      return sendJson(res, 200, { tenants: directory.list().map(describe) });
    }
    const existing = directory.get(name);
    if (method === 'GET') {
      if (existing === undefined) throw new ApiError(404, 'notFound', `no tenant ${name}`);
      return sendJson(res, 200, describe(existing));
    }
    if (method === 'PUT') {
      const spec = specFrom(name, parseJsonObject(await readBody(req, deps.body), specFields));
      const problem = specProblem(spec) ?? tenantsProblem([...directory.specs().filter((s) => s.name !== name), spec]);
      if (problem !== undefined) throw badRequest(problem);
      if (existing !== undefined && existing.spec.prefix !== spec.prefix) throw badRequest('a tenant keeps its prefix: delete it and create another');
      if (existing === undefined) {
        // its keys are counted from its creation on: a prefix already in use would start miscounted
        const used = await api.kv.range(RangeRequest.create({ key: Buffer.from(spec.prefix), rangeEnd: endOf(spec.prefix), countOnly: true }));
        if (used.count > 0n) throw new ApiError(409, 'keyExists', `prefix ${JSON.stringify(spec.prefix)} already holds ${used.count} keys`);
      }
      await api.kv.put(PutRequest.create({ key: specKey(name), value: Buffer.from(JSON.stringify(spec)) }), undefined);
      const now = directory.get(name);
      if (now === undefined) throw new ApiError(409, 'invalidArgument', 'the tenant clashes with one created at the same time');
      return sendJson(res, existing === undefined ? 201 : 200, describe(now));
    }
    if (method === 'DELETE') {
      if (existing === undefined) throw new ApiError(404, 'notFound', `no tenant ${name}`);
      const deleted = await api.kv.deleteRange(DeleteRangeRequest.create({ key: specKey(name) }), undefined);
      if (deleted.deleted === 0n) throw new ApiError(409, 'invalidArgument', `tenant ${name} is defined in the configuration; remove it there`);
      res.statusCode = 204;
      res.end();
      return;
    }
    res.setHeader('Allow', 'GET, PUT, DELETE');
    throw new ApiError(405, 'methodNotAllowed', 'method not allowed; use GET, PUT, DELETE', { allow: ['GET', 'PUT', 'DELETE'] });
  };

  return async (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (path !== route && !path.startsWith(`${route}/`)) return false;
    try {
      let name: string | undefined;
      try {
        name = path === route ? undefined : decodeURIComponent(path.slice(route.length + 1));
      } catch {
        throw badRequest('the tenant name is not percent-encoded correctly');
      }
      await serve(req, res, name);
    } catch (err) {
      sendError(res, toApiError(err, deps.log));
    }
    return true;
  };
}

const specKey = (name: string): Buffer => Buffer.from(tenantSpecKeyPrefix + name, 'latin1');

function endOf(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function stringList(o: JsonObject, field: string): string[] {
  const v = o[field];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badRequest(`${field} must be a list of strings`);
  return v as string[];
}

function specFrom(name: string, o: JsonObject): TenantSpec {
  const prefix = o['prefix'];
  if (typeof prefix !== 'string') throw badRequest('prefix must be a string');
  const rawLimits = o['limits'] ?? {};
  if (typeof rawLimits !== 'object' || rawLimits === null || Array.isArray(rawLimits)) throw badRequest('limits must be an object');
  const limits: Record<string, number> = {};
  for (const [k, v] of Object.entries(rawLimits)) {
    if (!(limitFields as readonly string[]).includes(k)) throw new ApiError(400, 'unknownField', `unknown limit ${k}`, { fields: [k] });
    if (typeof v !== 'number') throw badRequest(`limits.${k} must be a number`);
    limits[k] = v;
  }
  return { name, prefix, users: stringList(o, 'users'), certCommonNames: stringList(o, 'certCommonNames'), limits };
}
