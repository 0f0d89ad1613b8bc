// etcd's `members` bucket: key = member ID in hex (types.ID.String()), value = the JSON of
// membership.Member (etcdserver/api/membership/store.go mustSaveMemberToBackend). The ID is a JSON
// number above 2^53, so the text is built by hand rather than with JSON.stringify of a number.
import type { Member } from '../cluster/member.js';
import { formatId } from '../server/member-id.js';

const encoder = new TextEncoder();

export function encodeMemberKey(id: bigint): Uint8Array {
  return encoder.encode(formatId(id));
}

export function encodeMemberValue(m: Member): Uint8Array {
  // Field order and omitempty as Go's encoding/json writes the struct.
  let text = `{"id":${BigInt.asUintN(64, m.id).toString(10)},"peerURLs":${JSON.stringify(m.peerUrls)}`;
  if (m.isLearner) text += ',"isLearner":true';
  if (m.name !== '') text += `,"name":${JSON.stringify(m.name)}`;
  if (m.clientUrls.length > 0) text += `,"clientURLs":${JSON.stringify(m.clientUrls)}`;
  return encoder.encode(text + '}');
}
