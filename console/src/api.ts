// The console's only way to the server: same-origin fetches to /api (and, for login and the users
// and roles view, etcd's JSON gateway under /v3/auth, which /api has no counterpart for). With auth
// on, a token from /v3/auth/authenticate goes in Authorization; the password stays in memory only,
// to get a new token when the old one expires.
import { wireBytes } from './bytes';

export interface ApiAnswer {
  readonly status: number;
  readonly json: Record<string, unknown>;
  readonly headers: Headers;
}

/** An /api error body `{"error":{"code","message",…}}` or a gateway one `{"error","code","message"}`. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

interface Session {
  user: string;
  password: string;
  token: string;
}

let session: Session | undefined;
const authListeners = new Set<() => void>();

/** Called when a request needs credentials the console does not have (show the login form). */
export function onAuthRequired(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export const loggedInUser = (): string | undefined => session?.user;

function failureOf(status: number, json: Record<string, unknown>): ApiFailure {
  const e = json.error;
  if (typeof e === 'object' && e !== null) {
    const o = e as Record<string, unknown>;
    return new ApiFailure(status, String(o.code ?? status), String(o.message ?? `HTTP ${status}`), json);
  }
  const message = typeof json.message === 'string' ? json.message : typeof e === 'string' ? e : `HTTP ${status}`;
  return new ApiFailure(status, String(json.code ?? status), message, json);
}

async function parse(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  if (text === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { error: { code: 'notJson', message: text.slice(0, 200) } };
  }
}

async function authenticate(user: string, password: string): Promise<string> {
  const res = await fetch('/v3/auth/authenticate', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: user, password }),
  });
  const json = await parse(res);
  if (!res.ok || typeof json.token !== 'string') throw failureOf(res.status, json);
  return json.token;
}

export async function login(user: string, password: string): Promise<void> {
  const token = await authenticate(user, password);
  session = { user, password, token };
}

export function logout(): void {
  session = undefined;
  for (const l of authListeners) l();
}

export interface RequestOptions {
  readonly method?: string;
  readonly body?: string | Uint8Array;
  readonly headers?: Record<string, string>;
  /** Statuses answered without throwing (e.g. 404 for a missing key, 412 for a CAS conflict). */
  readonly accept?: readonly number[];
  readonly signal?: AbortSignal;
}

function authHeaders(): Record<string, string> {
  return session === undefined ? {} : { Authorization: session.token };
}

/** A fetch with the session's token; a 401 gets one new token, then asks for a login. */
export async function rawFetch(path: string, o: RequestOptions = {}): Promise<Response> {
  const send = (): Promise<Response> =>
    fetch(path, {
      method: o.method ?? 'GET',
      headers: { ...authHeaders(), ...o.headers },
      // a Uint8Array is sent as its bytes (fetch's BodyInit type only names ArrayBuffer-backed views)
      ...(o.body === undefined ? {} : { body: o.body as BodyInit }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      credentials: 'same-origin',
    });
  let res = await send();
  if (res.status === 401 && session !== undefined) {
    try {
      session.token = await authenticate(session.user, session.password);
      res = await send();
    } catch {
      session = undefined;
    }
  }
  if (res.status === 401) {
    session = undefined;
    for (const l of authListeners) l();
  }
  return res;
}

export async function request(path: string, o: RequestOptions = {}): Promise<ApiAnswer> {
  const res = await rawFetch(path, o);
  const json = await parse(res);
  if (!res.ok && !(o.accept ?? []).includes(res.status)) throw failureOf(res.status, json);
  return { status: res.status, json, headers: res.headers };
}

export const getJson = (path: string, accept?: readonly number[]): Promise<ApiAnswer> => request(path, accept === undefined ? {} : { accept });

export function postJson(path: string, body: unknown, accept?: readonly number[]): Promise<ApiAnswer> {
  return request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, ...(accept === undefined ? {} : { accept }) });
}

/** One key-value as /api sends it, with its bytes decoded. */
export interface Kv {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: string;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export function kvOf(o: unknown): Kv {
  const r = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
  return {
    key: wireBytes(r.key, r.key_encoding),
    value: wireBytes(r.value, r.value_encoding),
    createRevision: num(r.create_revision),
    modRevision: num(r.mod_revision),
    version: num(r.version),
    lease: typeof r.lease === 'string' ? r.lease : '0',
  };
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
