// The HTTP/2 bridge gives the HTTP handlers what node's HTTP/1 server gives them: a body that has not
// ended within the request timeout is answered 408 and its stream closed; a long answer to a request
// whose body is complete is not cut off; Host is the request's :authority, as Go's server sets it.
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { http2RequestBridge } from '../../src/adapters/http2/http2-request-bridge.js';
import { responseGone } from '../../src/adapters/http/response-gone.js';
import { withTimeout } from '../helpers/spec.js';

const suiteOf = suite('HTTP/2 request bridge');
const t = Object.assign((name: string, body: () => Promise<void>): void => suiteOf(name, () => withTimeout(body(), 10_000, name)), {
  before: suiteOf.before,
  after: suiteOf.after,
  run: suiteOf.run,
});
const requestTimeoutMs = 300;
let server: http2.Http2Server | undefined;
let url = '';

/** Echoes the Host it sees once the body ends; /stream answers at once and ends later. */
/** responseGone of the /gone request: while it was answering, and once the client cancelled it. */
const gone: { whileOpen?: boolean; afterCancel?: boolean } = {};
let goneSettled: () => void = () => undefined;

function handler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/gone') {
    res.writeHead(200);
    res.write('open\n');
    gone.whileOpen = responseGone(res);
    res.once('close', () => {
      gone.afterCancel = responseGone(res);
      goneSettled();
    });
    return;
  }
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started\n');
    setTimeout(() => res.end('done\n'), 3 * requestTimeoutMs);
    return;
  }
  req.resume();
  req.on('end', () => res.end(`host=${req.headers.host ?? ''}`));
}

t.before(async () => {
  server = http2.createServer();
  const sink = http2RequestBridge(handler, { requestTimeoutMs });
  server.on('stream', sink);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
});

t.after(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
});

interface Outcome {
  status: number;
  body: string;
  rstCode: number | undefined;
  ms: number;
}

function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, send: (req: http2.ClientHttp2Stream) => void): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('error', () => undefined);
    req.on('close', () => resolve({ status, body, rstCode: req.rstCode, ms: Date.now() - started }));
    send(req);
  });
}

t('a request body that stalls past the request timeout is answered 408 and its stream reset, as HTTP/1 would close it', async () => {
  const session = http2.connect(url);
  try {
    const o = await request(session, { ':method': 'POST', ':path': '/put' }, (req) => req.write('{"key":'));
    assert.is(o.status, 408);
    assert.is(o.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.ok(o.ms >= requestTimeoutMs && o.ms < 10 * requestTimeoutMs, `${o.ms} ms`);
  } finally {
    session.close();
  }
});

t('a long answer to a complete request outlives the request timeout', async () => {
  const session = http2.connect(url);
  try {
    const o = await request(session, { ':path': '/stream' }, (req) => req.end());
    assert.equal([o.status, o.body], [200, 'started\ndone\n']);
  } finally {
    session.close();
  }
});

t('Host is the :authority, whatever Host header came with it', async () => {
  const session = http2.connect(url);
  try {
    const o = await request(session, { ':method': 'POST', ':path': '/echo', ':authority': 'etcd.example:2379', host: 'other.example' }, (req) => req.end('x'));
    assert.equal([o.status, o.body], [200, 'host=etcd.example:2379']);
  } finally {
    session.close();
  }
});

t('responseGone sees an HTTP/2 response whose client cancelled it (the compatibility response has no destroyed)', async () => {
  const session = http2.connect(url);
  try {
    const settled = new Promise<void>((resolve) => (goneSettled = resolve));
    const req = session.request({ ':path': '/gone' });
    req.on('error', () => undefined);
    req.once('data', () => req.close(http2.constants.NGHTTP2_CANCEL));
    req.end();
    await settled;
    assert.equal(gone, { whileOpen: false, afterCancel: true });
  } finally {
    session.close();
  }
});

t.run();
