// Members of the cluster and this endpoint's status: leader, revisions, raft position, database
// size against what is in use, alarms.
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api';
import { formatBytesSize } from './bytes';
import { reportError } from './notices';

const refreshMs = 5_000;

interface Member {
  readonly id_hex: string;
  readonly name: string;
  readonly peer_urls: readonly string[];
  readonly client_urls: readonly string[];
  readonly is_learner: boolean;
  readonly is_leader: boolean;
}

type Status = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

function alarmText(a: unknown): string {
  if (typeof a === 'string') return a;
  if (typeof a === 'object' && a !== null) {
    const o = a as Record<string, unknown>;
    return [str(o.alarm ?? o.type ?? o.kind), str(o.member_id ?? o.memberId ?? o.memberID)].filter((s) => s !== '').join(' on member ') || JSON.stringify(a);
  }
  return String(a);
}

export function ClusterView() {
  const [members, setMembers] = useState<Member[] | undefined>(undefined);
  const [status, setStatus] = useState<Status | undefined>(undefined);

  const reload = async (): Promise<void> => {
    try {
      const [m, s] = await Promise.all([getJson('/api/members'), getJson('/api/status')]);
      setMembers(Array.isArray(m.json.members) ? (m.json.members as Member[]) : []);
      setStatus(s.json);
    } catch (err) {
      reportError('Could not read the cluster', err);
    }
  };

  useEffect(() => {
    void reload();
    const t = setInterval(() => void reload(), refreshMs);
    return () => clearInterval(t);
  }, []);

  if (members === undefined || status === undefined) return <p>Loading…</p>;
  const dbSize = Number(status.db_size ?? 0);
  const inUse = Number(status.db_size_in_use ?? 0);
  const alarms = Array.isArray(status.alarms) ? status.alarms : [];
  const errors = Array.isArray(status.errors) ? status.errors : [];
  const leader = members.find((m) => m.is_leader);

  return (
    <section aria-label="Cluster">
      <div class="status-card">
        <div class="card" data-testid="status">
          <h3>This endpoint</h3>
          <dl class="meta">
            <dt>name</dt>
            <dd>{str(status.name)}</dd>
            <dt>member</dt>
            <dd>
              <code>{str(status.member_id_hex)}</code>
            </dd>
            <dt>version</dt>
            <dd>{str(status.version)}</dd>
            <dt>leader</dt>
            <dd data-testid="leader">
              {leader !== undefined ? `${leader.name} (${leader.id_hex})` : str(status.leader_hex) === '0' ? 'none' : str(status.leader_hex)}
              {status.is_leader === true ? ' — this member' : ''}
            </dd>
            <dt>revision</dt>
            <dd data-testid="revision">{str(status.revision)}</dd>
            <dt>compacted at</dt>
            <dd>{str(status.compact_revision)}</dd>
            <dt>raft term / index</dt>
            <dd>
              {str(status.raft_term)} / {str(status.raft_index)}
            </dd>
            <dt>db size</dt>
            <dd data-testid="db-size">
              {formatBytesSize(inUse)} in use of {formatBytesSize(dbSize)}
              <meter min={0} max={Math.max(dbSize, 1)} value={inUse} aria-label="database in use" />
            </dd>
            <dt>alarms</dt>
            <dd data-testid="alarms" class={alarms.length > 0 ? 'error' : ''}>
              {alarms.length === 0 ? 'none' : alarms.map(alarmText).join(', ')}
            </dd>
            {errors.length > 0 && (
              <>
                <dt>errors</dt>
                <dd class="error">{errors.map((e) => String(e)).join('; ')}</dd>
              </>
            )}
          </dl>
        </div>
      </div>
      <h3>Members</h3>
      <div class="table-scroll">
        <table data-testid="members">
          <thead>
            <tr>
              <th>name</th>
              <th>ID</th>
              <th>role</th>
              <th>client URLs</th>
              <th>peer URLs</th>
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.id_hex}>
                <td>{m.name === '' ? '(not started)' : m.name}</td>
                <td>
                  <code>{m.id_hex}</code>
                </td>
                <td>{m.is_leader ? 'leader' : m.is_learner ? 'learner' : 'follower'}</td>
                <td>{m.client_urls.join(', ')}</td>
                <td>{m.peer_urls.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <button onClick={() => void reload()}>Refresh</button>
    </section>
  );
}
