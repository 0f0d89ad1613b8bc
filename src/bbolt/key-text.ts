/** Keys in messages: at most this many bytes shown, in hex. */
const shownKeyBytes = 32;

export function keyText(key: Uint8Array): string {
  const shown = Buffer.from(key.subarray(0, shownKeyBytes)).toString('hex');
  return key.length > shownKeyBytes ? `${shown}…` : shown;
}
