// lattice.tenants.v1.Tenants: the tenant admin operations over gRPC (messages: tenant-admin-codec.ts).
// Root only when auth is on, as etcd's own admin calls; a tenant's client is refused before it gets
// here (tenant-routing.ts). Its refusals map to gRPC codes here, once; the answers and refusals are
// the HTTP admin API's (tenant-admin-api.ts), as both call TenantAdmin.
import { Status } from '../adapters/grpc/grpc-codes.js';
import { GrpcStatusError } from '../adapters/grpc/error-status.js';
import { requireAdmin } from '../adapters/grpc/auth-guard.js';
import { serviceMethods, unary, type GrpcServiceModule } from '../adapters/grpc/service-module.js';
import { TenantAdminError, type TenantAdmin, type TenantAdminErrorKind } from './tenant-admin.js';
import { TenantsService } from './tenant-admin-codec.js';

const codeOf: Readonly<Record<TenantAdminErrorKind, Status>> = {
  notFound: Status.NOT_FOUND,
  invalid: Status.INVALID_ARGUMENT,
  conflict: Status.FAILED_PRECONDITION,
};

const asStatus = (err: unknown): never => {
  if (err instanceof TenantAdminError) throw new GrpcStatusError({ code: codeOf[err.kind], details: `tenants: ${err.message}` });
  throw err;
};

export const tenantAdminServiceName = 'lattice.tenants.v1.Tenants';

export function tenantAdminServiceModule(admin: TenantAdmin): GrpcServiceModule {
  return {
    name: tenantAdminServiceName,
    methods: ({ api }) =>
      serviceMethods(TenantsService, {
        list: unary(TenantsService.list, async (_req, call) => {
          await requireAdmin(api, call);
          return admin.list();
        }),
        get: unary(TenantsService.get, async (name, call) => {
          await requireAdmin(api, call);
          try {
            return admin.get(name);
          } catch (e) {
            return asStatus(e);
          }
        }),
        put: unary(TenantsService.put, async (t, call) => {
          await requireAdmin(api, call);
          // usage, source, pending and configState are answers, not spec: a tenant read and sent back is accepted
          const { name, prefix, users, certCommonNames, limits, generation } = t;
          const spec = { name, prefix, users, certCommonNames, limits, ...(generation === undefined ? {} : { generation }) };
          return (await admin.put(spec).catch(asStatus)).tenant;
        }),
        delete: unary(TenantsService.delete, async ({ name, generation }, call) => {
          await requireAdmin(api, call);
          await admin.delete(name, generation).catch(asStatus);
          return {};
        }),
      }),
  };
}
