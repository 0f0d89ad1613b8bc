// A bare node:http2 gRPC responder answering every call with a fixed, pre-framed response and trailers
// (no store, no protobuf work): the floor for a gRPC server on node's HTTP/2. The issue-9 comparison;
// run under kvbench with SERVER_CMD='node bench/bare-http2.mjs' or: node bench/bare-http2.mjs PORT
import http2 from 'node:http2';
import { answerFor, listenPort } from './bare-responses.mjs';

const framed = (bytes) => {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  bytes.copy(out, 5);
  return out;
};
const answers = new Map(['/etcdserverpb.KV/Range', '/etcdserverpb.KV/Put'].map((p) => [p, framed(answerFor(p))]));
const fallback = answers.get('/etcdserverpb.KV/Put');
const headers = { ':status': 200, 'content-type': 'application/grpc' };
const trailers = { 'grpc-status': '0' };
const options = { waitForTrailers: true, sendDate: false };
function onWantTrailers() {
  this.sendTrailers(trailers);
}
function onData() {}

const server = http2.createServer({ maxSessionMemory: 512, settings: { maxConcurrentStreams: 2 ** 32 - 1 } });
server.on('stream', (stream, h) => {
  stream.on('error', onData);
  stream.on('data', onData);
  stream.once('end', () => {
    stream.respond(headers, options);
    stream.once('wantTrailers', onWantTrailers);
    stream.end(answers.get(h[':path']) ?? fallback);
  });
});
server.on('sessionError', () => undefined);
server.listen(listenPort(), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
