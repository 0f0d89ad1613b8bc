// Export a prefix as JSON (every page, at one revision) and import such a file back.
import { useEffect, useState } from 'preact/hooks';
import { getJson, postJson } from './api';
import { keyPath, utf8Bytes } from './bytes';
import { notify, reportError } from './notices';

/** The export shown in the page (it is downloaded whole). */
const maxShownChars = 200_000;
/** Pages an export follows before giving up (each up to 10,000 keys). */
const maxExportPages = 100;
/** A file larger than this is not read into the page for import. */
const maxImportFileBytes = 64 * 1024 * 1024;

export function TransferView() {
  const [prefix, setPrefix] = useState('');
  const [exported, setExported] = useState('');
  const [count, setCount] = useState<number | undefined>(undefined);
  const [download, setDownload] = useState<string | undefined>(undefined);
  const [importText, setImportText] = useState('');
  const [keepLeases, setKeepLeases] = useState(false);

  useEffect(() => () => download !== undefined && URL.revokeObjectURL(download), [download]);

  const runExport = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const base = `/api/export/${keyPath(utf8Bytes(prefix))}?limit=10000`;
      let a = await getJson(base);
      const first = a.json;
      const kvs: unknown[] = Array.isArray(first.kvs) ? [...(first.kvs as unknown[])] : [];
      for (let page = 1; typeof a.json.next === 'string' && page < maxExportPages; page++) {
        a = await getJson(`${base}&continue=${encodeURIComponent(a.json.next)}`);
        if (Array.isArray(a.json.kvs)) kvs.push(...(a.json.kvs as unknown[]));
      }
      const whole = { prefix: first.prefix, ...(first.prefix_encoding === undefined ? {} : { prefix_encoding: first.prefix_encoding }), revision: first.revision, kvs };
      const text = JSON.stringify(whole, null, 2);
      setExported(text.length > maxShownChars ? `${text.slice(0, maxShownChars)}\n… (download for the rest)` : text);
      setCount(kvs.length);
      setDownload(URL.createObjectURL(new Blob([text], { type: 'application/json' })));
    } catch (err) {
      reportError('Export failed', err);
    }
  };

  const readFile = async (input: HTMLInputElement): Promise<void> => {
    const file = input.files?.[0];
    if (file === undefined) return;
    if (file.size > maxImportFileBytes) return notify(`The file is larger than ${maxImportFileBytes / 1024 / 1024} MiB`, 'error');
    setImportText(await file.text());
  };

  const runImport = async (): Promise<void> => {
    let doc: unknown;
    try {
      doc = JSON.parse(importText);
    } catch (err) {
      return reportError('Not JSON', err);
    }
    const kvs = (doc as { kvs?: unknown }).kvs;
    if (!Array.isArray(kvs)) return notify('The JSON needs a "kvs" array, as an export has', 'error');
    const items = kvs.map((kv: Record<string, unknown>) => {
      const out: Record<string, unknown> = {};
      for (const f of ['key', 'value', 'key_encoding', 'value_encoding']) if (kv[f] !== undefined) out[f] = kv[f];
      if (keepLeases && kv.lease !== undefined && kv.lease !== '0') out.lease = kv.lease;
      return out;
    });
    try {
      const a = await postJson('/api/import', { kvs: items });
      notify(`Imported ${String(a.json.imported)} keys`);
    } catch (err) {
      reportError('Import failed', err);
    }
  };

  return (
    <section aria-label="Import and export" class="cards two">
      <div class="card">
        <h3>Export a prefix</h3>
        <form class="toolbar" onSubmit={(e) => void runExport(e)}>
          <input placeholder="prefix (empty: every key)" value={prefix} onInput={(e) => setPrefix(e.currentTarget.value)} data-testid="export-prefix" />
          <button class="primary" type="submit" data-testid="export">
            Export
          </button>
          {download !== undefined && (
            <a class="button" href={download} download={`lattice-export${prefix === '' ? '' : `-${prefix.replace(/[^A-Za-z0-9._-]+/g, '_')}`}.json`}>
              Download JSON
            </a>
          )}
        </form>
        {count !== undefined && <p data-testid="export-count">{count} keys</p>}
        {exported !== '' && <pre class="json-out">{exported}</pre>}
      </div>
      <div class="card">
        <h3>Import</h3>
        <p class="tree-note">A JSON export (keys are written as they are; existing ones are replaced).</p>
        <input type="file" accept="application/json,.json" aria-label="JSON file" onChange={(e) => void readFile(e.currentTarget)} />
        <textarea class="value" placeholder='{"kvs":[{"key":"app/a","value":"1"}]}' value={importText} onInput={(e) => setImportText(e.currentTarget.value)} data-testid="import-text" spellcheck={false} />
        <label class="inline">
          <input type="checkbox" checked={keepLeases} onChange={(e) => setKeepLeases(e.currentTarget.checked)} />
          <span>keep lease IDs (they must exist here)</span>
        </label>
        <div class="actions">
          <button class="primary" onClick={() => void runImport()} disabled={importText.trim() === ''} data-testid="import">
            Import
          </button>
        </div>
      </div>
    </section>
  );
}
