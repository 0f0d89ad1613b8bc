// Server-Sent Events over fetch rather than EventSource: EventSource cannot send an Authorization
// header, and the console needs one once auth is on. Reconnects with Last-Event-ID, so a dropped
// stream misses nothing that is still in history.
import { rawFetch } from './api';

export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/** `refused`: the server will not serve this watch (permission, bad request); not retried. */
export type StreamState = 'connecting' | 'live' | 'retrying' | 'refused';

/** Answers that a retry cannot change. */
const permanentStatuses = new Set([400, 403, 404, 405, 406]);

class WatchRefused extends Error {}

/** A line longer than this ends the stream (the server never sends one). */
const maxSseBufferChars = 16 * 1024 * 1024;
const retryMinMs = 500;
const retryMaxMs = 5_000;

export function openSse(path: string, onMessage: (m: SseMessage) => void, onState: (s: StreamState, detail?: string) => void): () => void {
  const abort = new AbortController();
  let lastId: string | undefined;
  let delay = retryMinMs;

  const readOnce = async (): Promise<void> => {
    onState('connecting');
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastId !== undefined) headers['Last-Event-ID'] = lastId;
    const res = await rawFetch(path, { headers, signal: abort.signal });
    // the resume point was compacted away: start again from now
    if (res.status === 410) lastId = undefined;
    if (permanentStatuses.has(res.status)) {
      const text = await res.text();
      let message = `HTTP ${res.status}`;
      try {
        const e = (JSON.parse(text) as { error?: { message?: unknown } }).error;
        if (typeof e?.message === 'string') message = e.message;
      } catch {
        // not an /api error body
      }
      throw new WatchRefused(message);
    }
    if (!res.ok || res.body === null) throw new Error(`watch answered HTTP ${res.status}`);
    onState('live');
    delay = retryMinMs;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      if (buffer.length > maxSseBufferChars) throw new Error('watch message too large');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const v = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = v;
          else if (field === 'data') data.push(v);
          else if (field === 'id') id = v;
        }
        if (id !== undefined) lastId = id;
        onMessage({ event, data: data.join('\n'), id });
      }
    }
  };

  void (async () => {
    while (!abort.signal.aborted) {
      try {
        await readOnce();
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof WatchRefused) {
          onState('refused', err.message);
          return;
        }
        onState('retrying', err instanceof Error ? err.message : String(err));
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, retryMaxMs);
    }
  })();
  return () => abort.abort();
}
