// The protos' descriptors (src/gen/etcd-descriptor-set.ts, made by scripts/gen-proto.sh) as the
// gateway needs them: every `google.api.http` binding as a route, and each message's fields for the
// JSON codec. A service that gains an annotated method in proto/ gets its route with no glue here.
import { createFileRegistry, fromBinary, getOption, type DescEnum, type DescExtension, type DescMethod, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { etcdDescriptorSetBase64 } from '../../gen/etcd-descriptor-set.js';

export interface GatewayRoute {
  /** Upper case, as in the request line: `POST`. */
  readonly httpMethod: string;
  /** `/v3/kv/range` */
  readonly path: string;
  /** The gRPC path of the method it calls: `/etcdserverpb.KV/Range`. */
  readonly grpcPath: string;
  readonly method: DescMethod;
}

/** The subset of google.api.HttpRule read here (a reflective message from the registry). */
interface HttpRuleShape {
  readonly pattern: { readonly case: string | undefined; readonly value?: unknown };
  readonly body: string;
  readonly additionalBindings: readonly HttpRuleShape[];
}

const httpVerbs = new Set(['get', 'put', 'post', 'delete', 'patch']);

function isHttpRule(v: unknown): v is HttpRuleShape {
  return typeof v === 'object' && v !== null && 'pattern' in v && 'additionalBindings' in v;
}

let registry: FileRegistry | undefined;

/** The registry of every message, enum and service in proto/ the gateway serves. */
export function gatewayRegistry(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(etcdDescriptorSetBase64, 'base64')));
  return registry;
}

const grpcPathOf = (m: DescMethod): string => `/${m.parent.typeName}/${m.name}`;

/**
 * Every binding of every annotated method, in proto order. Two methods bound to one path (etcd's
 * Hash and HashKV on /v3/maintenance/hash) keep the first, as grpc-gateway's mux matches them.
 * Only literal paths with `body: "*"` exist in etcd's protos; anything else is refused here, loudly.
 */
export function gatewayRoutes(reg: FileRegistry = gatewayRegistry()): GatewayRoute[] {
  const ext = reg.getExtension('google.api.http') as DescExtension | undefined;
  if (ext === undefined) throw new Error('descriptor set lacks google.api.http');
  const routes: GatewayRoute[] = [];
  const seen = new Set<string>();
  const add = (method: DescMethod, rule: HttpRuleShape): void => {
    const verb = rule.pattern.case;
    const path = rule.pattern.value;
    if (verb === undefined || !httpVerbs.has(verb) || typeof path !== 'string') return;
    if (path.includes('{')) throw new Error(`${method.parent.typeName}.${method.name}: path templates are not supported (${path})`);
    if (rule.body !== '*' && rule.body !== '') throw new Error(`${method.parent.typeName}.${method.name}: body "${rule.body}" is not supported`);
    const key = `${verb.toUpperCase()} ${path}`;
    if (seen.has(key)) return;
    seen.add(key);
    routes.push({ httpMethod: verb.toUpperCase(), path, grpcPath: grpcPathOf(method), method });
  };
  for (const file of reg.files) {
    for (const service of file.services) {
      for (const method of service.methods) {
        const rule: unknown = getOption(method, ext);
        if (!isHttpRule(rule)) continue;
        add(method, rule);
        for (const extra of rule.additionalBindings) add(method, extra);
      }
    }
  }
  return routes;
}

/** The Go type name gogo gives an enum, which jsonpb's errors quote: `etcdserverpb.RangeRequest_SortOrder`. */
export function goEnumTypeName(e: DescEnum): string {
  const pkg = e.file.proto.package;
  const local = pkg === '' ? e.typeName : e.typeName.slice(pkg.length + 1);
  return `${pkg}.${local.replace(/\./g, '_')}`;
}
