// The pure parts of TLS: Go cipher names mapped to OpenSSL's, the self-signed certificate auto-TLS
// writes, the security flags' checks, and the reloading context (a half-replaced pair is never
// taken; a complete one is, and listeners hear of it). No servers.
import crypto from 'node:crypto';
import { copyFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { opensslCipherList } from '../../src/tls/cipher-suites.js';
import { selfSignedCertificate } from '../../src/tls/self-signed-cert.js';
import { ReloadingTlsContext } from '../../src/tls/reloading-tls-context.js';
import { transportSecurityFromFlags } from '../../src/tls/tls-flags.js';
import { noTransportSecurity } from '../../src/tls/transport-security.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { tlsFixture } from '../helpers/tls-servers.js';

const t = suite('TLS units');

t('Go cipher suite names map to OpenSSL names and TLS 1.3 suites stay when none is named', () => {
  const r = opensslCipherList(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305']);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.ok(r.ciphers.endsWith('ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305'), r.ciphers);
  assert.ok(r.ciphers.startsWith('TLS_'), r.ciphers);
  // OpenSSL accepts the list
  tls.createSecureContext({ ciphers: r.ciphers });
});

t('an unknown cipher suite is refused with etcd\'s message', () => {
  assert.equal(opensslCipherList(['TLS_BOGUS']), { ok: false, error: 'unexpected TLS cipher suite "TLS_BOGUS"' });
});

t('--peer-cert-allowed-cn and --peer-cert-allowed-hostname together are refused as etcd refuses them', () => {
  const flags: Record<string, string> = { 'peer-cert-allowed-cn': 'peer', 'peer-cert-allowed-hostname': 'localhost' };
  const r = transportSecurityFromFlags({ str: (n) => flags[n] ?? '', bool: () => false, list: () => [] });
  assert.equal(r, { ok: false, error: 'AllowedCN and AllowedHostname are mutually exclusive (cn="peer", hostname="localhost")' });
});

t('the self-signed certificate verifies with its own key and names the listen hosts', () => {
  const now = new Date('2030-01-02T03:04:05Z');
  const pair = selfSignedCertificate({ hosts: ['127.0.0.1', 'localhost', '::1'], now, validityDays: 365, serial: Buffer.alloc(16, 0xff) });
  const cert = new crypto.X509Certificate(pair.certPem);
  assert.ok(cert.verify(cert.publicKey));
  assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(pair.keyPem)));
  assert.is(cert.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
  assert.is(new Date(cert.validFrom).toISOString(), '2030-01-02T03:04:05.000Z');
  assert.is(new Date(cert.validTo).toISOString(), '2031-01-02T03:04:05.000Z');
  // a positive INTEGER: DER adds a zero byte before the high bit, node prints the value
  assert.is(cert.serialNumber, 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF');
  assert.ok(cert.checkHost('localhost') !== undefined && cert.checkIP('127.0.0.1') !== undefined);
  tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem });
});

t('reload takes a complete new pair, keeps the old one while the pair does not match, and tells listeners', async () => {
  const dir = makeTempDir('tls-reload-unit');
  try {
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    copyFileSync(tlsFixture('server.pem'), certFile);
    copyFileSync(tlsFixture('server-key.pem'), keyFile);
    const logs: string[] = [];
    const ctx = await ReloadingTlsContext.start({ certFile, keyFile, trustedCaFile: '', crlFile: '' }, noTransportSecurity, { pollIntervalMs: 0, log: (m) => logs.push(m) });
    const heard: unknown[] = [];
    ctx.onReload((o) => heard.push(o.cert));
    const first = ctx.options.cert;
    const replace = (from: string, to: string): void => {
      copyFileSync(tlsFixture(from), `${to}.new`);
      renameSync(`${to}.new`, to);
    };
    replace('server-next.pem', certFile);
    await ctx.poll();
    await ctx.poll();
    assert.is(ctx.options.cert, first, 'a mismatched pair is not taken');
    assert.is(logs.filter((l) => l.includes('cannot be used')).length, 2, 'logged on every poll that finds it');
    replace('server-next-key.pem', keyFile);
    await ctx.poll();
    assert.is.not(ctx.options.cert, first);
    assert.is(ctx.reloadCount, 1);
    assert.is(heard.length, 1);
    ctx.close();
  } finally {
    removeTempDir(dir);
  }
});

t.run();
