import { bytesToBase64, utf8Text } from './bytes';

/** A value as editable text: itself when UTF-8, else its base64. */
export function textOf(value: Uint8Array): { text: string; encoding: 'text' | 'base64' } {
  const t = utf8Text(value);
  return t === undefined ? { text: bytesToBase64(value), encoding: 'base64' } : { text: t, encoding: 'text' };
}
