// Configured tenants (the config file's [tenants], --tenants-file) are a seed, not a second source of
// truth: once this member is published, it proposes each one the cluster does not enforce as
// configured, through the admin API's path (a txn on the spec key, checked where it is applied), so
// every member enforces the replicated specs alone. Members given different files therefore cannot
// diverge; the last proposal applied wins, and every member whose file differs from what the cluster
// enforces says so in its log and fails /readyz (TenantDirectory.configDisagreement) until the files
// agree. A refused proposal (a prefix that holds keys, a clash with an admin tenant) is final until a
// restart; an unavailable cluster (no leader, a timeout) is retried.
import { isEtcdError } from '../core/errors.js';
import type { Logger } from '../server/logger.js';
import { TenantAdmin, TenantAdminError } from './tenant-admin.js';
import type { TenantDirectory } from './tenant-directory.js';

/** Pause between attempts while the cluster cannot take a proposal. */
export const seedRetryMs = 1000;
/** Attempts per tenant before the member gives up proposing it (it stays unready, saying why). */
export const maxSeedAttempts = 120;

export interface ConfigSeed {
  /** Settles once every configured tenant was proposed or refused, or after `waitMs`, whichever is first. */
  readonly firstPass: Promise<void>;
  close(): void;
}

export function seedConfiguredTenants(admin: TenantAdmin, directory: TenantDirectory, log: Logger, waitMs: number): ConfigSeed {
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let reported: string | undefined;
  // not before the first pass: until then a configured tenant is on its way, not in disagreement
  let passed = false;
  const report = (): void => {
    if (!passed) return;
    const now = directory.configDisagreement();
    if (now === reported) return;
    reported = now;
    if (now !== undefined) log.error('tenants: this member is not ready', { reason: now });
    else if (directory.configuredSpecs().length > 0) log.info('tenants: the configured tenants agree with the cluster');
  };
  const seedOne = async (spec: Parameters<TenantAdmin['seed']>[0]): Promise<void> => {
    for (let attempt = 1; !closed; attempt++) {
      try {
        const outcome = await admin.seed(spec);
        directory.noteSeedFailure(spec.name, undefined);
        if (outcome !== 'unchanged') log.info(`tenants: proposed configured tenant (${outcome})`, { tenant: spec.name });
        return;
      } catch (e) {
        if (e instanceof TenantAdminError) {
          directory.noteSeedFailure(spec.name, e.message);
          log.error('tenants: the cluster refused a configured tenant', { tenant: spec.name, error: e.message });
          return;
        }
        if (attempt >= maxSeedAttempts) {
          directory.noteSeedFailure(spec.name, `not proposed after ${attempt} attempts: ${isEtcdError(e) ? e.message : String(e)}`);
          log.error('tenants: gave up proposing a configured tenant', { tenant: spec.name, error: e });
          return;
        }
        await new Promise<void>((resolve) => (timer = setTimeout(resolve, seedRetryMs)));
      }
    }
  };
  const all = (async () => {
    for (const spec of directory.configuredSpecs()) await seedOne(spec);
    passed = true;
    report();
  })();
  directory.onChange(() => queueMicrotask(report));
  let waitTimer: NodeJS.Timeout | undefined;
  const firstPass = Promise.race([all, new Promise<void>((resolve) => (waitTimer = setTimeout(resolve, waitMs)))]).finally(() => clearTimeout(waitTimer));
  return {
    firstPass,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
