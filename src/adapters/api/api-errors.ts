// The friendly API's errors: one JSON shape, `{"error":{"code":…,"message":…,…}}`, an HTTP status per
// kind, and the etcd text inside for errors that come from the core (error-status.ts holds etcd's words).
import type { ServerResponse } from 'node:http';
import { isEtcdError, type EtcdErrorKind } from '../../core/errors.js';
import { statusByKind, type AdapterErrorKind, type ErrorLogger } from '../grpc/error-status.js';
import { isHttp2Response } from '../http/response-gone.js';

/** Codes the /api layer produces itself, on top of the core's EtcdErrorKind names. */
export type ApiOwnErrorCode =
  | 'invalidArgument'
  | 'invalidJson'
  | 'unknownField'
  | 'badPercentEncoding'
  | 'notFound'
  | 'methodNotAllowed'
  | 'revisionMismatch'
  | 'keyExists'
  | 'bodyTooLarge'
  | 'urlTooLong'
  | 'bodyTimeout'
  | 'crossOriginRefused'
  | 'hostRefused'
  | 'tooManyWatches'
  | 'unauthenticated'
  | 'internal';

export type ApiErrorCode = ApiOwnErrorCode | AdapterErrorKind;

/** A failure with its HTTP status; `details` are extra fields of the error object (e.g. the current revision). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, code: ApiOwnErrorCode = 'invalidArgument'): ApiError => new ApiError(400, code, message);

/** HTTP status per core kind: client mistakes 4xx, server state 5xx, load 429. */
const httpStatusByKind: Readonly<Record<EtcdErrorKind, number>> = {
  emptyKey: 400,
  valueProvided: 400,
  leaseProvided: 400,
  tooManyOps: 400,
  duplicateKey: 400,
  requestTooLarge: 413,
  keyNotFound: 404,
  compacted: 410,
  futureRev: 400,
  leaseNotFound: 404,
  leaseExists: 409,
  leaseIdReserved: 400,
  leaseTtlTooLarge: 400,
  noSpace: 507,
  corrupt: 500,
  stopped: 503,
  tooManyRequests: 429,
  timeout: 503,
  noLeader: 503,
  notSupportedForLearner: 503,
  leaderChanged: 503,
  notLeader: 409,
  badLeaderTransferee: 400,
  leaderTransferTimeout: 503,
  notCapable: 503,
  canceled: 499,
  electionNotLeader: 409,
  electionNoLeader: 404,
  missingLeaderKey: 400,
  memberNotFound: 404,
  memberRemoved: 404,
  memberExists: 409,
  peerUrlExists: 409,
  memberNotLearner: 409,
  tooManyLearners: 409,
  memberBadUrls: 400,
  notEnoughStartedMembers: 503,
  learnerNotReady: 409,
  unhealthyCluster: 503,
  authRootUserNotExist: 409,
  authRootRoleNotExist: 409,
  authUserAlreadyExist: 409,
  authUserEmpty: 400,
  authUserNotFound: 404,
  authRoleAlreadyExist: 409,
  authRoleNotFound: 404,
  authRoleEmpty: 400,
  authFailed: 401,
  authPermissionDenied: 403,
  authRoleNotGranted: 409,
  authPermissionNotGranted: 409,
  authNotEnabled: 409,
  authInvalidToken: 401,
  authInvalidMgmt: 400,
  authOldRevision: 401,
};

/** The core's error as an ApiError carrying etcd's message; anything else becomes a logged 500. */
export function toApiError(err: unknown, log: ErrorLogger): ApiError {
  if (err instanceof ApiError) return err;
  if (isEtcdError(err)) {
    const known = statusByKind[err.kind];
    return new ApiError(httpStatusByKind[err.kind] ?? 500, err.kind, known?.details ?? err.message);
  }
  log('unexpected error in /api handler', err);
  return new ApiError(500, 'internal', err instanceof Error ? err.message : String(err));
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

export function errorBody(e: ApiError): { error: Record<string, unknown> } {
  return { error: { code: e.code, message: e.message, ...e.details } };
}

export function sendError(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // a request whose body was not read (too large, timed out) cannot share the connection again;
  // HTTP/2 has no Connection header (the bridge resets such a stream once the answer is out)
  const headers: Record<string, string> = (e.status === 413 || e.status === 408) && !isHttp2Response(res) ? { Connection: 'close' } : {};
  sendJson(res, e.status, errorBody(e), headers);
}
