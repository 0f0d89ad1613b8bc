// Leases: each one's remaining TTL counting down (from the server's answer, then the local clock),
// its attached keys, keep-alive and revoke; grant a new one, optionally with a key attached.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, postJson, request } from './api';
import { bytesId, displayKey, keyPath, utf8Bytes, wireBytes } from './bytes';
import { notify, reportError } from './notices';
import { watchFeed } from './watch-feed';

interface LeaseRow {
  readonly id: string;
  readonly idHex: string;
  readonly grantedTtl: number;
  /** Local clock time (ms) at which the TTL the server reported runs out. */
  readonly expiresAt: number;
  readonly keys: readonly Uint8Array[];
}

/** Leases whose details are fetched; more are listed by ID only. */
export const maxLeasesShown = 200;
const refreshMs = 5_000;
const tickMs = 250;
/** Key changes (a lease's key deleted, a key attached) closer together than this cause one reload. */
const reloadDebounceMs = 500;

async function loadLeases(): Promise<{ rows: LeaseRow[]; total: number }> {
  const list = await getJson('/api/leases');
  const ids = (Array.isArray(list.json.leases) ? (list.json.leases as Record<string, unknown>[]) : []).map((l) => String(l.id));
  const rows = await Promise.all(
    ids.slice(0, maxLeasesShown).map(async (id): Promise<LeaseRow | undefined> => {
      const asked = Date.now();
      const a = await getJson(`/api/leases/${id}`, [404]);
      if (a.status === 404) return undefined;
      const keys = Array.isArray(a.json.keys) ? (a.json.keys as Record<string, unknown>[]).map((k) => wireBytes(k.key, k.key_encoding)) : [];
      const ttl = typeof a.json.ttl === 'number' ? a.json.ttl : 0;
      return { id, idHex: String(a.json.id_hex ?? ''), grantedTtl: Number(a.json.granted_ttl ?? 0), expiresAt: asked + ttl * 1000, keys };
    }),
  );
  return { rows: rows.filter((r): r is LeaseRow => r !== undefined), total: ids.length };
}

export function LeasesView() {
  const [rows, setRows] = useState<LeaseRow[] | undefined>(undefined);
  const [total, setTotal] = useState(0);
  const [now, setNow] = useState(Date.now());
  const [ttl, setTtl] = useState('60');
  const [attachKey, setAttachKey] = useState('');
  const [attachValue, setAttachValue] = useState('');
  const rowsRef = useRef(rows);
  rowsRef.current = rows;

  const reload = async (): Promise<void> => {
    try {
      const r = await loadLeases();
      setRows(r.rows);
      setTotal(r.total);
    } catch (err) {
      reportError('Could not list leases', err);
    }
  };

  useEffect(() => {
    void reload();
    const refresh = setInterval(() => void reload(), refreshMs);
    const tick = setInterval(() => {
      const t = Date.now();
      setNow(t);
      // a lease that has run out locally: ask the server whether it is really gone
      if ((rowsRef.current ?? []).some((r) => r.expiresAt <= t - tickMs)) void reload();
    }, tickMs);
    let debounce: ReturnType<typeof setTimeout> | undefined;
    const off = watchFeed.onChange(() => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(), reloadDebounceMs);
    });
    return () => {
      clearTimeout(debounce);
      clearInterval(refresh);
      clearInterval(tick);
      off();
    };
  }, []);

  const grant = async (e: Event): Promise<void> => {
    e.preventDefault();
    const seconds = Number(ttl);
    if (!Number.isInteger(seconds) || seconds <= 0) return notify('TTL must be a whole number of seconds', 'error');
    try {
      const a = await postJson('/api/leases', { ttl: seconds });
      const id = String(a.json.id);
      if (attachKey !== '') {
        await request(`/api/kv/${keyPath(utf8Bytes(attachKey))}?lease=${id}`, { method: 'PUT', body: attachValue });
      }
      notify(`Granted lease ${String(a.json.id_hex)} (${seconds} s)${attachKey === '' ? '' : ` with ${attachKey}`}`);
      await reload();
    } catch (err) {
      reportError('Grant failed', err);
    }
  };

  const keepAlive = async (id: string): Promise<void> => {
    try {
      await request(`/api/leases/${id}/keepalive`, { method: 'POST' });
      await reload();
    } catch (err) {
      reportError('Keep-alive failed', err);
    }
  };

  const revoke = async (id: string): Promise<void> => {
    try {
      await request(`/api/leases/${id}`, { method: 'DELETE' });
      notify('Lease revoked; its keys are deleted');
      await reload();
    } catch (err) {
      reportError('Revoke failed', err);
    }
  };

  return (
    <section aria-label="Leases">
      <form class="toolbar" onSubmit={(e) => void grant(e)}>
        <label class="inline">
          <span>TTL (s)</span>
          <input class="narrow" inputMode="numeric" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} data-testid="lease-ttl" />
        </label>
        <input placeholder="attach key (optional)" value={attachKey} onInput={(e) => setAttachKey(e.currentTarget.value)} data-testid="lease-key" />
        <input placeholder="value" value={attachValue} onInput={(e) => setAttachValue(e.currentTarget.value)} data-testid="lease-value" />
        <button class="primary" type="submit" data-testid="grant">
          Grant lease
        </button>
      </form>
      {rows === undefined ? (
        <p>Loading…</p>
      ) : rows.length === 0 ? (
        <p class="tree-note">No leases.</p>
      ) : (
        <ul class="cards">
          {rows.map((r) => {
            const left = Math.max(0, Math.ceil((r.expiresAt - now) / 1000));
            return (
              <li key={r.id} class="card" data-testid="lease" data-lease-id={r.idHex}>
                <div class="card-head">
                  <code>{r.idHex}</code>
                  <span class={`countdown${left <= 5 ? ' low' : ''}`} data-testid="lease-ttl-left">
                    {left} s
                  </span>
                </div>
                <meter min={0} max={r.grantedTtl} value={Math.min(left, r.grantedTtl)} aria-label="time left" />
                <p class="tree-note">granted {r.grantedTtl} s</p>
                <ul class="lease-keys" aria-label="Attached keys">
                  {r.keys.length === 0 ? <li class="tree-note">no keys attached</li> : r.keys.map((k) => <li key={bytesId(k)} data-testid="lease-attached-key">{displayKey(k)}</li>)}
                </ul>
                <div class="actions">
                  <button onClick={() => void keepAlive(r.id)}>Keep alive</button>
                  <button class="danger" onClick={() => void revoke(r.id)}>
                    Revoke
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {total > maxLeasesShown && <p class="tree-note">{total - maxLeasesShown} more leases not shown.</p>}
    </section>
  );
}
