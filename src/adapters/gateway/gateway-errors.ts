// How grpc-gateway v1 (as etcd 3.4 ships it) turns a gRPC status into an HTTP answer: the status
// per code (runtime.HTTPStatusFromCode), the JSON body of a failed call, and the `{"error":…}` chunk
// a failed stream ends with.
import { Status } from '../grpc/grpc-codes.js';
import type { GrpcStatus } from '../grpc/error-status.js';
import { goJsonString } from './go-json.js';

const httpStatusByCode: Readonly<Record<number, number>> = {
  [Status.OK]: 200,
  [Status.CANCELLED]: 408,
  [Status.UNKNOWN]: 500,
  [Status.INVALID_ARGUMENT]: 400,
  [Status.DEADLINE_EXCEEDED]: 504,
  [Status.NOT_FOUND]: 404,
  [Status.ALREADY_EXISTS]: 409,
  [Status.PERMISSION_DENIED]: 403,
  [Status.UNAUTHENTICATED]: 401,
  [Status.RESOURCE_EXHAUSTED]: 429,
  [Status.FAILED_PRECONDITION]: 412,
  [Status.ABORTED]: 409,
  [Status.OUT_OF_RANGE]: 400,
  [Status.UNIMPLEMENTED]: 501,
  [Status.INTERNAL]: 500,
  [Status.UNAVAILABLE]: 503,
  [Status.DATA_LOSS]: 500,
};

export const httpStatusFromCode = (code: number): number => httpStatusByCode[code] ?? 500;

/** grpc-go's codes.Code names, as status errors print them. */
const goCodeNames: Readonly<Record<number, string>> = {
  [Status.OK]: 'OK',
  [Status.CANCELLED]: 'Canceled',
  [Status.UNKNOWN]: 'Unknown',
  [Status.INVALID_ARGUMENT]: 'InvalidArgument',
  [Status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [Status.NOT_FOUND]: 'NotFound',
  [Status.ALREADY_EXISTS]: 'AlreadyExists',
  [Status.PERMISSION_DENIED]: 'PermissionDenied',
  [Status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [Status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [Status.ABORTED]: 'Aborted',
  [Status.OUT_OF_RANGE]: 'OutOfRange',
  [Status.UNIMPLEMENTED]: 'Unimplemented',
  [Status.INTERNAL]: 'Internal',
  [Status.UNAVAILABLE]: 'Unavailable',
  [Status.DATA_LOSS]: 'DataLoss',
  [Status.UNAUTHENTICATED]: 'Unauthenticated',
};

/** Go's http.StatusText for the statuses above. */
const httpStatusText: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** DefaultHTTPError's body: error, message, code; each left out when empty or zero, like any jsonpb message. */
export function errorBody(status: GrpcStatus): string {
  const parts: string[] = [];
  if (status.details !== '') parts.push(`"error":${goJsonString(status.details)}`, `"message":${goJsonString(status.details)}`);
  if (status.code !== 0) parts.push(`"code":${status.code}`);
  return `{${parts.join(',')}}`;
}

/** The chunk a stream that failed ends with (runtime.streamChunk); err.Error() of a status error. */
export function streamErrorChunk(status: GrpcStatus): string {
  const httpCode = httpStatusFromCode(status.code);
  const message = `rpc error: code = ${goCodeNames[status.code] ?? `Code(${status.code})`} desc = ${status.details}`;
  const parts: string[] = [];
  if (status.code !== 0) parts.push(`"grpc_code":${status.code}`);
  parts.push(`"http_code":${httpCode}`, `"message":${goJsonString(message)}`, `"http_status":${goJsonString(httpStatusText[httpCode] ?? '')}`);
  return `{"error":{${parts.join(',')}}}`;
}
