// Configured tenants (the config file's [tenants], --tenants-file) are a seed, not a second source of
// truth: once this member is published, it proposes each one the cluster does not enforce as
// configured, through the admin API's path (a txn on the spec key, checked where it is applied), so
// every member enforces the replicated specs alone. Members given different files therefore cannot
// diverge. Each configured tenant carries a generation (absent: 0) stored with its spec: a member
// proposes its spec only over a lower stored generation, so a member restarted with a stale file
// never rolls the cluster back. A member whose file states another spec at the same generation says
// so in its log and fails /readyz (TenantDirectory.configDisagreement) on its own; one whose file is
// stale (a lower generation: every member not yet restarted in a rolling change) enforces the
// cluster's spec all the same and says so by a warning, a metric and /api/tenants, staying ready.
// A proposal that lost a race (the spec key changed or a tenant was created at the same time) is
// re-read and retried a few times; one refused for its content (a prefix that holds keys, a clash
// with an admin tenant) is retried when the tenants change; an unavailable cluster (no leader, a
// timeout) is retried.
import { isEtcdError } from '../core/errors.js';
import type { Logger } from '../server/logger.js';
import { TenantAdmin, TenantAdminError } from './tenant-admin.js';
import type { TenantDirectory } from './tenant-directory.js';

/** Pause between attempts while the cluster cannot take a proposal. */
export const seedRetryMs = 1000;
/** Attempts per tenant before the member gives up proposing it (it stays unready, saying why). */
export const maxSeedAttempts = 120;
/** Re-reads after losing a race with another proposal, before the refusal stands. */
export const maxSeedRaceRetries = 3;

export interface ConfigSeed {
  /** Settles once every configured tenant was proposed or refused, or after `waitMs`, whichever is first. */
  readonly firstPass: Promise<void>;
  close(): void;
}

export function seedConfiguredTenants(admin: TenantAdmin, directory: TenantDirectory, log: Logger, waitMs: number): ConfigSeed {
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let reported: string | undefined;
  let reportedStale: string | undefined;
  // not before the first pass: until then a configured tenant is on its way, not in disagreement
  let passed = false;
  const report = (): void => {
    if (!passed) return;
    const stale = directory.configStale();
    if (stale !== reportedStale) {
      reportedStale = stale;
      if (stale !== undefined) log.warn('tenants: stale configuration', { reason: stale });
    }
    const now = directory.configDisagreement();
    if (now === reported) return;
    reported = now;
    if (now !== undefined) log.error('tenants: this member is not ready', { reason: now });
    else if (directory.configuredSpecs().length > 0) log.info('tenants: the configured tenants agree with the cluster');
  };
  /** Configured tenants the cluster refused: proposed again when the tenants change (never one an admin deleted). */
  const refused = new Set<string>();
  const seedOne = async (spec: Parameters<TenantAdmin['seed']>[0]): Promise<void> => {
    let races = 0;
    for (let attempt = 1; !closed; attempt++) {
      try {
        const outcome = await admin.seed(spec);
        refused.delete(spec.name);
        directory.noteSeedFailure(spec.name, undefined);
        if (outcome === 'created' || outcome === 'changed') log.info(`tenants: proposed configured tenant (${outcome})`, { tenant: spec.name, generation: spec.generation ?? 0 });
        else if (outcome !== 'unchanged') log.warn(`tenants: not proposing the configured tenant (${outcome === 'stale' ? 'the cluster has a newer generation' : 'the cluster has another spec at this generation'})`, { tenant: spec.name, generation: spec.generation ?? 0 });
        return;
      } catch (e) {
        if (e instanceof TenantAdminError) {
          // the stored spec or the set of tenants changed under the proposal: read again and decide again
          if (e.kind === 'conflict' && e.raced && races < maxSeedRaceRetries) {
            races++;
            continue;
          }
          refused.add(spec.name);
          // a clash is recomputed from the current state (pendingReason); other refusals are recorded
          directory.noteSeedFailure(spec.name, e.kind === 'invalid' ? undefined : e.message);
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
  // When the tenants change (an admin deleted a clashing tenant), the configured tenants the cluster
  // refused are proposed again: one pass at a time, one more at most queued behind it.
  let running: Promise<void> | undefined;
  let again = false;
  const reseed = (): void => {
    if (closed || !passed) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    const waiting = directory.configuredSpecs().filter((s) => refused.has(s.name) && directory.replicated(s.name) === undefined && directory.clashOf(s.name) === undefined);
    if (waiting.length === 0) return;
    running = (async () => {
      for (const spec of waiting) await seedOne(spec);
    })().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        reseed();
      }
    });
  };
  const all = (async () => {
    for (const spec of directory.configuredSpecs()) await seedOne(spec);
    passed = true;
    report();
  })();
  let lastVersion = directory.version;
  directory.onChange(() =>
    queueMicrotask(() => {
      report();
      if (directory.version === lastVersion) return;
      lastVersion = directory.version;
      reseed();
    }),
  );
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
