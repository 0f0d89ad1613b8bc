// Keys and values are arbitrary bytes; JSON carries text. A field holds the UTF-8 text when the bytes
// are valid UTF-8, else their base64 with a sibling `<field>_encoding: "base64"`, so a console can
// show any key safely and send it back unchanged.
import { ApiError } from './api-errors.js';

export type BytesEncoding = 'utf8' | 'base64';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Adds `field` (and `field_encoding` when base64) to `out`. */
export function putBytes(out: Record<string, unknown>, field: string, bytes: Uint8Array): void {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(b)) {
    out[field] = b.toString('utf8');
  } else {
    out[field] = b.toString('base64');
    out[`${field}_encoding`] = 'base64';
  }
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Reads a field written by putBytes (or by a client following the same rule). */
export function bytesOf(text: string, encoding: unknown, field: string): Buffer {
  if (encoding === undefined || encoding === 'utf8') return Buffer.from(text, 'utf8');
  if (encoding !== 'base64') throw new ApiError(400, 'invalidArgument', `${field}_encoding must be "utf8" or "base64"`);
  if (!base64Pattern.test(text)) throw new ApiError(400, 'invalidArgument', `${field} is not valid base64`);
  return Buffer.from(text, 'base64');
}

/**
 * A URL path segment (or several) to bytes: strict percent-decoding, so `%FF` is the byte 0xFF and
 * a malformed escape is a 400, never a thrown URIError.
 */
export function decodePathBytes(path: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25) {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new ApiError(400, 'badPercentEncoding', `bad percent-encoding at offset ${i} of the key`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) {
      out.push(c);
    } else {
      // node hands raw non-ASCII request-target bytes over as latin1 characters
      out.push(c & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The key as a URL path (every byte outside the unreserved set percent-encoded). */
export function encodePathBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    s += /[A-Za-z0-9\-._~/]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return s;
}

