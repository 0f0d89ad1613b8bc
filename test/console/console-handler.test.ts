// /ui on its own: the redirect to /ui/, index.html and hashed assets from memory with their cache
// rules, the strict Content-Security-Policy and safety headers on every answer, 405/404/403, and a
// 503 that says how to build the console when it is not built.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { consoleContentSecurityPolicy, createConsoleHandler, type ConsoleHandlerOptions } from '../../src/adapters/console/console-handler.js';
import { defaultConsoleDir, loadConsoleAssets } from '../../src/adapters/console/console-assets.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

const s = suite('console handler');

function fakeBuild(): string {
  const dir = makeTempDir('console-assets');
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ script: 'console-AAAA.js', style: 'console-BBBB.css' }));
  writeFileSync(join(dir, 'assets', 'console-AAAA.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'console-BBBB.css'), 'body{}');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="assets/console-AAAA.js"></script>');
  return dir;
}

async function serve(options: ConsoleHandlerOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const handler = createConsoleHandler(options);
  const server = http.createServer((req, res) => {
    void Promise.resolve(handler(req, res)).then((handled) => {
      if (!handled) {
        res.statusCode = 418;
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

function assertSafetyHeaders(res: Response): void {
  assert.is(res.headers.get('content-security-policy'), consoleContentSecurityPolicy);
  assert.is(res.headers.get('x-content-type-options'), 'nosniff');
  assert.is(res.headers.get('x-frame-options'), 'DENY');
  assert.is(res.headers.get('access-control-allow-origin'), null);
}

s('the policy allows only this origin, no inline script or style, and no framing', () => {
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
    assert.ok(consoleContentSecurityPolicy.includes(d), d);
  }
  assert.not.match(consoleContentSecurityPolicy, /unsafe-inline|unsafe-eval|\*/);
});

s('/ui redirects to /ui/, which serves index.html uncached under the policy', async () => {
  const dir = fakeBuild();
  const srv = await serve({ assets: loadConsoleAssets(dir) });
  try {
    const redirect = await fetch(`${srv.url}/ui`, { redirect: 'manual' });
    assert.is(redirect.status, 308);
    assert.is(redirect.headers.get('location'), '/ui/');
    const index = await fetch(`${srv.url}/ui/`);
    assert.is(index.status, 200);
    assert.is(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.is(index.headers.get('cache-control'), 'no-cache');
    assertSafetyHeaders(index);
    assert.match(await index.text(), /console-AAAA\.js/);
  } finally {
    await srv.close();
    removeTempDir(dir);
  }
});

s('hashed assets are served with a year-long immutable cache; anything else under /ui is 404', async () => {
  const dir = fakeBuild();
  const srv = await serve({ assets: loadConsoleAssets(dir) });
  try {
    const js = await fetch(`${srv.url}/ui/assets/console-AAAA.js`);
    assert.is(js.status, 200);
    assert.is(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.is(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assertSafetyHeaders(js);
    assert.is(await js.text(), 'console.log(1)');
    const css = await fetch(`${srv.url}/ui/assets/console-BBBB.css`);
    assert.is(css.headers.get('content-type'), 'text/css; charset=utf-8');
    for (const path of ['/ui/assets/console-CCCC.js', '/ui/manifest.json', '/ui/assets/..%2Fmanifest.json', '/ui/other']) {
      const r = await fetch(`${srv.url}${path}`);
      assert.is(r.status, 404, path);
      assertSafetyHeaders(r);
    }
    const head = await fetch(`${srv.url}/ui/assets/console-AAAA.js`, { method: 'HEAD' });
    assert.is(head.status, 200);
    assert.is(await head.text(), '');
  } finally {
    await srv.close();
    removeTempDir(dir);
  }
});

s('other methods are 405, a foreign Host is 403, and paths outside /ui are left to other handlers', async () => {
  const dir = fakeBuild();
  const srv = await serve({ assets: loadConsoleAssets(dir) });
  try {
    const post = await fetch(`${srv.url}/ui/`, { method: 'POST', body: 'x' });
    assert.is(post.status, 405);
    assert.is(post.headers.get('allow'), 'GET, HEAD');
    const rebinding = await new Promise<number>((resolve, reject) => {
      const u = new URL(srv.url);
      http.get({ host: u.hostname, port: u.port, path: '/ui/', headers: { Host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.is(rebinding, 403);
    assert.is((await fetch(`${srv.url}/uix`)).status, 418);
    assert.is((await fetch(`${srv.url}/api/status`)).status, 418);
  } finally {
    await srv.close();
    removeTempDir(dir);
  }
});

s('without a build /ui/ answers 503 saying how to build it', async () => {
  const dir = makeTempDir('console-missing');
  const srv = await serve({ assets: loadConsoleAssets(dir) });
  try {
    const r = await fetch(`${srv.url}/ui/`);
    assert.is(r.status, 503);
    assert.match(await r.text(), /npm run build/);
  } finally {
    await srv.close();
    removeTempDir(dir);
  }
});

s('the built index.html (when built) loads only its two hashed assets and has no inline script or style', () => {
  const built = loadConsoleAssets(defaultConsoleDir);
  if ('missing' in built) {
    console.log(`SKIP: ${built.missing}`);
    return;
  }
  const html = readFileSync(join(defaultConsoleDir, 'index.html'), 'utf8');
  assert.not.match(html, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.not.match(html, /<style|style=/);
  assert.not.match(html, /https?:\/\//);
  assert.is(built.assets.size, 2);
});

s.run();
