// What the randomized differential compares: kvscript's output lines, with the one thing etcd leaves
// undefined made canonical. etcd sorts a Range by VERSION, CREATE, MOD or VALUE with Go's unstable
// sort, so keys whose sort values tie may come in any order, and a limit may cut a run of ties
// anywhere: ties are put in key order, and the last run of a cut answer is compared by its sort value
// and size only.
import type { FuzzStep, SortTarget } from './kv-fuzz-generator.js';

interface KvJson {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}

interface RangeJson {
  kvs: (KvJson | { cut_ties: number; sort_value: string | number })[];
  more: boolean;
}

interface TxnJson {
  succeeded: boolean;
  responses: ResultJson[];
}

interface ResultJson {
  range?: RangeJson;
  txn?: TxnJson;
}

/** Returns the line with tied Range results put in a canonical order (the line itself when none). */
export function normaliseLine(step: FuzzStep, line: string): string {
  const parsed = JSON.parse(line) as { result?: ResultJson };
  if (parsed.result === undefined) return line;
  normaliseResult(step, parsed.result);
  return JSON.stringify(parsed);
}

function normaliseResult(step: FuzzStep, result: ResultJson): void {
  if (result.range !== undefined) normaliseRange(step, result.range);
  if (result.txn !== undefined) {
    const ops = (result.txn.succeeded ? step.success : step.failure) ?? [];
    result.txn.responses.forEach((response, i) => {
      const op = ops[i];
      if (op !== undefined) normaliseResult(op, response);
    });
  }
}

function normaliseRange(step: FuzzStep, range: RangeJson): void {
  const target = step.sort_target ?? 'KEY';
  if (target === 'KEY' || range.kvs.length === 0) return;
  const kvs = range.kvs as KvJson[];
  // keys_only hides the values: a VALUE sort is then one run of ties.
  const sortValue = (kv: KvJson): string | number => (target === 'VALUE' && step.keys_only ? '' : valueOf(kv, target));
  const runs: KvJson[][] = [];
  for (const kv of kvs) {
    const last = runs.at(-1);
    if (last !== undefined && sortValue(last[0]!) === sortValue(kv)) last.push(kv);
    else runs.push([kv]);
  }
  for (const run of runs) run.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const cut = range.more ? runs.pop() : undefined;
  range.kvs = [...runs.flat(), ...(cut === undefined ? [] : [{ cut_ties: cut.length, sort_value: sortValue(cut[0]!) }])];
}

function valueOf(kv: KvJson, target: Exclude<SortTarget, 'KEY'>): string | number {
  switch (target) {
    case 'VALUE':
      return kv.value;
    case 'VERSION':
      return kv.version;
    case 'CREATE':
      return kv.create_revision;
    case 'MOD':
      return kv.mod_revision;
  }
}
