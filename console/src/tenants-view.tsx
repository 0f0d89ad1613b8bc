// Tenants (/api/tenants): each one's prefix, who belongs to it, its limits and what it uses now (keys
// and bytes stored, the same on every member; watchers and requests on this member), refreshed every
// few seconds; create, change and delete for an admin (root when auth is on). A tenant from the
// member's configuration is changed in the configuration, so it has no Edit or Delete here.
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, errorText, getJson, request } from './api';
import { formatBytesSize } from './bytes';
import { Modal } from './modal';
import { notify, reportError } from './notices';
import { watchFeed } from './watch-feed';
import { emptyForm, formOf, limitLabels, limitNames, specBody, tenantRows, type TenantForm, type TenantRow } from './tenant-rows';

const refreshMs = 5_000;
/** Key changes closer together than this cause one reload (usage follows writes under a prefix). */
const reloadDebounceMs = 500;

/** "3 of 10" with a meter when there is a limit; the bare number otherwise. */
function Used(props: { used: number; limit: number | undefined; format?: (n: number) => string; testId: string }) {
  const f = props.format ?? String;
  if (props.limit === undefined) return <span data-testid={props.testId}>{f(props.used)}</span>;
  return (
    <div>
      <span data-testid={props.testId}>
        {f(props.used)} of {f(props.limit)}
      </span>
      <meter min={0} max={Math.max(props.limit, 1)} high={props.limit * 0.8} value={Math.min(props.used, props.limit)} aria-label={`${props.testId} used`} />
    </div>
  );
}

const rate = (n: number | undefined, unit: string): string | undefined => (n === undefined ? undefined : `${n} ${unit}`);

