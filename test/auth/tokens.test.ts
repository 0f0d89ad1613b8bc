// Simple tokens (TTL refreshed on use, gone when the user is deleted or auth disabled) and JWT tokens
// (signed with jose; forged, expired and other-key tokens refused).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimpleTokens } from '../../src/auth/simple-tokens.js';
import { JwtTokens, parseGoDuration, parseJwtOptions } from '../../src/auth/jwt-tokens.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

const simple = suite('simple tokens');

simple('a token lives its TTL after its last use, then is refused', () => {
  let now = 0;
  const tokens = new SimpleTokens({ ttlMs: 300_000, nowMs: () => now, random: () => 0.5 });
  tokens.assigned('abc.7', 'alice');
  now = 299_000;
  assert.equal(tokens.info('abc.7', 4), { user: 'alice', revision: 4 });
  now = 598_000;
  assert.equal(tokens.info('abc.7', 4), { user: 'alice', revision: 4 });
  now = 898_001;
  assert.is(tokens.info('abc.7', 4), undefined);
});

simple('deleting or changing a user drops its tokens; disabling auth drops them all', () => {
  const tokens = new SimpleTokens({ ttlMs: 1000, nowMs: () => 0, random: Math.random });
  tokens.assigned('a.1', 'alice');
  tokens.assigned('b.2', 'bob');
  tokens.userInvalidated('alice');
  assert.is(tokens.info('a.1', 1), undefined);
  assert.ok(tokens.info('b.2', 1));
  tokens.disabled();
  assert.is(tokens.size, 0);
});

simple('past the limit the least recently used token is dropped, not one just used', () => {
  let now = 0;
  const tokens = new SimpleTokens({ ttlMs: 1000, nowMs: () => now, random: Math.random, maxTokens: 3 });
  tokens.assigned('a.1', 'alice');
  now = 1;
  tokens.assigned('b.2', 'bob');
  now = 2;
  tokens.assigned('c.3', 'carol');
  now = 3;
  assert.ok(tokens.info('a.1', 1));
  tokens.assigned('d.4', 'dave');
  assert.is(tokens.size, 3);
  assert.ok(tokens.info('a.1', 1));
  assert.is(tokens.info('b.2', 1), undefined);
  assert.ok(tokens.info('c.3', 1));
});

simple('expired tokens are swept when a token is assigned, without waiting for the limit', () => {
  let now = 0;
  const tokens = new SimpleTokens({ ttlMs: 1000, nowMs: () => now, random: Math.random });
  tokens.assigned('a.1', 'alice');
  tokens.assigned('b.2', 'bob');
  now = 500;
  tokens.assigned('c.3', 'carol');
  now = 1200;
  tokens.assigned('d.4', 'dave');
  assert.is(tokens.size, 2);
  assert.ok(tokens.info('c.3', 1));
});

simple('a prefix is 16 letters', () => {
  const tokens = new SimpleTokens({ ttlMs: 1000, nowMs: () => 0, random: Math.random });
  assert.match(tokens.newPrefix(), /^[a-zA-Z]{16}$/);
});

simple.run();

const jwt = suite('JWT tokens');
let dir = '';
jwt.before(() => {
  dir = makeTempDir('jwt');
  for (const name of ['a', 'b']) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
  }
});
jwt.after(() => removeTempDir(dir));

jwt('etcd options parse, with ttl as a Go duration and 5m by default', () => {
  assert.is(parseGoDuration('1h30m'), 5_400_000);
  assert.is(parseGoDuration('5x'), undefined);
  const o = parseJwtOptions(`pub-key=${dir}/a.pub,priv-key=${dir}/a.key,sign-method=RS256`);
  assert.is(o.ttlMs, 300_000);
  assert.throws(() => parseJwtOptions('sign-method=XX256,pub-key=x'), /signature method/);
});

jwt('a token carries user and auth revision; another key, a forged payload and an expired token are refused', async () => {
  let now = Date.now();
  const a = await JwtTokens.open(parseJwtOptions(`pub-key=${dir}/a.pub,priv-key=${dir}/a.key,sign-method=RS256,ttl=1m`), () => now);
  const b = await JwtTokens.open(parseJwtOptions(`pub-key=${dir}/b.pub,priv-key=${dir}/b.key,sign-method=RS256,ttl=1m`), () => now);
  const token = await a.assign('alice', 9);
  assert.equal(await a.info(token), { user: 'alice', revision: 9 });
  assert.is(await b.info(token), undefined);
  const [head, , sig] = token.split('.');
  const forged = `${head}.${Buffer.from(JSON.stringify({ username: 'root', revision: 9, exp: 9e9 })).toString('base64url')}.${sig}`;
  assert.is(await a.info(forged), undefined);
  assert.is(await a.info('garbage'), undefined);
  now += 61_000;
  assert.is(await a.info(token), undefined);
});

jwt.run();
