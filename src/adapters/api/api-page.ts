// Pages of a range read on /api (?prefix, ?from_key, /api/export): without a bound one request could
// make the server build a response as large as the store. A page holds at most `limit` keys (a
// default when none is asked for, a maximum otherwise); when more remain the answer carries `next`,
// an opaque token for ?continue= that reads on from the key after the last one, at the first page's
// revision, so the pages together are one consistent read (or 410 once that revision is compacted).
import { ApiError, badRequest } from './api-errors.js';

/** Keys per page when the request sets no ?limit, and the most it may ask for. */
export const defaultApiPageKeys = 1000;
export const maxApiPageKeys = 10_000;

export interface PageStart {
  /** The key to read from (the token's), or undefined for the first page. */
  readonly fromKey: Buffer | undefined;
  /** The revision to read at: the token's, else what the request asked (0: current). */
  readonly revision: number;
}

/** The page size a request asks for: ?limit within [1, maxApiPageKeys], default defaultApiPageKeys. */
export function pageLimitOf(asked: number | undefined): number {
  if (asked === undefined || asked === 0) return defaultApiPageKeys;
  if (asked > maxApiPageKeys) throw new ApiError(400, 'invalidArgument', `limit is at most ${maxApiPageKeys} keys per page; use the next token for more`);
  return asked;
}

/** `<revision>.<base64url key>`: the key to go on from and the revision the pages read at. */
export function continueToken(revision: number, nextKey: Buffer): string {
  return `${revision}.${nextKey.toString('base64url')}`;
}

export function parseContinue(token: string | undefined, askedRevision: number): PageStart {
  if (token === undefined) return { fromKey: undefined, revision: askedRevision };
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]*)$/.exec(token);
  if (m === null) throw badRequest('continue must be the next token of an earlier page');
  return { fromKey: Buffer.from(m[2] ?? '', 'base64url'), revision: Number(m[1]) };
}

/** The key right after `key` in byte order: where the next page starts. */
export const keyAfter = (key: Uint8Array): Buffer => Buffer.concat([key, Buffer.from([0])]);
