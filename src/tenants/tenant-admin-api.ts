// The tenant admin API under /api/tenants, in /api's style (JSON, one error shape):
//   GET    /api/tenants          every tenant with its usage
//   GET    /api/tenants/<name>   one tenant with its usage
//   PUT    /api/tenants/<name>   create or change one: {"prefix", "users", "certCommonNames", "limits"}
//   DELETE /api/tenants/<name>   remove one made here (a configured one stays: change the configuration;
//                                ?generation=<its generation> removes one taken out of every configuration)
// Root only when auth is on; never a tenant's own client. Changes go through the log as a key under
// the reserved prefix (tenant-admin.ts): answered once applied here, so the next request sees them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerApi } from '../core/kv-api.js';
import { ApiError, badRequest, sendError, sendJson, toApiError, type ApiErrorCode } from '../adapters/api/api-errors.js';
import { accessOf, authIdentity } from '../adapters/api/api-identity.js';
import { parseJsonObject, readBody, type BodyLimits, type JsonObject } from '../adapters/api/api-request.js';
import type { ErrorLogger } from '../adapters/grpc/error-status.js';
import type { HttpHandler } from '../adapters/http/http-router.js';
import { TenantAdminError, type TenantAdmin, type TenantAdminErrorKind } from './tenant-admin.js';
import type { TenantLimits, TenantSpec } from './tenant-spec.js';

const route = '/api/tenants';
const specFields = ['prefix', 'users', 'certCommonNames', 'limits'];
const limitFields: readonly (keyof TenantLimits)[] = ['requestsPerSecond', 'bytesPerSecond', 'maxKeys', 'maxBytes', 'leaseTtlMinSeconds', 'leaseTtlMaxSeconds', 'maxWatchers'];

export interface TenantAdminDeps {
  readonly admin: TenantAdmin;
  readonly api: ServerApi;
  /** Whether a request comes from a tenant's client (they may not manage tenants). */
  readonly isTenantRequest: (req: IncomingMessage) => Promise<boolean>;
  readonly body: BodyLimits;
  readonly log: ErrorLogger;
}

const httpStatusOf: Readonly<Record<TenantAdminErrorKind, number>> = { notFound: 404, invalid: 400, conflict: 409 };
const apiCodeOf: Readonly<Record<TenantAdminErrorKind, ApiErrorCode>> = { notFound: 'notFound', invalid: 'invalidArgument', conflict: 'keyExists' };

export function createTenantAdminHandler(deps: TenantAdminDeps): HttpHandler {
  const identity = authIdentity(deps.api);
  const { admin } = deps;

  const serve = async (req: IncomingMessage, res: ServerResponse, name: string | undefined): Promise<void> => {
    accessOf(deps.api, await identity(req)).requireAdmin();
    if (await deps.isTenantRequest(req)) throw new ApiError(403, 'authPermissionDenied', 'a tenant cannot manage tenants');
    const method = req.method ?? 'GET';
    if (name === undefined) {
      if (method !== 'GET') throw new ApiError(405, 'methodNotAllowed', 'method not allowed; use GET', { allow: ['GET'] });
      return sendJson(res, 200, { tenants: admin.list() });
    }
    if (method === 'GET') return sendJson(res, 200, admin.get(name));
    if (method === 'PUT') {
      const { tenant, created } = await admin.put(specFrom(name, parseJsonObject(await readBody(req, deps.body), specFields)));
      return sendJson(res, created ? 201 : 200, tenant);
    }
    if (method === 'DELETE') {
      await admin.delete(name, generationParam(req.url));
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
      const e = err instanceof TenantAdminError ? new ApiError(httpStatusOf[err.kind], apiCodeOf[err.kind], err.message) : err;
      sendError(res, toApiError(e, deps.log));
    }
    return true;
  };
}

/** `?generation=<n>`: confirms the deletion of a configured tenant stored with that generation. */
function generationParam(url: string | undefined): number | undefined {
  const raw = new URL(url ?? '/', 'http://x').searchParams.get('generation');
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) throw badRequest('generation must be a non-negative integer');
  return Number(raw);
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
