// One key: its value (text with JSON/YAML formatting, or base64 and a hex dump when it is not
// UTF-8), saved as compare-and-swap on the mod revision it was read at; a change by someone else
// is shown as it happens (watch feed) and again, as a conflict, if a save would overwrite it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, errorText, kvOf, request, type Kv } from './api';
import { base64ToBytes, bytesEqual, bytesToBase64, displayKey, hexDump, keyPath, utf8Bytes, utf8Text } from './bytes';
import { detectKind, prettyJson, toYaml, yamlToJson, compactJson, type Formatted } from './format';
import { KeyHistory } from './key-history';
import { textOf } from './value-text';
import { Modal } from './modal';
import { notify, reportError } from './notices';
import { watchFeed } from './watch-feed';

type Encoding = 'text' | 'base64';

interface Conflict {
  /** The key as it is now; undefined when it was deleted meanwhile. */
  readonly current: Kv | undefined;
}


/** The editor's text as the value bytes, or why it cannot be. */
function valueOf(text: string, encoding: Encoding): Uint8Array | string {
  if (encoding === 'text') return utf8Bytes(text);
  try {
    return base64ToBytes(text.replace(/\s+/g, ''));
  } catch {
    return 'not valid base64';
  }
}

export function KeyEditor(props: { keyBytes: Uint8Array; onDeleted: () => void }) {
  const { keyBytes } = props;
  const path = `/api/kv/${keyPath(keyBytes)}`;
  const [kv, setKv] = useState<Kv | undefined | 'missing'>(undefined);
  const [text, setText] = useState('');
  const [encoding, setEncoding] = useState<Encoding>('text');
  const [dirty, setDirty] = useState(false);
  const [changedElsewhere, setChangedElsewhere] = useState(false);
  const [conflict, setConflict] = useState<Conflict | undefined>(undefined);
  const [formatError, setFormatError] = useState('');
  const [showHistory, setShowHistory] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [busy, setBusy] = useState(false);
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;

  const load = async (): Promise<void> => {
    try {
      const a = await request(path, { accept: [404] });
      if (a.status === 404) {
        setKv('missing');
        return;
      }
      const next = kvOf(a.json.kv);
      setKv(next);
      const t = textOf(next.value);
      setText(t.text);
      setEncoding(t.encoding);
      setDirty(false);
      setChangedElsewhere(false);
      setConflict(undefined);
      setFormatError('');
    } catch (err) {
      reportError(`Could not read ${displayKey(keyBytes)}`, err);
    }
  };

  useEffect(() => {
    setKv(undefined);
    setShowHistory(false);
    void load();
    return watchFeed.onChange((events) => {
      if (!events.some((e) => bytesEqual(e.kv.key, keyBytes))) return;
      if (dirtyRef.current) setChangedElsewhere(true);
      else void load();
    });
  }, [path]);

  const edit = (t: string): void => {
    setText(t);
    setDirty(true);
  };

  const applyFormat = (f: Formatted): void => {
    if (!f.ok) {
      setFormatError(f.error);
      return;
    }
    setFormatError('');
    edit(f.text);
  };

  /** PUT guarded by If-Match (mod revision) or, for a key that is gone, If-None-Match. */
  const put = async (value: Uint8Array, modRevision: number | undefined): Promise<void> => {
    const headers: Record<string, string> = modRevision === undefined ? { 'If-None-Match': '*' } : { 'If-Match': String(modRevision) };
    const a = await request(path, { method: 'PUT', body: value, headers, accept: [412] });
    if (a.status === 412) {
      const e = (a.json.error ?? {}) as Record<string, unknown>;
      setConflict({ current: e.current === null || e.current === undefined ? undefined : kvOf(e.current) });
      return;
    }
    notify(`Saved ${displayKey(keyBytes)} at revision ${String(a.json.revision)}`);
    await load();
  };

  const save = async (force = false): Promise<void> => {
    const value = valueOf(text, encoding);
    if (typeof value === 'string') {
      setFormatError(value);
      return;
    }
    setBusy(true);
    try {
      const base = force ? conflict?.current?.modRevision : kv === 'missing' || kv === undefined ? undefined : kv.modRevision;
      setConflict(undefined);
      await put(value, base);
    } catch (err) {
      reportError('Save failed', err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async (): Promise<void> => {
    setConfirmDelete(false);
    try {
      // only the revision that was shown: a change made meanwhile is not deleted unseen
      const headers: Record<string, string> = kv !== undefined && kv !== 'missing' ? { 'If-Match': String(kv.modRevision) } : {};
      const a = await request(path, { method: 'DELETE', headers, accept: [412] });
      if (a.status === 412) {
        notify('Not deleted: the key changed since you opened it', 'error');
        await load();
        return;
      }
      notify(`Deleted ${displayKey(keyBytes)}`);
      props.onDeleted();
    } catch (err) {
      notify(`Delete failed: ${err instanceof ApiFailure && err.status === 404 ? 'the key is already gone' : errorText(err)}`, 'error');
    }
  };

  if (kv === undefined) return <section class="editor-pane">Loading…</section>;
  const kind = encoding === 'text' ? detectKind(text) : 'text';
  const binary = kv !== 'missing' && utf8Text(kv.value) === undefined;

  return (
    <section class="editor-pane" aria-label="Key">
      <h2 class="key-name" data-testid="key-name">
        {displayKey(keyBytes)}
      </h2>
      {kv === 'missing' ? (
        <p class="warn" data-testid="key-missing">
          This key does not exist (any more). Saving creates it again.
        </p>
      ) : (
        <dl class="meta">
          <dt>mod revision</dt>
          <dd data-testid="mod-revision">{kv.modRevision}</dd>
          <dt>created at</dt>
          <dd>{kv.createRevision}</dd>
          <dt>version</dt>
          <dd>{kv.version}</dd>
          <dt>lease</dt>
          <dd>{kv.lease === '0' ? 'none' : BigInt(kv.lease).toString(16)}</dd>
          <dt>size</dt>
          <dd>{kv.value.length} bytes</dd>
        </dl>
      )}
      {changedElsewhere && conflict === undefined && (
        <p class="warn" role="status" data-testid="changed-elsewhere">
          Someone else changed this key while you were editing. Saving will ask before overwriting it.
          <button onClick={() => void load()}>Discard my edit and reload</button>
        </p>
      )}
      {conflict !== undefined && (
        <div class="conflict" role="alert" data-testid="cas-conflict">
          <strong>Not saved: the key changed since you opened it.</strong>{' '}
          {conflict.current === undefined
            ? 'It has been deleted.'
            : `It is now at mod revision ${conflict.current.modRevision}; its value is:`}
          {conflict.current !== undefined && <pre class="value-preview">{textOf(conflict.current.value).text}</pre>}
          <div class="actions">
            <button class="danger" onClick={() => void save(true)} data-testid="overwrite">
              Overwrite with my value
            </button>
            <button onClick={() => void load()} data-testid="reload">
              Discard my edit and reload
            </button>
          </div>
        </div>
      )}
      <div class="toolbar">
        <label class="inline">
          <span>Edit as</span>
          <select
            value={encoding}
            onChange={(e) => {
              const to = e.currentTarget.value as Encoding;
              const v = valueOf(text, encoding);
              if (typeof v === 'string') return setFormatError(v);
              const t = utf8Text(v);
              if (to === 'text' && t === undefined) return setFormatError('the value is not UTF-8 text');
              setEncoding(to);
              setText(to === 'text' ? (t ?? '') : bytesToBase64(v));
            }}
          >
            <option value="text">text</option>
            <option value="base64">base64</option>
          </select>
        </label>
        {encoding === 'text' && (
          <>
            <button onClick={() => applyFormat(prettyJson(text))} disabled={kind !== 'json'}>
              Pretty JSON
            </button>
            <button onClick={() => applyFormat(compactJson(text))} disabled={kind !== 'json'}>
              Compact JSON
            </button>
            <button onClick={() => applyFormat(toYaml(text))} disabled={kind === 'text'}>
              As YAML
            </button>
            <button onClick={() => applyFormat(yamlToJson(text))} disabled={kind !== 'yaml'}>
              As JSON
            </button>
          </>
        )}
        <span class="badge">{encoding === 'base64' ? 'binary' : kind}</span>
      </div>
      {formatError !== '' && <p class="error">{formatError}</p>}
      <textarea class="value" aria-label="Value" data-testid="value-editor" spellcheck={false} value={text} onInput={(e) => edit(e.currentTarget.value)} />
      {binary && encoding === 'base64' && <pre class="hexdump" aria-label="Hex dump">{hexDump(kv.value)}</pre>}
      <div class="actions">
        <button class="primary" disabled={busy || (!dirty && kv !== 'missing')} onClick={() => void save()} data-testid="save">
          Save
        </button>
        <button disabled={!dirty} onClick={() => void load()}>
          Revert
        </button>
        <button onClick={() => setShowHistory(!showHistory)} data-testid="history-toggle" aria-expanded={showHistory}>
          History
        </button>
        {kv !== 'missing' && (
          <button class="danger" onClick={() => setConfirmDelete(true)} data-testid="delete-key">
            Delete
          </button>
        )}
      </div>
      {showHistory && <KeyHistory keyBytes={keyBytes} current={kv === 'missing' ? undefined : kv} onRestore={(value) => put(value, kv === 'missing' ? undefined : kv.modRevision)} />}
      {confirmDelete && (
        <Modal title="Delete this key?" onClose={() => setConfirmDelete(false)}>
          <p>
            <code>{displayKey(keyBytes)}</code> will be deleted. Its history stays until the next compaction.
          </p>
          <div class="actions">
            <button onClick={() => setConfirmDelete(false)}>Cancel</button>
            <button class="danger" onClick={() => void remove()} data-testid="confirm-delete-key">
              Delete
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}

/** A form for a key that does not exist yet (If-None-Match: * so an existing one is not replaced). */
export function NewKey(props: { onCreated: (key: Uint8Array) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [lease, setLease] = useState('');
  const [error, setError] = useState('');
  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    const key = utf8Bytes(name);
    if (key.length === 0) return setError('a key needs a name');
    const q = lease.trim() === '' ? '' : `?lease=${encodeURIComponent(lease.trim())}`;
    try {
      const a = await request(`/api/kv/${keyPath(key)}${q}`, { method: 'PUT', body: value, headers: { 'If-None-Match': '*' }, accept: [412] });
      if (a.status === 412) return setError('that key exists already; open it from the tree to edit it');
      notify(`Created ${displayKey(key)}`);
      props.onCreated(key);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section class="editor-pane" aria-label="New key">
      <h2>New key</h2>
      <form onSubmit={(e) => void create(e)} class="stack">
        <label>
          Key
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="app/config" data-testid="new-key-name" required />
        </label>
        <label>
          Value
          <textarea class="value" value={value} onInput={(e) => setValue(e.currentTarget.value)} data-testid="new-key-value" spellcheck={false} />
        </label>
        <label>
          Lease (optional, decimal or 0x… hex)
          <input value={lease} onInput={(e) => setLease(e.currentTarget.value)} placeholder="0x694d7a2c8e6a1d01" />
        </label>
        {error !== '' && <p class="error">{error}</p>}
        <div class="actions">
          <button type="submit" class="primary" data-testid="create">
            Create
          </button>
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
