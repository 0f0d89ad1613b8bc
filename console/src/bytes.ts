// Keys and values are arbitrary bytes. /api sends valid UTF-8 as text and anything else as base64
// with a sibling `<field>_encoding: "base64"` (src/adapters/api/api-bytes.ts); the console keeps the
// bytes and only ever renders an escaped form of them.

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** A bytes field of an /api answer. */
export function wireBytes(text: unknown, encoding: unknown): Uint8Array {
  if (typeof text !== 'string') return new Uint8Array(0);
  return encoding === 'base64' ? base64ToBytes(text) : utf8Bytes(text);
}

/** The text when the bytes are valid UTF-8, else undefined. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

const hex2 = (b: number): string => b.toString(16).padStart(2, '0');
/** Characters that print as nothing or move others: controls (C0, C1), format characters, separators. */
const invisibleOrBackslash = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\\]/gu;

/**
 * A one-line, printable form of a key: UTF-8 text with control, format (zero-width, bidi) and
 * line/paragraph separator characters escaped; other bytes as \xNN (printable ASCII kept), so two
 * different keys never look the same.
 */
export function displayKey(bytes: Uint8Array): string {
  const text = utf8Text(bytes);
  if (text !== undefined) {
    return text.replace(invisibleOrBackslash, (c) => {
      if (c === '\\') return '\\\\';
      const code = c.codePointAt(0) ?? 0;
      // \xNN is kept for raw bytes of keys that are not UTF-8, so text characters past ASCII use \u{…}
      return code < 0x80 ? `\\x${hex2(code)}` : `\\u{${code.toString(16)}}`;
    });
  }
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? (b === 0x5c ? '\\\\' : String.fromCharCode(b)) : `\\x${hex2(b)}`;
  return s;
}

/** A hex dump (16 bytes a line) of at most maxDumpBytes, for values that are not text. */
export const maxDumpBytes = 4096;
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  const n = Math.min(bytes.length, maxDumpBytes);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hex = Array.from(row, hex2).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join('\n');
}

/**
 * The key as an /api path segment: every byte outside [A-Za-z0-9_~-] percent-encoded, `/` and `.`
 * included, so the browser's URL parser never sees a `..` segment or merges slashes.
 */
export function keyPath(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += /[A-Za-z0-9_~-]/.test(c) ? c : `%${hex2(b).toUpperCase()}`;
  }
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** A stable string id for bytes (Map keys, Preact keys). */
export function bytesId(bytes: Uint8Array): string {
  return Array.from(bytes, hex2).join('');
}

export function formatBytesSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
