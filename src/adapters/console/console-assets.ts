// The built web console (scripts/build-console.mjs → dist/console), read once into memory: the
// handler serves only these bytes, so nothing under /ui touches the disk per request.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

export interface ConsoleAssets {
  readonly index: Buffer;
  /** By file name under /ui/assets/ (content-hashed, so cacheable forever). */
  readonly assets: ReadonlyMap<string, ConsoleAsset>;
}

/** Why the console cannot be served (not built): the handler answers 503 with it. */
export interface ConsoleMissing {
  readonly missing: string;
}

/** dist/console beside the compiled server (dist/src/adapters/console/ → dist/console/). */
export const defaultConsoleDir = fileURLToPath(new URL('../../../console/', import.meta.url));

const assetName = /^console-[A-Za-z0-9_-]+\.(js|css)$/;
const contentTypes: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

function isManifest(v: unknown): v is { script: string; style: string } {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.script === 'string' && typeof o.style === 'string' && assetName.test(o.script) && assetName.test(o.style);
}

export function loadConsoleAssets(dir: string = defaultConsoleDir): ConsoleAssets | ConsoleMissing {
  try {
    const manifest: unknown = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    if (!isManifest(manifest)) return { missing: `${join(dir, 'manifest.json')} is not a console manifest` };
    const assets = new Map<string, ConsoleAsset>();
    for (const name of [manifest.script, manifest.style]) {
      const ext = name.slice(name.lastIndexOf('.') + 1);
      assets.set(name, { body: readFileSync(join(dir, 'assets', name)), contentType: contentTypes[ext] ?? 'application/octet-stream' });
    }
    return { index: readFileSync(join(dir, 'index.html')), assets };
  } catch (err) {
    return { missing: `the web console is not built (${err instanceof Error ? err.message : String(err)}); run npm run build` };
  }
}
