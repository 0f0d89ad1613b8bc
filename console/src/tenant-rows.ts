// Tenants as /api/tenants sends them, and the form's text fields to and from a tenant spec. Pure, so
// test/console/console-modules.test.ts checks it in node.

export const limitNames = ['requestsPerSecond', 'bytesPerSecond', 'maxKeys', 'maxBytes', 'leaseTtlMinSeconds', 'leaseTtlMaxSeconds', 'maxWatchers'] as const;
export type LimitName = (typeof limitNames)[number];

export const limitLabels: Readonly<Record<LimitName, string>> = {
  requestsPerSecond: 'requests / s',
  bytesPerSecond: 'request bytes / s',
  maxKeys: 'keys',
  maxBytes: 'stored bytes',
  leaseTtlMinSeconds: 'lease TTL min (s)',
  leaseTtlMaxSeconds: 'lease TTL max (s)',
  maxWatchers: 'watchers',
};

export interface TenantUsage {
  readonly keys: number;
  readonly bytes: number;
  readonly requests: number;
  readonly rejections: number;
  readonly watchers: number;
}

export interface TenantRow {
  readonly name: string;
  readonly prefix: string;
  readonly users: readonly string[];
  readonly certCommonNames: readonly string[];
  readonly limits: Readonly<Partial<Record<LimitName, number>>>;
  /** config: defined in the answering member's configuration, changed there, not here. */
  readonly source: 'config' | 'admin';
  readonly usage: TenantUsage;
  /** Present while the cluster does not enforce the tenant (its clients are refused): why. */
  readonly pending?: string;
}

const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The rows of a GET /api/tenants answer, by name. */
export function tenantRows(body: Record<string, unknown>): TenantRow[] {
  const list = Array.isArray(body.tenants) ? body.tenants : [];
  return list
    .map((t): TenantRow => {
      const o = record(t);
      const rawLimits = record(o.limits);
      const limits: Partial<Record<LimitName, number>> = {};
      for (const n of limitNames) if (typeof rawLimits[n] === 'number') limits[n] = rawLimits[n] as number;
      const u = record(o.usage);
      return {
        name: String(o.name ?? ''),
        prefix: String(o.prefix ?? ''),
        users: strings(o.users),
        certCommonNames: strings(o.certCommonNames),
        limits,
        source: o.source === 'config' ? 'config' : 'admin',
        usage: { keys: count(u.keys), bytes: count(u.bytes), requests: count(u.requests), rejections: count(u.rejections), watchers: count(u.watchers) },
        ...(typeof o.pending === 'string' ? { pending: o.pending } : {}),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The form's fields: text as typed; an empty limit is no limit. */
export interface TenantForm {
  readonly name: string;
  readonly prefix: string;
  /** Comma- or space-separated. */
  readonly users: string;
  readonly certCommonNames: string;
  readonly limits: Readonly<Record<LimitName, string>>;
}

export const emptyForm: TenantForm = { name: '', prefix: '', users: '', certCommonNames: '', limits: Object.fromEntries(limitNames.map((n) => [n, ''])) as Record<LimitName, string> };

export function formOf(row: TenantRow): TenantForm {
  return {
    name: row.name,
    prefix: row.prefix,
    users: row.users.join(', '),
    certCommonNames: row.certCommonNames.join(', '),
    limits: Object.fromEntries(limitNames.map((n) => [n, row.limits[n] === undefined ? '' : String(row.limits[n])])) as Record<LimitName, string>,
  };
}

const names = (text: string): string[] => text.split(/[\s,]+/).filter((s) => s !== '');

/** The PUT body for a form, or why the form cannot be sent (the server checks the rest). */
export function specBody(form: TenantForm): { readonly ok: true; readonly body: Record<string, unknown> } | { readonly ok: false; readonly error: string } {
  if (!/^[a-z0-9-]{1,63}$/.test(form.name)) return { ok: false, error: 'The name must be 1 to 63 of a-z, 0-9 and -' };
  if (form.prefix === '') return { ok: false, error: 'The prefix may not be empty' };
  const limits: Record<string, number> = {};
  for (const n of limitNames) {
    const text = form.limits[n].trim();
    if (text === '') continue;
    const v = Number(text);
    if (!Number.isFinite(v) || v < 0) return { ok: false, error: `${limitLabels[n]}: not a non-negative number` };
    limits[n] = v;
  }
  return { ok: true, body: { prefix: form.prefix, users: names(form.users), certCommonNames: names(form.certCommonNames), limits } };
}
