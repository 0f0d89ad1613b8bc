// The error a call that must fail failed with (a grpc-js ServiceError); the call succeeding is a test failure.
import type { ServiceError } from '@grpc/grpc-js';

export async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error('expected the call to fail');
}
