// Users and roles when auth is on. /api has no users endpoint, so this reads etcd's JSON gateway
// (/v3/auth/user/list, …/get, /v3/auth/role/list, …/get), which needs the root role.
import { useEffect, useState } from 'preact/hooks';
import { errorText, postJson } from './api';
import { base64ToBytes, displayKey } from './bytes';

interface UserRow {
  readonly name: string;
  readonly roles: readonly string[];
}

interface Permission {
  readonly type: string;
  readonly range: string;
}

interface RoleRow {
  readonly name: string;
  readonly perms: readonly Permission[];
}

/** Users or roles whose details are fetched. */
const maxAuthEntries = 200;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

/** etcd's permission range in words: one key, a prefix, from a key on, or [key, end). */
function rangeText(key: Uint8Array, end: Uint8Array): string {
  const k = displayKey(key);
  if (end.length === 0) return k;
  if (end.length === 1 && end[0] === 0) return `${k} and every key after it`;
  const prefixEnd = key.slice();
  for (let i = prefixEnd.length - 1; i >= 0; i--) {
    if (prefixEnd[i]! < 0xff) {
      prefixEnd[i]! += 1;
      const p = prefixEnd.subarray(0, i + 1);
      if (p.length === end.length && p.every((b, j) => b === end[j])) return `${k}* (prefix)`;
      break;
    }
  }
  return `[${k}, ${displayKey(end)})`;
}

export function UsersView() {
  const [users, setUsers] = useState<UserRow[] | undefined>(undefined);
  const [roles, setRoles] = useState<RoleRow[] | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    void (async () => {
      try {
        const names = strings((await postJson('/v3/auth/user/list', {})).json.users).slice(0, maxAuthEntries);
        setUsers(await Promise.all(names.map(async (name) => ({ name, roles: strings((await postJson('/v3/auth/user/get', { name })).json.roles) }))));
        const roleNames = strings((await postJson('/v3/auth/role/list', {})).json.roles).slice(0, maxAuthEntries);
        setRoles(
          await Promise.all(
            roleNames.map(async (role) => {
              const perm = (await postJson('/v3/auth/role/get', { role })).json.perm;
              const perms = (Array.isArray(perm) ? (perm as Record<string, unknown>[]) : []).map((p) => ({
                // proto3 JSON leaves out the zero value, READ
                type: typeof p.permType === 'string' ? p.permType : 'READ',
                range: rangeText(base64ToBytes(String(p.key ?? '')), base64ToBytes(String(p.range_end ?? ''))),
              }));
              return { name: role, perms };
            }),
          ),
        );
      } catch (err) {
        setError(errorText(err));
      }
    })();
  }, []);

  if (error !== '') return <p class="error">Could not read users and roles: {error} (this needs the root role)</p>;
  return (
    <section aria-label="Users and roles" class="cards two">
      <div class="card">
        <h3>Users</h3>
        {users === undefined ? (
          <p>Loading…</p>
        ) : (
          <table data-testid="users">
            <thead>
              <tr>
                <th>user</th>
                <th>roles</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}</td>
                  <td>{u.roles.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div class="card">
        <h3>Roles</h3>
        {roles === undefined ? (
          <p>Loading…</p>
        ) : (
          <table data-testid="roles">
            <thead>
              <tr>
                <th>role</th>
                <th>permissions</th>
              </tr>
            </thead>
            <tbody>
              {roles.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td>
                  <td>
                    {r.name === 'root' ? 'everything' : r.perms.length === 0 ? 'none' : r.perms.map((p, i) => <div key={i}>{`${p.type}: ${p.range}`}</div>)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
