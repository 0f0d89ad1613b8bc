#!/usr/bin/env node
// Bundles the web console (console/src, Preact) into dist/console: one JS and one CSS asset with
// content-hashed names (served with a year's cache), an index.html naming them, and manifest.json
// for the server (src/adapters/console/console-assets.ts). No network at build or run time.
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(repoRoot, 'dist', 'console');
const assetsDir = join(outDir, 'assets');

// only what this script writes: tsc puts the console's unit-tested modules under dist/console/src
rmSync(assetsDir, { recursive: true, force: true });
mkdirSync(assetsDir, { recursive: true });

const result = await build({
  entryPoints: [join(repoRoot, 'console', 'src', 'main.tsx')],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: assetsDir,
  entryNames: 'console-[hash]',
  assetNames: 'console-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((f) => f.endsWith('.js'));
const style = outputs.find((f) => f.endsWith('.css'));
if (script === undefined || style === undefined) throw new Error(`console build: expected one .js and one .css, got ${outputs.join(', ')}`);

// No inline script or style: the page runs under default-src 'self'.
const index = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Lattice console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/${style}">
<script type="module" src="assets/${script}"></script>
</head>
<body>
<div id="app"><noscript>The Lattice console needs JavaScript.</noscript></div>
</body>
</html>
`;
writeFileSync(join(outDir, 'index.html'), index);
writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify({ script, style }, null, 2)}\n`);
console.log(`console: dist/console/assets/${script}, ${style}`);
