// A key's revisions (what /api/kv/<key>?history still holds), a line diff between any two of them,
// and a one-click restore of an old value (saved as compare-and-swap like any edit).
import { useEffect, useState } from 'preact/hooks';
import { getJson, kvOf, type Kv } from './api';
import { keyPath } from './bytes';
import { lineDiff } from './diff';
import { textOf } from './value-text';
import { reportError } from './notices';

interface Revision {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: Kv;
}

const previewChars = 80;

export function KeyHistory(props: { keyBytes: Uint8Array; current: Kv | undefined; onRestore: (value: Uint8Array) => Promise<void> }) {
  const [revisions, setRevisions] = useState<Revision[] | undefined>(undefined);
  const [truncated, setTruncated] = useState(false);
  const [from, setFrom] = useState<number | undefined>(undefined);
  const [to, setTo] = useState<number | undefined>(undefined);

  useEffect(() => {
    let live = true;
    getJson(`/api/kv/${keyPath(props.keyBytes)}?history`)
      .then((a) => {
        if (!live) return;
        const events = Array.isArray(a.json.events) ? (a.json.events as Record<string, unknown>[]) : [];
        const list: Revision[] = events.map((e) => ({ type: e.type === 'DELETE' ? 'DELETE' : 'PUT', kv: kvOf(e.kv) }));
        setRevisions(list);
        setTruncated(a.json.truncated === true);
        const puts = list.filter((r) => r.type === 'PUT');
        setTo(puts[puts.length - 1]?.kv.modRevision);
        setFrom(puts[puts.length - 2]?.kv.modRevision ?? puts[puts.length - 1]?.kv.modRevision);
      })
      .catch((err: unknown) => reportError('History failed', err));
    return () => {
      live = false;
    };
  }, [props.current?.modRevision]);

  if (revisions === undefined) return <div class="history">Loading history…</div>;
  const puts = revisions.filter((r) => r.type === 'PUT');
  const putRevisions = puts.map((p) => p.kv.modRevision);
  const textAt = (rev: number | undefined): string => {
    const r = puts.find((p) => p.kv.modRevision === rev);
    return r === undefined ? '' : textOf(r.kv.value).text;
  };
  const diff = from !== undefined && to !== undefined ? lineDiff(textAt(from), textAt(to)) : [];

  return (
    <div class="history" data-testid="history">
      <h3>History</h3>
      {truncated && <p class="tree-note">Only the oldest revisions are shown (the history is longer than one page).</p>}
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th>revision</th>
              <th>change</th>
              <th>version</th>
              <th>value</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {[...revisions].reverse().map((r) => {
              const isCurrent = props.current !== undefined && r.kv.modRevision === props.current.modRevision;
              const preview = r.type === 'PUT' ? textOf(r.kv.value).text : '';
              return (
                <tr key={r.kv.modRevision} data-testid="history-row">
                  <td>{r.kv.modRevision}</td>
                  <td>{r.type === 'PUT' ? (r.kv.version === 1 ? 'created' : 'updated') : 'deleted'}</td>
                  <td>{r.type === 'PUT' ? r.kv.version : ''}</td>
                  <td class="preview">{preview.length > previewChars ? `${preview.slice(0, previewChars)}…` : preview}</td>
                  <td>
                    {r.type === 'PUT' && !isCurrent && (
                      <button onClick={() => void props.onRestore(r.kv.value)} data-testid="restore">
                        Restore
                      </button>
                    )}
                    {isCurrent && <span class="badge">current</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {puts.length > 0 && (
        <>
          <div class="toolbar">
            <RevisionPicker label="Diff from" revisions={putRevisions} value={from} onPick={setFrom} testId="diff-from" />
            <RevisionPicker label="to" revisions={putRevisions} value={to} onPick={setTo} testId="diff-to" />
          </div>
          <pre class="diff" data-testid="diff">
            {diff.map((d, i) => (
              <div key={i} class={`diff-${d.op}`}>
                {d.op === 'add' ? '+ ' : d.op === 'del' ? '- ' : '  '}
                {d.text}
              </div>
            ))}
          </pre>
        </>
      )}
    </div>
  );
}

function RevisionPicker(props: { label: string; revisions: readonly number[]; value: number | undefined; onPick: (revision: number) => void; testId: string }) {
  return (
    <label class="inline">
      <span>{props.label}</span>
      <select value={String(props.value)} onChange={(e) => props.onPick(Number(e.currentTarget.value))} data-testid={props.testId}>
        {props.revisions.map((r) => (
          <option key={r} value={String(r)}>
            {r}
          </option>
        ))}
      </select>
    </label>
  );
}
