// The cost of one permission check (AuthState.refusal) for a user whose roles hold N grants, against
// the cost of the disabled path's one test. Usage: node bench/auth-check.mjs (after tsc).
import { AuthState } from '../dist/src/auth/auth-state.js';

const quiet = { assigned() {}, userInvalidated() {}, disabled() {} };
const iterations = 1_000_000;

function stateWith(grants) {
  const s = new AuthState(quiet);
  let i = 0;
  const apply = (op, header = { user: '', revision: 0 }) => {
    const out = s.apply({ op, header }, ++i, []);
    if (!out.ok) throw new Error(`${op.op}: ${out.error}`);
  };
  apply({ op: 'userAdd', name: 'root', hashedPassword: 'x', noPassword: false });
  apply({ op: 'userGrantRole', user: 'root', role: 'root' });
  apply({ op: 'userAdd', name: 'u', hashedPassword: 'x', noPassword: false });
  apply({ op: 'roleAdd', name: 'r' });
  for (let g = 0; g < grants; g++) {
    const p = `p/${String(g).padStart(6, '0')}/`;
    apply({ op: 'roleGrantPermission', name: 'r', permType: 2, key: p, rangeEnd: p.slice(0, -1) + '0' });
  }
  apply({ op: 'userGrantRole', user: 'u', role: 'r' });
  apply({ op: 'enable' });
  return s;
}

function time(label, f) {
  for (let i = 0; i < 100_000; i++) f(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) f(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`| ${label} | ${ns.toFixed(0)} ns |`);
}

console.log('| check | per call |');
console.log('|---|---|');
const off = new AuthState(quiet);
time('auth disabled (the enabled test)', () => off.enabled);
for (const grants of [1, 100, 10_000]) {
  const s = stateWith(grants);
  const h = { user: 'u', revision: s.revision };
  const keys = Array.from({ length: 1024 }, (_, i) => Buffer.from(`p/${String((i * 7919) % grants).padStart(6, '0')}/key${i}`));
  const empty = Buffer.alloc(0);
  time(`put check, ${grants} grant(s)`, (i) => s.refusal(h, keys[i & 1023], empty, 'write'));
}
