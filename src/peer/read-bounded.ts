// Reads a short body (a refusal's text, a /members answer) without trusting its size: reading stops
// and the stream is dropped once maxBytes have arrived.
import type { Readable } from 'node:stream';

export type BoundedRead = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: 'tooLarge' | 'failed' };

/**
 * Past the bound the stream is destroyed; with `pastBound: 'pause'` it is only paused, so that a
 * server can still answer the refusal on it.
 */
export function readBounded(stream: Readable, maxBytes: number, pastBound: 'destroy' | 'pause' = 'destroy'): Promise<BoundedRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (result: BoundedRead): void => {
      if (done) return;
      done = true;
      stream.removeListener('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBytes) {
        if (pastBound === 'pause') stream.pause();
        finish({ ok: false, reason: 'tooLarge' });
        if (pastBound === 'destroy') stream.destroy();
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => finish({ ok: true, bytes: Buffer.concat(chunks) }));
    stream.once('error', () => finish({ ok: false, reason: 'failed' }));
    stream.once('close', () => finish({ ok: false, reason: 'failed' }));
  });
}

/** The body as trimmed text ('' when it could not be read within the bound). */
export async function readBoundedText(stream: Readable, maxBytes: number): Promise<string> {
  const result = await readBounded(stream, maxBytes);
  return result.ok ? result.bytes.toString('utf8').trim() : '';
}
