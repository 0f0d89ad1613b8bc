// Small clients for /api tests: JSON calls with fetch, a Server-Sent Events reader and a WebSocket
// reader that collect messages and wait for one matching a condition (no sleeps).
import { WebSocket } from 'ws';

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: Record<string, unknown>;
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (raw values, event streams)
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const errorCode = (a: Answer): unknown => (a.json.error as Record<string, unknown> | undefined)?.code;

export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface StreamMessage {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: Record<string, unknown>;
}

/** Collects messages from a stream; `waitFor` resolves with the first (new or past) match. */
export class Collected {
  readonly messages: StreamMessage[] = [];
  closed = false;
  async waitFor(what: string, match: (m: StreamMessage) => boolean, timeoutMs = 10_000): Promise<StreamMessage> {
    let found: StreamMessage | undefined;
    await until(what, () => (found = this.messages.find(match)) !== undefined, timeoutMs, 20);
    return found!;
  }
}

/** Opens an SSE stream with fetch; `close()` aborts it. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; stream: Collected; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const stream = new Collected();
  if (res.status !== 200 || res.body === null) {
    await res.text();
    return { status: res.status, stream, close: () => ac.abort() };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    let buf = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let id: string | undefined;
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') stream.messages.push({ event, id, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    } catch {
      // aborted
    }
    stream.closed = true;
  })();
  return { status: 200, stream, close: () => ac.abort() };
}

/** Opens a WebSocket watch; resolves once open (or with the refusal's status). */
export function openWs(url: string, headers: Record<string, string> = {}): Promise<{ status: number; stream: Collected; ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const stream = new Collected();
    ws.on('message', (m: Buffer) => {
      const data = JSON.parse(m.toString()) as Record<string, unknown>;
      stream.messages.push({ event: String(data.type), id: undefined, data });
    });
    ws.on('close', () => (stream.closed = true));
    ws.on('open', () => resolve({ status: 101, stream, ws }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, stream, ws });
      res.resume();
    });
    ws.on('error', (err) => reject(err));
  });
}

/** Changed keys in a change message. */
export const changedKeys = (m: StreamMessage): string[] =>
  ((m.data.events as Record<string, unknown>[] | undefined) ?? []).map((e) => String((e.kv as Record<string, unknown>).key));
