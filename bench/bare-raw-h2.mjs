// A bare gRPC responder on HTTP/2 framed in JavaScript over plain TCP sockets (no node:http2, no
// nghttp2): the same fixed answers as bare-http2.mjs, to measure what a call costs when HTTP/2 is
// parsed and written in JS. Enough HTTP/2 for gRPC unary calls from grpc-go: preface, SETTINGS,
// PING, WINDOW_UPDATE (receive side), HEADERS+CONTINUATION with full HPACK decoding, DATA,
// RST_STREAM, GOAWAY. Run: node bench/bare-raw-h2.mjs PORT
import net from 'node:net';
import { huffmanDecode } from '../dist/src/adapters/http2/hpack-huffman.js';
import { answerFor, listenPort } from './bare-responses.mjs';

// prettier-ignore
const staticTable = [null,
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', '']];

const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const frame = (type, flags, stream, payload) => {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  payload.copy(out, 9);
  return out;
};
const settingsPayload = Buffer.alloc(12);
settingsPayload.writeUInt16BE(0x3, 0); // MAX_CONCURRENT_STREAMS
settingsPayload.writeUInt32BE(2 ** 31 - 1, 2);
settingsPayload.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
settingsPayload.writeUInt32BE(1 << 20, 8);
const connWindow = Buffer.alloc(4);
connWindow.writeUInt32BE((1 << 30) - 65535, 0);
const serverPreface = Buffer.concat([frame(0x4, 0, 0, settingsPayload), frame(0x8, 0, 0, connWindow)]);
const settingsAck = frame(0x4, 0x1, 0, Buffer.alloc(0));

const lit = (s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
// :status 200 (static 8), content-type (static name 31, literal without indexing) application/grpc
const responseHeaders = Buffer.concat([Buffer.from([0x88, 0x0f, 0x10]), lit('application/grpc')]);
const trailerBlock = Buffer.concat([Buffer.from([0x00]), lit('grpc-status'), lit('0')]);
const grpcFramed = (bytes) => {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  bytes.copy(out, 5);
  return out;
};
/** One pre-built answer per path: HEADERS, DATA, trailing HEADERS; only the stream id is patched in. */
const template = (answer) => {
  const parts = [frame(0x1, 0x4, 0, responseHeaders), frame(0x0, 0, 0, grpcFramed(answer)), frame(0x1, 0x5, 0, trailerBlock)];
  const offsets = [];
  let at = 0;
  for (const p of parts) {
    offsets.push(at + 5);
    at += p.length;
  }
  return { bytes: Buffer.concat(parts), offsets };
};
const templates = new Map(['/etcdserverpb.KV/Range', '/etcdserverpb.KV/Put'].map((p) => [p, template(answerFor(p))]));
const fallback = templates.get('/etcdserverpb.KV/Put');

const huffScratch = Buffer.alloc(64 * 1024);

class Connection {
  constructor(socket) {
    this.socket = socket;
    this.pending = undefined;
    this.sawPreface = false;
    this.dynamic = []; // newest first: [name, value, size]
    this.dynamicSize = 0;
    this.dynamicMax = 4096;
    this.paths = new Map(); // stream id -> :path, for open streams
    this.block = undefined; // HEADERS awaiting CONTINUATION: { stream, endStream, parts }
    this.unacked = 0; // DATA bytes received since the last connection WINDOW_UPDATE
    this.out = [];
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.write(serverPreface);
  }

  onData(chunk) {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    if (!this.sawPreface) {
      if (buf.length < 24) {
        this.pending = buf;
        return;
      }
      if (!buf.subarray(0, 24).equals(preface)) return this.socket.destroy();
      this.sawPreface = true;
      pos = 24;
    }
    while (buf.length - pos >= 9) {
      const length = buf.readUIntBE(pos, 3);
      if (buf.length - pos < 9 + length) break;
      const type = buf[pos + 3];
      const flags = buf[pos + 4];
      const stream = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      this.onFrame(type, flags, stream, buf, pos + 9, pos + 9 + length);
      pos += 9 + length;
    }
    this.pending = pos === buf.length ? undefined : buf.subarray(pos);
    if (this.unacked > 1 << 20) {
      const p = Buffer.alloc(4);
      p.writeUInt32BE(this.unacked, 0);
      this.out.push(frame(0x8, 0, 0, p));
      this.unacked = 0;
    }
    if (this.out.length > 0) {
      this.socket.write(this.out.length === 1 ? this.out[0] : Buffer.concat(this.out));
      this.out = [];
    }
  }

  onFrame(type, flags, stream, buf, start, end) {
    switch (type) {
      case 0x0: // DATA
        this.unacked += end - start;
        if (flags & 0x1) this.answer(stream);
        return;
      case 0x1: {
        // HEADERS
        let s = start;
        let e = end;
        if (flags & 0x8) e -= buf[s++];
        if (flags & 0x20) s += 5;
        const endStream = (flags & 0x1) !== 0;
        if (flags & 0x4) this.onHeaderBlock(stream, endStream, buf, s, e);
        else this.block = { stream, endStream, parts: [Buffer.from(buf.subarray(s, e))] };
        return;
      }
      case 0x9: // CONTINUATION
        this.block.parts.push(Buffer.from(buf.subarray(start, end)));
        if (flags & 0x4) {
          const b = Buffer.concat(this.block.parts);
          const { stream: id, endStream } = this.block;
          this.block = undefined;
          this.onHeaderBlock(id, endStream, b, 0, b.length);
        }
        return;
      case 0x3: // RST_STREAM
        this.paths.delete(stream);
        return;
      case 0x4: // SETTINGS
        if ((flags & 0x1) === 0) this.out.push(settingsAck);
        return;
      case 0x6: // PING
        if ((flags & 0x1) === 0) this.out.push(frame(0x6, 0x1, 0, Buffer.from(buf.subarray(start, end))));
        return;
      case 0x7: // GOAWAY
        this.socket.end();
        return;
      default: // WINDOW_UPDATE, PRIORITY: the answers are far below any window
        return;
    }
  }

  onHeaderBlock(stream, endStream, buf, start, end) {
    let path;
    const cur = { pos: start };
    while (cur.pos < end) {
      const b = buf[cur.pos];
      if (b & 0x80) {
        const [name, value] = this.entry(this.int(buf, cur, 7));
        if (name === ':path') path = value;
      } else if ((b & 0xe0) === 0x20) {
        this.resize(this.int(buf, cur, 5));
      } else {
        const indexing = (b & 0xc0) === 0x40;
        const index = this.int(buf, cur, indexing ? 6 : 4);
        const name = index === 0 ? this.str(buf, cur) : this.entry(index)[0];
        const value = this.str(buf, cur);
        if (indexing) this.add(name, value);
        if (name === ':path') path = value;
      }
    }
    this.paths.set(stream, path);
    if (endStream) this.answer(stream);
  }

  answer(stream) {
    const t = templates.get(this.paths.get(stream)) ?? fallback;
    this.paths.delete(stream);
    const out = Buffer.allocUnsafe(t.bytes.length);
    t.bytes.copy(out);
    for (const at of t.offsets) out.writeUInt32BE(stream, at);
    this.out.push(out);
  }

  int(buf, cur, bits) {
    const max = (1 << bits) - 1;
    let v = buf[cur.pos++] & max;
    if (v < max) return v;
    let shift = 0;
    let b;
    do {
      b = buf[cur.pos++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  }

  str(buf, cur) {
    const huffman = (buf[cur.pos] & 0x80) !== 0;
    const len = this.int(buf, cur, 7);
    const s = cur.pos;
    cur.pos += len;
    if (!huffman) return buf.latin1Slice(s, s + len);
    const n = huffmanDecode(buf, s, s + len, huffScratch);
    return huffScratch.latin1Slice(0, n);
  }

  entry(index) {
    return index < staticTable.length ? staticTable[index] : this.dynamic[index - staticTable.length];
  }

  add(name, value) {
    const size = name.length + value.length + 32;
    this.dynamic.unshift([name, value, size]);
    this.dynamicSize += size;
    this.evict();
  }

  resize(max) {
    this.dynamicMax = max;
    this.evict();
  }

  evict() {
    while (this.dynamicSize > this.dynamicMax) this.dynamicSize -= this.dynamic.pop()[2];
  }
}

const server = net.createServer((socket) => new Connection(socket));
server.listen(listenPort(), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
