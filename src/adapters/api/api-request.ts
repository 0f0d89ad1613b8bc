// Reading one /api request: its query flags and numbers, and its body, bounded in size and in time.
import type { IncomingMessage } from 'node:http';
import { ApiError, badRequest } from './api-errors.js';

export class Query {
  private constructor(private readonly params: URLSearchParams) {}

  static parse(search: string): Query {
    // URLSearchParams decodes leniently; a bad escape in the query is refused like one in the path
    if (/%(?![0-9A-Fa-f]{2})/.test(search)) throw new ApiError(400, 'badPercentEncoding', 'bad percent-encoding in the query string');
    return new Query(new URLSearchParams(search));
  }

  /** `?flag`, `?flag=true|1` → true; `?flag=false|0` → false; absent → false. */
  flag(name: string): boolean {
    const v = this.params.get(name);
    if (v === null) return false;
    if (v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw badRequest(`?${name} must be true or false`);
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  string(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }

  /** A non-negative integer below 2^53, or undefined when absent. */
  count(name: string): number | undefined {
    const v = this.params.get(name);
    if (v === null) return undefined;
    if (!/^\d{1,15}$/.test(v)) throw badRequest(`?${name} must be a non-negative integer`);
    return Number(v);
  }

  /** An int64 ID: decimal, or hex with 0x (etcdctl prints lease IDs in hex). */
  id(name: string): bigint | undefined {
    const v = this.params.get(name);
    return v === null ? undefined : parseId(v, `?${name}`);
  }

  /** Names not in `known`: a typo in a flag should not silently change what a request does. */
  unknown(known: ReadonlySet<string>): string[] {
    return [...this.params.keys()].filter((k) => !known.has(k));
  }
}

const maxInt64 = (1n << 63n) - 1n;

export function parseId(text: string, what: string): bigint {
  let id: bigint;
  if (/^0x[0-9a-fA-F]{1,16}$/.test(text)) id = BigInt(text);
  else if (/^\d{1,20}$/.test(text)) id = BigInt(text);
  else throw badRequest(`${what} must be a decimal or 0x-hex integer`);
  if (id > maxInt64) throw badRequest(`${what} is out of range`);
  return id;
}

export interface BodyLimits {
  readonly maxBodyBytes: number;
  /** A body that has not fully arrived by then is a slow client: 408. */
  readonly bodyTimeoutMs: number;
}

/** The whole body, or 413 past maxBodyBytes (the rest is not read; the connection closes). */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limits.maxBodyBytes) {
      reject(tooLarge(limits.maxBodyBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: ApiError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      if (err !== undefined) {
        // stop reading: the answer goes out with Connection: close
        req.pause();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks, size));
      }
    };
    const timer = setTimeout(() => finish(new ApiError(408, 'bodyTimeout', `request body not received within ${limits.bodyTimeoutMs} ms`)), limits.bodyTimeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.maxBodyBytes) finish(tooLarge(limits.maxBodyBytes));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (): void => finish(new ApiError(400, 'invalidArgument', 'request body aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

const tooLarge = (max: number): ApiError => new ApiError(413, 'bodyTooLarge', `request body larger than ${max} bytes (--max-request-bytes)`);

export type JsonObject = Readonly<Record<string, unknown>>;

/** The body as a JSON object with only `allowed` fields; an empty body is `{}`. */
export function parseJsonObject(body: Buffer, allowed: readonly string[]): JsonObject {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'invalidJson', `invalid JSON body: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError(400, 'invalidJson', 'the body must be a JSON object');
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ApiError(400, 'unknownField', `unknown field(s): ${unknown.join(', ')}`, { fields: unknown });
  return value as JsonObject;
}

export function optionalString(o: JsonObject, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest(`${field} must be a string`);
  return v;
}

export function optionalBool(o: JsonObject, field: string): boolean {
  const v = o[field];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw badRequest(`${field} must be true or false`);
  return v;
}

/** A non-negative integer given as a JSON number or a decimal string. */
export function optionalCount(o: JsonObject, field: string): number | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  throw badRequest(`${field} must be a non-negative integer`);
}

/** An int64 ID as a string (decimal or 0x-hex) or a safe JSON number. */
export function optionalId(o: JsonObject, field: string): bigint | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string') return parseId(v, field);
  throw badRequest(`${field} must be an integer (as a string for values above 2^53)`);
}
