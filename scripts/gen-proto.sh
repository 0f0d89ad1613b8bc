#!/usr/bin/env bash
# Regenerates src/gen from the vendored etcd protos. Needs protoc (Debian: protobuf-compiler).
# The generated code is committed, so `npm ci` never needs protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf src/gen && mkdir -p src/gen
protoc -I proto -I /usr/include \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out=src/gen \
  --ts_proto_opt=forceLong=bigint,outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,useOptionals=none,outputJsonMethods=false \
  etcd/mvcc/mvccpb/kv.proto etcd/auth/authpb/auth.proto etcd/etcdserver/etcdserverpb/rpc.proto \
  etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto etcd/etcdserver/api/v3election/v3electionpb/v3election.proto

# The JSON gateway routes and encodes from the protos' descriptors (google.api.http options, field
# order and types); they ship as a base64 FileDescriptorSet so nothing is parsed at run time.
descriptors="$(mktemp)"
protoc -I proto -I /usr/include --include_imports --descriptor_set_out="$descriptors" \
  etcd/etcdserver/etcdserverpb/rpc.proto \
  etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto etcd/etcdserver/api/v3election/v3electionpb/v3election.proto
node scripts/descriptor-set-module.mjs < "$descriptors" > src/gen/etcd-descriptor-set.ts
rm -f "$descriptors"
