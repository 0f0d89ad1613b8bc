// A strict parser of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): it throws on anything a
// Prometheus server would reject or that breaks the format's rules (a TYPE after its samples, a
// family's samples not together, a duplicate series, a histogram without its +Inf bucket or with
// buckets that are not cumulative, a counter below zero). prom-client only writes the format.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  type: MetricType;
  help: string | undefined;
  readonly samples: Sample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const types: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

class ParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

/** Values as Prometheus reads them (Go's strconv.ParseFloat: NaN and Inf in any letter case; prom-client writes "Nan"). */
function parseValue(text: string, line: number): number {
  const lower = text.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf' || lower === '+infinity' || lower === 'infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new ParseError(line, `bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Reads `{a="x",b="y"}` from `text` at `pos` (just after `{`); returns the labels and the position after `}`. */
function parseLabels(text: string, start: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let pos = start;
  for (;;) {
    if (text[pos] === '}') return { labels, end: pos + 1 };
    const eq = text.indexOf('=', pos);
    if (eq < 0) throw new ParseError(line, 'label without "="');
    const name = text.slice(pos, eq).trim();
    if (!labelName.test(name)) throw new ParseError(line, `bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new ParseError(line, `label ${name} twice`);
    if (text[eq + 1] !== '"') throw new ParseError(line, `label ${name} value not quoted`);
    let value = '';
    let i = eq + 2;
    for (; i < text.length && text[i] !== '"'; i++) {
      if (text[i] === '\\') {
        const next = text[++i];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new ParseError(line, `bad escape \\${next ?? ''} in label ${name}`);
      } else value += text[i];
    }
    if (i >= text.length) throw new ParseError(line, `unterminated value of label ${name}`);
    labels[name] = value;
    pos = i + 1;
    if (text[pos] === ',') pos++;
    else if (text[pos] !== '}') throw new ParseError(line, `expected "," or "}" after label ${name}`);
  }
}

/** The family a sample belongs to: histogram and summary samples carry a suffix. */
function familyOf(sampleName: string, families: ReadonlyMap<string, MetricFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const t = families.get(base)?.type;
    if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
  }
  return sampleName;
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new ParseError(0, 'the exposition must end with a newline');
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const switchTo = (name: string, line: number): void => {
    if (current === name) return;
    if (finished.has(name)) throw new ParseError(line, `samples of ${name} are not together`);
    if (current !== undefined) finished.add(current);
    current = name;
  };
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (m === null) return; // a plain comment
      const [, kind, name = '', rest = ''] = m;
      if (!metricName.test(name)) throw new ParseError(line, `bad metric name ${JSON.stringify(name)}`);
      const f = family(name);
      switchTo(name, line);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new ParseError(line, `second HELP for ${name}`);
        f.help = unescapeHelp(rest);
      } else {
        if (!types.includes(rest)) throw new ParseError(line, `bad type ${JSON.stringify(rest)} for ${name}`);
        if (f.samples.length > 0) throw new ParseError(line, `TYPE of ${name} after its samples`);
        f.type = rest as MetricType;
      }
      return;
    }
    const nameEnd = raw.search(/[{\s]/);
    if (nameEnd <= 0) throw new ParseError(line, `no value: ${JSON.stringify(raw)}`);
    const name = raw.slice(0, nameEnd);
    if (!metricName.test(name)) throw new ParseError(line, `bad metric name ${JSON.stringify(name)}`);
    let labels: Record<string, string> = {};
    let pos = nameEnd;
    if (raw[pos] === '{') ({ labels, end: pos } = parseLabels(raw, pos + 1, line));
    const fields = raw.slice(pos).trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new ParseError(line, `expected a value and an optional timestamp: ${JSON.stringify(raw)}`);
    const value = parseValue(fields[0]!, line);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new ParseError(line, `bad timestamp ${fields[1]}`);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (series.has(key)) throw new ParseError(line, `duplicate series ${key}`);
    series.add(key);
    const fname = familyOf(name, families);
    switchTo(fname, line);
    const f = family(fname);
    if (f.type === 'counter' && !(value >= 0)) throw new ParseError(line, `counter ${name} is ${value}`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: MetricFamily): void {
  const byLabels = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = byLabels.get(key) ?? { buckets: [] };
    byLabels.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      entry.buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name === `${f.name}_count`) entry.count = s.value;
    else if (s.name !== `${f.name}_sum`) throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, { buckets, count }] of byLabels) {
    const last = buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (count !== last[1]) throw new Error(`${f.name}${key}: _count ${count} differs from the +Inf bucket ${last[1]}`);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]![0] > buckets[i - 1]![0]) || buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${f.name}${key}: buckets not increasing and cumulative`);
    }
  }
}

/** The label names a family's series carry (without histogram/summary's le and quantile). */
export function labelNamesOf(f: MetricFamily): string[] {
  const names = new Set<string>();
  for (const s of f.samples) for (const n of Object.keys(s.labels)) if (n !== 'le' && n !== 'quantile') names.add(n);
  return [...names].sort();
}

/** The value of the first sample called `name` whose labels include `labels` (histogram `_count` etc. too). */
export function sampleValue(families: ReadonlyMap<string, MetricFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const f = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}
