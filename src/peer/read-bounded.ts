// Reads a short body (a refusal's text, a /members answer) without trusting its size: reading stops
// and the stream is dropped once maxBytes have arrived.
import type { Readable } from 'node:stream';

export type BoundedRead = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: 'tooLarge' | 'failed' };

export function readBounded(stream: Readable, maxBytes: number): Promise<BoundedRead> {
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
        finish({ ok: false, reason: 'tooLarge' });
        stream.destroy();
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
