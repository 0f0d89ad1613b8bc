// A bare @grpc/grpc-js server answering KV Range and Put with fixed responses (no store, no protobuf
// work): what grpc-js alone costs per call. The issue-9 comparison; run under kvbench with
//   SERVER_CMD='node bench/bare-grpc-js.mjs' or: node bench/bare-grpc-js.mjs PORT
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { answerFor, listenPort } from './bare-responses.mjs';

const identity = (b) => b;
const method = (path) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const paths = { range: '/etcdserverpb.KV/Range', put: '/etcdserverpb.KV/Put', txn: '/etcdserverpb.KV/Txn' };
const definition = Object.fromEntries(Object.entries(paths).map(([name, path]) => [name, method(path)]));
const implementation = Object.fromEntries(
  Object.entries(paths).map(([name, path]) => {
    const answer = answerFor(path);
    return [name, (_call, callback) => callback(null, answer)];
  }),
);
const server = new Server({ 'grpc.max_concurrent_streams': 2 ** 32 - 1 });
server.addService(definition, implementation);
server.bindAsync(`127.0.0.1:${listenPort()}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
});
process.on('SIGTERM', () => server.forceShutdown() ?? process.exit(0));
process.on('SIGINT', () => process.exit(0));
