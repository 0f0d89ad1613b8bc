// The key tree: one level of /api/tree per open folder (split on "/"), reloaded when the watch feed
// reports a change, and a substring search over key names.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, getJson, request } from './api';
import { bytesId, displayKey, keyPath, startsWith, utf8Bytes, wireBytes } from './bytes';
import { Modal } from './modal';
import { notify, reportError } from './notices';
import { watchFeed } from './watch-feed';

interface Entry {
  readonly kind: 'dir' | 'key';
  readonly key: Uint8Array;
}

interface Level {
  readonly entries: readonly Entry[];
  readonly more: boolean;
}

/** Keys a search looks through (one page of names). */
export const maxSearchKeys = 10_000;
/** Matches shown for a search. */
const maxSearchResults = 500;
/** Changes arriving closer together than this cause one reload. */
const reloadDebounceMs = 300;

function entriesOf(list: unknown, kind: Entry['kind']): Entry[] {
  if (!Array.isArray(list)) return [];
  return list.map((o: Record<string, unknown>) => ({ kind, key: wireBytes(o.key, o.key_encoding) }));
}

async function loadLevel(prefix: Uint8Array): Promise<Level> {
  const a = await getJson(`/api/tree/${keyPath(prefix)}`);
  const entries = [...entriesOf(a.json.dirs, 'dir'), ...entriesOf(a.json.keys, 'key')];
  return { entries, more: a.json.more === true };
}

export function KeyTree(props: { selected: Uint8Array | undefined; onSelect: (key: Uint8Array) => void; onCreate: () => void }) {
  const [levels, setLevels] = useState<ReadonlyMap<string, Level>>(new Map());
  // where the tree starts: every key, or a prefix for a user who may not read them all
  const [base, setBase] = useState<Uint8Array>(new Uint8Array(0));
  const [baseText, setBaseText] = useState('');
  const [refused, setRefused] = useState('');
  const [open, setOpen] = useState<ReadonlyMap<string, Uint8Array>>(new Map([['', new Uint8Array(0)]]));
  const [search, setSearch] = useState('');
  const [results, setResults] = useState<Uint8Array[] | undefined>(undefined);
  const [searchNote, setSearchNote] = useState('');
  const [deleting, setDeleting] = useState<Uint8Array | undefined>(undefined);
  const openRef = useRef(open);
  openRef.current = open;
  const searchRef = useRef(search);
  searchRef.current = search;
  const baseRef = useRef(base);
  baseRef.current = base;

  const reload = async (): Promise<void> => {
    const next = new Map<string, Level>();
    await Promise.all(
      [...openRef.current].map(async ([id, prefix]) => {
        const isRoot = id === bytesId(baseRef.current);
        try {
          next.set(id, await loadLevel(prefix));
          if (isRoot) setRefused('');
        } catch (err) {
          if (isRoot && err instanceof ApiFailure && err.status === 403) setRefused(err.message);
          else if (isRoot) reportError('Could not list keys', err);
        }
      }),
    );
    setLevels(next);
    if (searchRef.current !== '') await runSearch(searchRef.current);
  };

  const runSearch = async (term: string): Promise<void> => {
    if (term === '') {
      setResults(undefined);
      return;
    }
    try {
      const a = await getJson(`/api/kv/${keyPath(baseRef.current)}?prefix&keys_only&limit=${maxSearchKeys}`);
      const kvs = Array.isArray(a.json.kvs) ? (a.json.kvs as Record<string, unknown>[]) : [];
      const needle = term.toLowerCase();
      const hits = kvs.map((o) => wireBytes(o.key, o.key_encoding)).filter((k) => displayKey(k).toLowerCase().includes(needle));
      setResults(hits.slice(0, maxSearchResults));
      setSearchNote(
        `${hits.length} match${hits.length === 1 ? '' : 'es'}` +
          (hits.length > maxSearchResults ? ` (first ${maxSearchResults} shown)` : '') +
          (a.json.more === true ? ` among the first ${maxSearchKeys} keys` : ''),
      );
    } catch (err) {
      reportError('Search failed', err);
    }
  };

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = watchFeed.onChange(() => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), reloadDebounceMs);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, []);

  useEffect(() => {
    void reload();
  }, [open]);

  useEffect(() => {
    const t = setTimeout(() => void runSearch(search), 200);
    return () => clearTimeout(t);
  }, [search]);

  const browseUnder = (e: Event): void => {
    e.preventDefault();
    const b = utf8Bytes(baseText);
    setBase(b);
    baseRef.current = b;
    setOpen(new Map([[bytesId(b), b]]));
  };

  const toggle = (prefix: Uint8Array): void => {
    const id = bytesId(prefix);
    const next = new Map(open);
    if (next.has(id)) {
      for (const [k, p] of next) if (k !== bytesId(base) && startsWith(p, prefix)) next.delete(k);
    } else {
      next.set(id, prefix);
    }
    setOpen(next);
  };

  const renderLevel = (prefix: Uint8Array, depth: number) => {
    const level = levels.get(bytesId(prefix));
    if (level === undefined) return <li class="tree-note">loading…</li>;
    if (level.entries.length === 0 && depth === 0) return <li class="tree-note">No keys yet.</li>;
    return (
      <>
        {level.entries.map((e) => {
          const id = bytesId(e.key);
          const label = displayKey(e.key.subarray(prefix.length)) || '(empty)';
          if (e.kind === 'dir') {
            const isOpen = open.has(id);
            return (
              <li key={`d${id}`} class="tree-dir">
                <div class="tree-row">
                  <button class="tree-toggle" aria-expanded={isOpen} data-testid="tree-dir" title={displayKey(e.key)} onClick={() => toggle(e.key)}>
                    <span class="caret">{isOpen ? '▾' : '▸'}</span> {label}
                  </button>
                  <button class="icon danger" title={`Delete every key under ${displayKey(e.key)}`} data-testid="delete-prefix" onClick={() => setDeleting(e.key)}>
                    Delete…
                  </button>
                </div>
                {isOpen && <ul>{renderLevel(e.key, depth + 1)}</ul>}
              </li>
            );
          }
          const selected = props.selected !== undefined && bytesId(props.selected) === id;
          return (
            <li key={`k${id}`}>
              <button class={`tree-key${selected ? ' selected' : ''}`} data-testid="tree-key" title={displayKey(e.key)} onClick={() => props.onSelect(e.key)}>
                {label}
              </button>
            </li>
          );
        })}
        {level.more && <li class="tree-note">More keys here than one page shows: use search.</li>}
      </>
    );
  };

  return (
    <section class="tree-pane" aria-label="Keys">
      <div class="toolbar">
        <input type="search" placeholder="Search keys…" aria-label="Search keys" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <button class="primary" onClick={props.onCreate} data-testid="new-key">
          New key
        </button>
        <button onClick={() => setDeleting(new Uint8Array(0))} title="Delete keys under a prefix" data-testid="delete-prefix-any">
          Delete prefix…
        </button>
      </div>
      {(refused !== '' || base.length > 0) && (
        <form class="toolbar" onSubmit={browseUnder}>
          {refused !== '' && <p class="warn">You may not list these keys ({refused}). Browse under a prefix you may read:</p>}
          <input placeholder="prefix, e.g. app/" aria-label="Browse under prefix" value={baseText} onInput={(e) => setBaseText(e.currentTarget.value)} data-testid="browse-under" />
          <button type="submit">Browse</button>
        </form>
      )}
      {results !== undefined ? (
        <>
          <p class="tree-note">{searchNote}</p>
          <ul class="tree search-results">
            {results.map((k) => (
              <li key={bytesId(k)}>
                <button class="tree-key" data-testid="tree-key" onClick={() => props.onSelect(k)}>
                  {displayKey(k)}
                </button>
              </li>
            ))}
          </ul>
        </>
      ) : (
        <ul class="tree">{refused === '' && renderLevel(base, 0)}</ul>
      )}
      {deleting !== undefined && <DeletePrefix initial={deleting} onClose={() => setDeleting(undefined)} onDone={() => void reload()} />}
    </section>
  );
}