function TenantFormModal(props: { initial: TenantForm; editing: boolean; onDone: () => void; onClose: () => void }) {
  const [form, setForm] = useState(props.initial);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<TenantForm>): void => setForm({ ...form, ...patch });

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const spec = specBody(form);
    if (!spec.ok) return notify(spec.error, 'error');
    setBusy(true);
    try {
      const a = await request(`/api/tenants/${encodeURIComponent(form.name)}`, { method: 'PUT', body: JSON.stringify(spec.body), headers: { 'Content-Type': 'application/json' } });
      notify(a.status === 201 ? `Created tenant ${form.name}` : `Saved tenant ${form.name}`);
      props.onDone();
    } catch (err) {
      reportError(props.editing ? 'Saving the tenant failed' : 'Creating the tenant failed', err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={props.editing ? `Tenant ${form.name}` : 'New tenant'} onClose={props.onClose}>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <label>
          Name
          <input value={form.name} disabled={props.editing} onInput={(e) => set({ name: e.currentTarget.value })} placeholder="team-a" data-testid="tenant-name" />
        </label>
        <label>
          Key prefix {props.editing && <span class="tree-note">(a tenant keeps its prefix)</span>}
          <input value={form.prefix} disabled={props.editing} onInput={(e) => set({ prefix: e.currentTarget.value })} placeholder="/tenants/team-a/" data-testid="tenant-prefix" />
        </label>
        <label>
          Users
          <input value={form.users} onInput={(e) => set({ users: e.currentTarget.value })} placeholder="alice, bob" data-testid="tenant-users" />
        </label>
        <label>
          Client certificate names
          <input value={form.certCommonNames} onInput={(e) => set({ certCommonNames: e.currentTarget.value })} placeholder="svc-a" data-testid="tenant-cns" />
        </label>
        <fieldset class="limits">
          <legend>Limits (empty: none)</legend>
          {limitNames.map((n) => (
            <label key={n}>
              {limitLabels[n]}
              <input inputMode="decimal" value={form.limits[n]} onInput={(e) => set({ limits: { ...form.limits, [n]: e.currentTarget.value } })} data-testid={`tenant-limit-${n}`} />
            </label>
          ))}
        </fieldset>
        <div class="actions">
          <button class="primary" type="submit" disabled={busy} data-testid="tenant-save">
            {props.editing ? 'Save' : 'Create'}
          </button>
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function TenantsView() {
  const [rows, setRows] = useState<TenantRow[] | undefined>(undefined);
  const [refused, setRefused] = useState('');
  const [editing, setEditing] = useState<{ form: TenantForm; existing: boolean } | undefined>(undefined);
  const [deleting, setDeleting] = useState<TenantRow | undefined>(undefined);

  const reload = async (): Promise<void> => {
    try {
      setRows(tenantRows((await getJson('/api/tenants')).json));
      setRefused('');
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 403) setRefused(errorText(err));
      else reportError('Could not list tenants', err);
    }
  };

  useEffect(() => {
    void reload();
    const refresh = setInterval(() => void reload(), refreshMs);
    let debounce: ReturnType<typeof setTimeout> | undefined;
    const off = watchFeed.onChange(() => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(), reloadDebounceMs);
    });
    return () => {
      clearTimeout(debounce);
      clearInterval(refresh);
      off();
    };
  }, []);

  const remove = async (row: TenantRow): Promise<void> => {
    try {
      await request(`/api/tenants/${encodeURIComponent(row.name)}`, { method: 'DELETE' });
      notify(`Deleted tenant ${row.name}; its keys stay`);
      setDeleting(undefined);
      await reload();
    } catch (err) {
      reportError('Deleting the tenant failed', err);
    }
  };

  if (refused !== '') return <p class="error">Tenants are managed by an admin (the root role): {refused}</p>;
  return (
    <section aria-label="Tenants">
      <div class="toolbar">
        <button class="primary" onClick={() => setEditing({ form: emptyForm, existing: false })} data-testid="new-tenant">
          New tenant
        </button>
        <span class="tree-note">Keys and bytes are the cluster's; watchers and requests are this member's.</span>
      </div>
      {rows === undefined ? (
        <p>Loading…</p>
      ) : rows.length === 0 ? (
        <p class="tree-note">No tenants.</p>
      ) : (
        <div class="table-scroll">
          <table data-testid="tenants">
            <thead>
              <tr>
                <th>tenant</th>
                <th>prefix</th>
                <th>users / certificates</th>
                <th>keys</th>
                <th>stored</th>
                <th>watchers</th>
                <th>requests (refused)</th>
                <th>rates</th>
                <th>lease TTL</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={t.name} data-testid="tenant" data-tenant={t.name}>
                  <td>
                    <strong>{t.name}</strong> {t.source === 'config' && <span class="badge" title="defined in this member's configuration">config</span>}
                    {t.pending !== undefined && (
                      <div class="tree-note" data-testid="tenant-pending" title="not enforced by the cluster: its clients are refused (not capable)">
                        pending: {t.pending}
                      </div>
                    )}
                  </td>
                  <td>
                    <code>{t.prefix}</code>
                  </td>
                  <td>{[...t.users, ...t.certCommonNames.map((c) => `CN=${c}`)].join(', ') || <span class="tree-note">nobody</span>}</td>
                  <td>
                    <Used used={t.usage.keys} limit={t.limits.maxKeys} testId="tenant-keys" />
                  </td>
                  <td>
                    <Used used={t.usage.bytes} limit={t.limits.maxBytes} format={formatBytesSize} testId="tenant-bytes" />
                  </td>
                  <td>
                    <Used used={t.usage.watchers} limit={t.limits.maxWatchers} testId="tenant-watchers" />
                  </td>
                  <td data-testid="tenant-requests">
                    {t.usage.requests} ({t.usage.rejections})
                  </td>
                  <td>{[rate(t.limits.requestsPerSecond, 'req/s'), rate(t.limits.bytesPerSecond, 'B/s')].filter((x) => x !== undefined).join(', ') || '—'}</td>
                  <td>{t.limits.leaseTtlMinSeconds === undefined && t.limits.leaseTtlMaxSeconds === undefined ? '—' : `${t.limits.leaseTtlMinSeconds ?? 0}–${t.limits.leaseTtlMaxSeconds ?? '∞'} s`}</td>
                  <td class="row-actions">
                    {t.source === 'admin' && (
                      <>
                        <button onClick={() => setEditing({ form: formOf(t), existing: true })} data-testid="edit-tenant">
                          Edit
                        </button>{' '}
                        <button class="danger" onClick={() => setDeleting(t)} data-testid="delete-tenant">
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing !== undefined && (
        <TenantFormModal
          initial={editing.form}
          editing={editing.existing}
          onClose={() => setEditing(undefined)}
          onDone={() => {
            setEditing(undefined);
            void reload();
          }}
        />
      )}
      {deleting !== undefined && (
        <Modal title={`Delete tenant ${deleting.name}`} onClose={() => setDeleting(undefined)}>
          <p>
            Its clients become unconfined users at once (only their RBAC permissions limit them, over the whole key space); the {deleting.usage.keys} keys under{' '}
            <code>{deleting.prefix}</code> stay in the store.
          </p>
          <div class="actions">
            <button class="danger" onClick={() => void remove(deleting)} data-testid="confirm-delete-tenant">
              Delete tenant
            </button>
            <button onClick={() => setDeleting(undefined)}>Cancel</button>
          </div>
        </Modal>
      )}
    </section>
  );
}
