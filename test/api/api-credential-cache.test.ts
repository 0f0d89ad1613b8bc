// The Basic-credential cache of /api: reuse within its time, dropped when the auth revision changes,
// bounded in size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CredentialCache } from '../../src/adapters/api/api-credential-cache.js';

test('a verified credential is reused until its time is up, and only with the same password', () => {
  let now = 1000;
  const c = new CredentialCache({ ttlMs: 100, now: () => now });
  c.set('alice', 'pw', 5, 'tok');
  assert.is(c.get('alice', 'pw', 5), 'tok');
  assert.is(c.get('alice', 'other', 5), undefined);
  now += 100;
  assert.is(c.get('alice', 'pw', 5), undefined);
});

test('a change of the auth revision (password change, role change, disable) drops every entry', () => {
  const c = new CredentialCache({ now: () => 0 });
  c.set('alice', 'pw', 5, 'a');
  c.set('bob', 'pw', 5, 'b');
  assert.is(c.get('alice', 'pw', 6), undefined);
  assert.is(c.size, 0);
});

test('the cache holds at most maxEntries, dropping the oldest', () => {
  const c = new CredentialCache({ maxEntries: 2, now: () => 0 });
  c.set('a', 'p', 1, 'ta');
  c.set('b', 'p', 1, 'tb');
  c.set('c', 'p', 1, 'tc');
  assert.is(c.size, 2);
  assert.is(c.get('a', 'p', 1), undefined);
  assert.is(c.get('c', 'p', 1), 'tc');
});

test.run();
