// The web console in a real browser (Debian's headless Chromium driven by playwright-core), once per
// engine against a real Lattice process: browse the key tree, create, edit with a compare-and-swap
// conflict made by etcdctl in between, delete a prefix, a live watch, a lease counting down until its
// key vanishes, the cluster view, the tenants view, and a login once auth is on. One browser for the whole file, one
// server and one page per engine.
// CONSOLE_SCREENSHOTS=1 also saves each main view to docs/console/*.png (memory engine).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chromium, type Browser, type Page } from 'playwright-core';
import { engines, startLattice, type Engine, type LatticeServer } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { forgetLeftover, recordLeftover } from '../helpers/ledger.js';
import { repoPath } from '../helpers/paths.js';
import { withTimeout } from '../helpers/spec.js';
import { missingTools, skip } from '../helpers/tools.js';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const testTimeoutMs = 30_000;
/** How long a locator waits for what the page should show. */
const uiWaitMs = 10_000;
// long enough that a loaded machine still shows the countdown before the key vanishes
const leaseTtlS = 5;
const screenshots = process.env.CONSOLE_SCREENSHOTS === '1';
const screenshotDir = repoPath('docs', 'console');

/** The bundle the server serves; built here when only tsc ran (npm run build / npm test build it). */
function ensureConsoleBuilt(): void {
  if (existsSync(repoPath('dist', 'console', 'manifest.json'))) return;
  const r = spawnSync(process.execPath, [repoPath('scripts', 'build-console.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the console failed: ${r.stderr}`);
}

/**
 * Chromium runs in a process group of its own (playwright starts it detached): its pid goes in the
 * runner's ledger so a file killed outright does not leave the browser behind.
 */
async function launchBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const server = await chromium.launchServer({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const pid = server.process().pid;
  if (pid !== undefined) recordLeftover('pid', String(pid));
  const close = async (): Promise<void> => {
    await server.close();
    if (pid !== undefined) forgetLeftover('pid', String(pid));
  };
  try {
    return { browser: await chromium.connect(server.wsEndpoint()), close };
  } catch (err) {
    await close();
    throw err;
  }
}
let browserPromise: ReturnType<typeof launchBrowser> | undefined;
const browser = async (): Promise<Browser> => (await (browserPromise ??= launchBrowser())).browser;

async function shot(page: Page, engine: Engine, name: string): Promise<void> {
  if (!screenshots || engine !== 'memory') return;
  mkdirSync(screenshotDir, { recursive: true });
  // the toasts of earlier steps would cover the view (a click dismisses one)
  const notices = page.getByTestId('notice');
  while ((await notices.count()) > 0) await notices.first().click().catch(() => {});
  await page.screenshot({ path: `${screenshotDir}/${name}.png` });
}

async function get(url: string, key: string): Promise<string> {
  const r = await etcdctl(url, ['get', key, '--print-value-only']);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.replace(/\n$/, '');
}

async function put(url: string, key: string, value: string): Promise<void> {
  const r = await etcdctl(url, ['put', key, value]);
  assert.is(r.code, 0, r.stderr);
}

/** Polls a condition until it holds (the page updates asynchronously). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = uiWaitMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Fixture {
  server: LatticeServer;
  url: string;
  page: Page;
  /** Messages the browser logged as errors (a CSP violation shows up here). */
  errors: string[];
}

const missing = !existsSync(chromiumPath) ? `${chromiumPath} not installed (Debian's chromium package)` : missingTools(['etcdctl']);

for (const [i, engine] of engines.entries()) {
  const name = `web console in Chromium (${engine})`;
  const s = suite<{ f?: Fixture }>(name, {});
  const it = (testName: string, body: (f: Fixture) => Promise<void>): void => {
    if (missing !== null) {
      s.skip(testName, () => {});
      return;
    }
    s(testName, async (ctx) => {
      if (ctx.f === undefined) throw new Error('the server or the browser did not start (see above)');
      await withTimeout(body(ctx.f), testTimeoutMs, testName);
      // a CSP violation or an uncaught error in any view fails the step that caused it
      const errors = ctx.f.errors.splice(0);
      assert.equal(errors, [], `browser errors: ${errors.join(' | ')}`);
    });
  };
  if (missing !== null) skip(`${name}: ${missing}`);

  s.before(async (ctx) => {
    if (missing !== null) return;
    try {
      ensureConsoleBuilt();
      const [server, b] = await Promise.all([startLattice(engine), browser()]);
      const context = await b.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      page.setDefaultTimeout(uiWaitMs);
      const errors: string[] = [];
      // an answer the console expects (404 for a missing key, 412 for a conflict) is still logged by Chrome
      page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      ctx.f = { server, url: server.endpoint, page, errors };
    } catch (err) {
      console.error(`[${name}] did not start:`, err);
    }
  });
  s.after(async (ctx) => {
    try {
      await ctx.f?.page.context().close();
    } finally {
      try {
        await ctx.f?.server.stop();
      } finally {
        ctx.f = undefined;
        if (i === engines.length - 1 && browserPromise !== undefined) await (await browserPromise).close();
      }
    }
  });

  it('the key tree lists folders split on "/", opens a key, and renders hostile or binary keys as text', async ({ url, page, errors }) => {
    await put(url, 'app/config', '{"debug":false,"workers":4}');
    await put(url, 'app/db/url', 'postgres://db:5432/app');
    await put(url, '<img src=x onerror=alert(1)>', 'x');
    const bin = await fetch(`${url}/api/kv/bin/%FF%FE?encoding=base64`, { method: 'PUT', body: '3q2+7w==' });
    assert.is(bin.status, 200);
    const head = await fetch(`${url}/ui/`);
    assert.match(head.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/);
    // etcd's CORS-for-everyone stays on etcd's paths
    assert.is(head.headers.get('access-control-allow-origin'), null);
    await page.goto(`${url}/ui/`);
    await page.getByTestId('tree-dir').filter({ hasText: 'app/' }).click();
    await page.getByTestId('tree-dir').filter({ hasText: 'db/' }).waitFor();
    await page.getByTestId('tree-key').filter({ hasText: 'config' }).click();
    await page.getByTestId('key-name').filter({ hasText: 'app/config' }).waitFor();
    assert.is(await page.getByTestId('value-editor').inputValue(), '{"debug":false,"workers":4}');
    await page.getByRole('button', { name: 'Pretty JSON' }).click();
    assert.match(await page.getByTestId('value-editor').inputValue(), /\n {2}"debug": false/);
    await page.getByRole('button', { name: 'Revert' }).click();
    // the hostile key is text, not markup
    await page.getByTestId('tree-key').filter({ hasText: '<img src=x onerror=alert(1)>' }).waitFor();
    assert.is(await page.locator('img').count(), 0);
    await page.getByTestId('tree-dir').filter({ hasText: 'bin/' }).click();
    await page.getByTestId('tree-key').filter({ hasText: '\\xff\\xfe' }).click();
    await page.getByTestId('key-name').filter({ hasText: 'bin/\\xff\\xfe' }).waitFor();
    assert.is(await page.getByTestId('value-editor').inputValue(), '3q2+7w==');
    await page.getByTestId('tree-key').filter({ hasText: 'config' }).click();
    await page.getByTestId('key-name').filter({ hasText: 'app/config' }).waitFor();
    await shot(page, engine, 'keys');
    assert.equal(errors, []);
  });

  it('a key created in the form is written only if it did not exist', async ({ url, page }) => {
    await page.getByTestId('new-key').click();
    await page.getByTestId('new-key-name').fill('app/feature/flags');
    await page.getByTestId('new-key-value').fill('dark-mode: true\nbeta: [a, b]');
    await page.getByTestId('create').click();
    await page.getByTestId('key-name').filter({ hasText: 'app/feature/flags' }).waitFor();
    assert.is(await get(url, 'app/feature/flags'), 'dark-mode: true\nbeta: [a, b]');
    await page.getByRole('button', { name: 'As JSON' }).click();
    assert.match(await page.getByTestId('value-editor').inputValue(), /"dark-mode": true/);
    await page.getByRole('button', { name: 'Revert' }).click();
    await page.getByTestId('new-key').click();
    await page.getByTestId('new-key-name').fill('app/config');
    await page.getByTestId('create').click();
    await page.getByText('that key exists already').waitFor();
    assert.is(await get(url, 'app/config'), '{"debug":false,"workers":4}');
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  it('a save after etcdctl changed the key warns of the conflict instead of overwriting, then overwrites on request', async ({ url, page }) => {
    await page.getByTestId('tree-key').filter({ hasText: 'config' }).click();
    await page.getByTestId('key-name').filter({ hasText: 'app/config' }).waitFor();
    await page.getByTestId('value-editor').fill('{"debug":true,"workers":8}');
    await put(url, 'app/config', '{"debug":false,"workers":16}');
    // the watch feed tells the open editor at once
    await page.getByTestId('changed-elsewhere').waitFor();
    await page.getByTestId('save').click();
    await page.getByTestId('cas-conflict').waitFor();
    assert.match(await page.getByTestId('cas-conflict').innerText(), /workers":16/);
    assert.is(await get(url, 'app/config'), '{"debug":false,"workers":16}');
    await shot(page, engine, 'conflict');
    await page.getByTestId('overwrite').click();
    await eventually('the overwrite', async () => (await get(url, 'app/config')) === '{"debug":true,"workers":8}');
    await page.getByTestId('cas-conflict').waitFor({ state: 'detached' });
  });

  it("a key's history shows every revision with a diff, and restores an old value", async ({ url, page }) => {
    await page.getByTestId('history-toggle').click();
    await eventually('three revisions', async () => (await page.getByTestId('history-row').count()) === 3);
    assert.match(await page.getByTestId('diff').innerText(), /- \{"debug":false,"workers":16\}\n\+ \{"debug":true,"workers":8\}/);
    await shot(page, engine, 'history');
    // the oldest row is last; restoring it is a compare-and-swap like any save
    await page.getByTestId('history-row').last().getByTestId('restore').click();
    await eventually('the restore', async () => (await get(url, 'app/config')) === '{"debug":false,"workers":4}');
    await eventually('the new revision listed', async () => (await page.getByTestId('history-row').count()) === 4);
    await page.getByTestId('history-toggle').click();
  });

  it('deleting a prefix asks for confirmation with the number of keys, then deletes them all; one key is deleted from its editor', async ({ url, page }) => {
    for (const k of ['tmp/a', 'tmp/b', 'tmp/c/d']) await put(url, k, 'x');
    await put(url, 'tmpfile', 'stays');
    const dir = page.locator('.tree-row').filter({ has: page.getByTestId('tree-dir').filter({ hasText: 'tmp/' }) });
    await dir.hover();
    await dir.getByTestId('delete-prefix').click();
    await page.getByTestId('delete-prefix-count').filter({ hasText: '3 keys will be deleted' }).waitFor();
    await shot(page, engine, 'delete-prefix');
    await page.getByTestId('confirm-delete-prefix').click();
    await eventually('the prefix gone', async () => (await etcdctl(url, ['get', 'tmp/', '--prefix', '--keys-only'])).stdout.trim() === '');
    assert.is(await get(url, 'tmpfile'), 'stays');
    await page.getByTestId('tree-dir').filter({ hasText: 'tmp/' }).waitFor({ state: 'detached' });
    // one key, from its editor, after its own confirmation
    await page.getByTestId('tree-key').filter({ hasText: 'tmpfile' }).click();
    await page.getByTestId('key-name').filter({ hasText: 'tmpfile' }).waitFor();
    await page.getByTestId('delete-key').click();
    await page.getByTestId('confirm-delete-key').click();
    await page.getByTestId('tree-key').filter({ hasText: 'tmpfile' }).waitFor({ state: 'detached' });
    assert.is(await get(url, 'tmpfile'), '');
  });

  it('a put made by etcdctl appears live in the watch pane', async ({ url, page }) => {
    await page.getByTestId('tab-watch').click();
    await page.getByTestId('watch-state').filter({ hasText: 'live' }).waitFor();
    await put(url, 'live/news', 'hello from etcdctl');
    const ev = page.getByTestId('watch-event').filter({ hasText: 'live/news' });
    await ev.waitFor();
    assert.match(await ev.first().innerText(), /PUT[\s\S]*hello from etcdctl/);
    await shot(page, engine, 'watch');
  });

  it('a lease counts down in the leases view and its key vanishes when it expires', async ({ url, page }) => {
    await page.getByTestId('tab-leases').click();
    await page.getByTestId('lease-ttl').fill(String(leaseTtlS));
    await page.getByTestId('lease-key').fill('session/me');
    await page.getByTestId('lease-value').fill('here');
    await page.getByTestId('grant').click();
    const card = page.getByTestId('lease').filter({ hasText: 'session/me' });
    await card.waitFor();
    assert.is(await get(url, 'session/me'), 'here');
    const left = async (): Promise<number> => Number((await card.getByTestId('lease-ttl-left').innerText()).replace(/\D+/g, ''));
    const first = await left();
    assert.ok(first <= leaseTtlS && first >= 1, `starts at ${first} s`);
    await shot(page, engine, 'leases');
    await eventually('the countdown', async () => (await left()) < first);
    await card.waitFor({ state: 'detached', timeout: (leaseTtlS + 5) * 1000 });
    assert.is(await get(url, 'session/me'), '');
  });

  it('the cluster view shows the leader, the revision, db size against in use, and no alarms', async ({ page }) => {
    await page.getByTestId('tab-cluster').click();
    await page.getByTestId('leader').filter({ hasText: 'this member' }).waitFor();
    assert.match(await page.getByTestId('revision').innerText(), /^\d+$/);
    assert.match(await page.getByTestId('db-size').innerText(), /in use of/);
    assert.is(await page.getByTestId('alarms').innerText(), 'none');
    assert.is(await page.getByTestId('members').locator('tbody tr').count(), 1);
    await shot(page, engine, 'cluster');
  });

  it('export of a prefix lists its keys as JSON', async ({ page }) => {
    await page.getByTestId('tab-transfer').click();
    await page.getByTestId('export-prefix').fill('app/');
    await page.getByTestId('export').click();
    await page.getByTestId('export-count').filter({ hasText: '3 keys' }).waitFor();
    await shot(page, engine, 'transfer');
  });

  it('import writes the keys of a pasted JSON export', async ({ url, page }) => {
    const doc = { kvs: [{ key: 'imported/a', value: '1' }, { key: 'imported/b', value: '/w==', value_encoding: 'base64', lease: '12345' }] };
    await page.getByTestId('import-text').fill(JSON.stringify(doc));
    await page.getByTestId('import').click();
    await page.getByTestId('notice').filter({ hasText: 'Imported 2 keys' }).waitFor();
    assert.is(await get(url, 'imported/a'), '1');
    const b = await fetch(`${url}/api/kv/imported/b?raw`);
    assert.equal([...new Uint8Array(await b.arrayBuffer())], [0xff]);
  });

  it('the tenants view creates a tenant, shows its keys against its limit as they are written, changes a limit and deletes it', async ({ url, page }) => {
    await page.getByTestId('tab-tenants').click();
    await page.getByTestId('new-tenant').click();
    await page.getByTestId('tenant-name').fill('team-a');
    await page.getByTestId('tenant-prefix').fill('/tenants/team-a/');
    await page.getByTestId('tenant-users').fill('alice, bob');
    await page.getByTestId('tenant-limit-maxKeys').fill('10');
    await page.getByTestId('tenant-limit-requestsPerSecond').fill('50');
    await page.getByTestId('tenant-save').click();
    const row = page.getByTestId('tenant').filter({ hasText: 'team-a' });
    await row.getByTestId('tenant-keys').filter({ hasText: '0 of 10' }).waitFor();
    for (const k of ['a', 'b', 'c']) await put(url, `/tenants/team-a/${k}`, 'value');
    // the watch feed tells the view of the writes
    await row.getByTestId('tenant-keys').filter({ hasText: '3 of 10' }).waitFor();
    await shot(page, engine, 'tenants');
    await row.getByTestId('edit-tenant').click();
    await page.getByTestId('tenant-limit-maxKeys').fill('20');
    await page.getByTestId('tenant-save').click();
    await row.getByTestId('tenant-keys').filter({ hasText: '3 of 20' }).waitFor();
    const stored = (await (await fetch(`${url}/api/tenants/team-a`)).json()) as { users: string[]; limits: Record<string, number> };
    assert.equal(stored.users, ['alice', 'bob']);
    assert.equal(stored.limits, { requestsPerSecond: 50, maxKeys: 20 });
    await row.getByTestId('delete-tenant').click();
    await page.getByTestId('confirm-delete-tenant').click();
    await row.waitFor({ state: 'detached' });
    assert.is((await fetch(`${url}/api/tenants/team-a`)).status, 404);
  });

  it('with auth on the console asks for a login, refuses a wrong password, then shows keys and users', async ({ url, page }) => {
    for (const args of [['user', 'add', 'root:rootpw', '--interactive=false'], ['auth', 'enable']]) {
      const r = await etcdctl(url, args);
      assert.is(r.code, 0, r.stderr);
    }
    // a fresh load: nothing of the session before is kept
    await page.goto('about:blank');
    await page.goto(`${url}/ui/#keys`);
    await page.getByTestId('login-user').fill('root');
    await page.getByTestId('login-password').fill('wrong');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor();
    await shot(page, engine, 'login');
    await page.getByTestId('login-password').fill('rootpw');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('tree-dir').filter({ hasText: 'app/' }).waitFor();
    await page.getByTestId('tab-users').click();
    await page.getByTestId('users').getByText('root').first().waitFor();
    await page.getByTestId('roles').getByText('everything').waitFor();
    await shot(page, engine, 'users');
  });

  if (screenshots && engine === 'memory') {
    it('on a phone the tree and a key are one pane at a time', async ({ url, page }) => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByTestId('tab-keys').click();
      await page.getByTestId('tree-dir').filter({ hasText: 'app/' }).click();
      await page.getByTestId('tree-key').filter({ hasText: 'config' }).click();
      await page.getByTestId('key-name').waitFor();
      await shot(page, engine, 'phone');
      assert.ok(url);
    });
  }

  it('a user who may read only a prefix is told so and browses under it', async ({ url, page }) => {
    const root = '--user=root:rootpw';
    for (const args of [
      ['role', 'add', 'reader'],
      ['role', 'grant-permission', 'reader', 'read', 'app/', '--prefix=true'],
      ['user', 'add', 'alice:alicepw', '--interactive=false'],
      ['user', 'grant-role', 'alice', 'reader'],
    ]) {
      const r = await etcdctl(url, [root, ...args]);
      assert.is(r.code, 0, r.stderr);
    }
    await page.getByTestId('tab-keys').click();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-user').fill('alice');
    await page.getByTestId('login-password').fill('alicepw');
    await page.getByTestId('login-submit').click();
    await page.getByText('You may not list these keys').waitFor();
    await page.getByTestId('browse-under').fill('app/');
    await page.getByRole('button', { name: 'Browse', exact: true }).click();
    await page.getByTestId('tree-key').filter({ hasText: 'config' }).click();
    await page.getByTestId('key-name').filter({ hasText: 'app/config' }).waitFor();
    assert.is(await page.getByTestId('value-editor').inputValue(), '{"debug":false,"workers":4}');
  });

  s.run();
}