/** Counts the keys under a prefix, then deletes them after an explicit confirmation. */
function DeletePrefix(props: { initial: Uint8Array; onClose: () => void; onDone: () => void }) {
  const editable = props.initial.length === 0;
  const [text, setText] = useState(displayKey(props.initial));
  const [count, setCount] = useState<number | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const prefix = editable ? utf8Bytes(text) : props.initial;

  useEffect(() => {
    setCount(undefined);
    if (prefix.length === 0) return;
    let live = true;
    getJson(`/api/kv/${keyPath(prefix)}?prefix&count_only`)
      .then((a) => live && setCount(typeof a.json.count === 'number' ? a.json.count : 0))
      .catch((err: unknown) => reportError('Count failed', err));
    return () => {
      live = false;
    };
  }, [text]);

  const confirm = async (): Promise<void> => {
    setBusy(true);
    try {
      const a = await request(`/api/kv/${keyPath(prefix)}?prefix`, { method: 'DELETE' });
      notify(`Deleted ${String(a.json.deleted ?? count ?? 0)} keys under ${displayKey(prefix)}`);
      props.onDone();
      props.onClose();
    } catch (err) {
      reportError('Delete failed', err);
      setBusy(false);
    }
  };

  return (
    <Modal title="Delete a prefix" onClose={props.onClose}>
      {editable ? (
        <label>
          Prefix
          <input value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="e.g. app/cache/" data-testid="delete-prefix-input" />
        </label>
      ) : (
        <p>
          Every key whose name starts with <code>{displayKey(prefix)}</code>
        </p>
      )}
      <p data-testid="delete-prefix-count">
        {prefix.length === 0 ? 'Enter a prefix (deleting everything is not offered here).' : count === undefined ? 'Counting…' : `${count} key${count === 1 ? '' : 's'} will be deleted. This cannot be undone.`}
      </p>
      <div class="actions">
        <button onClick={props.onClose}>Cancel</button>
        <button class="danger" disabled={busy || prefix.length === 0 || count === undefined || count === 0} onClick={() => void confirm()} data-testid="confirm-delete-prefix">
          Delete {count ?? ''} keys
        </button>
      </div>
    </Modal>
  );
}
