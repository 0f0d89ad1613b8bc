// The compact revision a history read or a watch resume is checked against: straight from the
// store when it offers it, since status() also sizes the database and reads Raft state per call.
import type { ServerApi } from '../../core/kv-api.js';

export async function compactRevisionOf(api: ServerApi): Promise<number> {
  return api.compactRevision !== undefined ? api.compactRevision() : (await api.status()).compactRevision;
}
