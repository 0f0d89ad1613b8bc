// JSON parsed the way Go's encoding/json reads it, with Go's error texts: grpc-gateway answers a
// malformed body with them ("invalid character 'x' looking for beginning of value", "unexpected
// EOF"), so the gateway must produce the same words. Values keep their source text: jsonpb hands
// raw JSON to json.Unmarshal per field, and int64 fields accept quoted numbers by cutting the quotes
// off the raw text.

export type GoJsonValue =
  | { readonly type: 'object'; readonly fields: ReadonlyMap<string, GoJsonValue>; readonly raw: string }
  | { readonly type: 'array'; readonly items: readonly GoJsonValue[]; readonly raw: string }
  | { readonly type: 'string'; readonly value: string; readonly raw: string }
  | { readonly type: 'number'; readonly raw: string }
  | { readonly type: 'bool'; readonly value: boolean; readonly raw: string }
  | { readonly type: 'null'; readonly raw: string };

/** Go's bound on nesting (encoding/json maxNestingDepth). */
export const maxJsonNestingDepth = 10_000;

type Frame =
  | { readonly kind: 'object'; readonly start: number; readonly fields: Map<string, GoJsonValue>; key: string }
  | { readonly kind: 'array'; readonly start: number; readonly items: GoJsonValue[] };

class SyntaxFailure {
  constructor(readonly message: string) {}
}
class EndOfInput {}

/** Go's quoteChar: how a scanner error names the offending character. */
export function goQuoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const q = goQuote(c);
  return `'${q.slice(1, -1)}'`;
}

/** Go's strconv.Quote for the characters the gateway can meet (ASCII escapes, printable Unicode as is). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (cp === 7) out += '\\a';
    else if (cp === 8) out += '\\b';
    else if (cp === 12) out += '\\f';
    else if (cp === 10) out += '\\n';
    else if (cp === 13) out += '\\r';
    else if (cp === 9) out += '\\t';
    else if (cp === 11) out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp === 0xfffd && ch !== '\ufffd') out += '\\ufffd';
    else if ((cp >= 0x80 && cp < 0xa0) || cp === 0xad) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  private fail(c: string, context: string): never {
    throw new SyntaxFailure(`invalid character ${goQuoteChar(c)} ${context}`);
  }
  private next(): string {
    const c = this.text[this.pos];
    if (c === undefined) throw new EndOfInput();
    this.pos++;
    return c;
  }
  private peek(): string | undefined {
    return this.text[this.pos];
  }
  skipSpace(): void {
    while (isSpace(this.peek())) this.pos++;
  }

  /**
   * One value, with an explicit stack rather than recursion: Go accepts 10,000 levels of nesting
   * (even inside an ignored field), more than the JS stack would.
   */
  value(): GoJsonValue {
    const stack: Frame[] = [];
    for (;;) {
      let v = this.scalarOrOpen(stack);
      if (v === undefined) continue;
      // hand the finished value to its container, closing every container it finishes
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return v;
        if (top.kind === 'object') {
          top.fields.set(top.key, v);
          this.skipSpace();
          const c = this.next();
          if (c === ',') {
            this.skipSpace();
            top.key = this.objectKey(this.next());
            break;
          }
          if (c !== '}') this.fail(c, 'after object key:value pair');
          stack.pop();
          v = { type: 'object', fields: top.fields, raw: this.text.slice(top.start, this.pos) };
        } else {
          top.items.push(v);
          this.skipSpace();
          const c = this.next();
          if (c === ',') break;
          if (c !== ']') this.fail(c, 'after array element');
          stack.pop();
          v = { type: 'array', items: top.items, raw: this.text.slice(top.start, this.pos) };
        }
      }
    }
  }

  /** `"key" :` after an object's `{` or `,`; returns the key. */
  private objectKey(c: string): string {
    if (c !== '"') this.fail(c, 'looking for beginning of object key string');
    const key = this.stringBody();
    this.skipSpace();
    const colon = this.next();
    if (colon !== ':') this.fail(colon, 'after object key');
    return key;
  }

  /** A complete scalar or empty container, or undefined after opening a container (pushed on `stack`). */
  private scalarOrOpen(stack: Frame[]): GoJsonValue | undefined {
    this.skipSpace();
    const start = this.pos;
    const c = this.next();
    if (c === '{' || c === '[') {
      if (stack.length >= maxJsonNestingDepth) this.fail(c, 'exceeded max depth');
      this.skipSpace();
      if (c === '{') {
        if (this.peek() === '}') {
          this.pos++;
          return { type: 'object', fields: new Map(), raw: this.text.slice(start, this.pos) };
        }
        stack.push({ kind: 'object', start, fields: new Map(), key: this.objectKey(this.next()) });
        return undefined;
      }
      if (this.peek() === ']') {
        this.pos++;
        return { type: 'array', items: [], raw: this.text.slice(start, this.pos) };
      }
      stack.push({ kind: 'array', start, items: [] });
      return undefined;
    }
    if (c === '"') {
      const value = this.stringBody();
      return { type: 'string', value, raw: this.text.slice(start, this.pos) };
    }
    if (c === '-' || isDigit(c)) {
      this.number(c);
      return { type: 'number', raw: this.text.slice(start, this.pos) };
    }
    if (c === 't') return this.literal('true', { type: 'bool', value: true, raw: 'true' });
    if (c === 'f') return this.literal('false', { type: 'bool', value: false, raw: 'false' });
    if (c === 'n') return this.literal('null', { type: 'null', raw: 'null' });
    return this.fail(c, 'looking for beginning of value');
  }

  private literal(word: string, result: GoJsonValue): GoJsonValue {
    for (let i = 1; i < word.length; i++) {
      const c = this.next();
      if (c !== word[i]) this.fail(c, `in literal ${word} (expecting ${goQuoteChar(word[i] ?? '')})`);
    }
    return result;
  }

  private number(first: string): void {
    let c: string | undefined = first;
    if (c === '-') {
      c = this.next();
      if (!isDigit(c)) this.fail(c, 'in numeric literal');
    }
    if (c !== '0') while (isDigit(this.peek())) this.pos++;
    if (this.peek() === '.') {
      this.pos++;
      const d = this.next();
      if (!isDigit(d)) this.fail(d, 'after decimal point in numeric literal');
      while (isDigit(this.peek())) this.pos++;
    }
    const e = this.peek();
    if (e === 'e' || e === 'E') {
      this.pos++;
      let d = this.next();
      if (d === '+' || d === '-') d = this.next();
      if (!isDigit(d)) this.fail(d, 'in exponent of numeric literal');
      while (isDigit(this.peek())) this.pos++;
    }
  }

  /** After the opening quote; returns the decoded text (lone surrogates and bad UTF-8 as U+FFFD, as Go does). */
  private stringBody(): string {
    // Most strings (base64 keys and values) hold no escape and no control character: one slice,
    // instead of a string grown a character at a time.
    const end = this.text.indexOf('"', this.pos);
    if (end >= 0 && plainRun(this.text, this.pos, end)) {
      const plain = this.text.slice(this.pos, end);
      this.pos = end + 1;
      return plain;
    }
    let out = '';
    let surrogateEscape = false;
    for (;;) {
      const c = this.next();
      if (c === '"') return surrogateEscape ? goString(out) : out;
      if (c === '\\') {
        const e = this.next();
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        const mapped = simple[e];
        if (mapped !== undefined) {
          out += mapped;
          continue;
        }
        if (e !== 'u') this.fail(e, 'in string escape code');
        let hex = '';
        for (let i = 0; i < 4; i++) {
          const h = this.next();
          if (!isHex(h)) this.fail(h, 'in \\u hexadecimal character escape');
          hex += h;
        }
        const unit = parseInt(hex, 16);
        if (unit >= 0xd800 && unit <= 0xdfff) surrogateEscape = true;
        out += String.fromCharCode(unit);
        continue;
      }
      if (c < ' ') this.fail(c, 'in string literal');
      out += c;
    }
  }

}

const lonesomeSurrogates = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** Go replaces an invalid \u surrogate escape with U+FFFD when it decodes the string. */
const goString = (s: string): string => s.replace(lonesomeSurrogates, '\ufffd');

export type StreamDecodeResult =
  | { readonly kind: 'value'; readonly value: GoJsonValue; readonly end: number }
  /** Only whitespace from `from` on (Go: io.EOF). */
  | { readonly kind: 'eof' }
  /** The value is cut short and more input may come (at the real end: Go's "unexpected EOF" error). */
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly message: string };

/**
 * json.Decoder.Decode: the next value from `from`, ignoring whatever follows an object or array
 * (grpc-gateway decodes one value per request message). `end` is where the next value may start.
 */
export function decodeNextValue(text: string, from: number, atEnd: boolean): StreamDecodeResult {
  const p = new Parser(text);
  p.pos = from;
  p.skipSpace();
  if (p.pos >= text.length) return { kind: 'eof' };
  try {
    const value = p.value();
    if (value.type !== 'object' && value.type !== 'array' && value.type !== 'string') {
      // A scalar at the top ends at the next byte, which Go checks (`123x`).
      const c = text[p.pos];
      if (c === undefined && value.type === 'number' && !atEnd) return { kind: 'incomplete' };
      if (c !== undefined && !isSpace(c)) return { kind: 'error', message: `invalid character ${goQuoteChar(c)} after top-level value` };
    }
    return { kind: 'value', value, end: p.pos };
  } catch (err) {
    if (err instanceof EndOfInput) return atEnd ? { kind: 'error', message: 'unexpected EOF' } : { kind: 'incomplete' };
    if (err instanceof SyntaxFailure) return { kind: 'error', message: err.message };
    throw err;
  }
}

/** json.Unmarshal's syntax check: exactly one value and whitespace. */
export function unmarshalValue(text: string): { value: GoJsonValue } | { error: string } {
  const p = new Parser(text);
  try {
    const value = p.value();
    p.skipSpace();
    const c = text[p.pos];
    if (c !== undefined) return { error: `invalid character ${goQuoteChar(c)} after top-level value` };
    return { value };
  } catch (err) {
    if (err instanceof EndOfInput) return { error: 'unexpected end of JSON input' };
    if (err instanceof SyntaxFailure) return { error: err.message };
    throw err;
  }
}

/** The word encoding/json's UnmarshalTypeError uses for a value of this JSON type. */
export function goJsonTypeWord(v: GoJsonValue): string {
  return v.type === 'bool' ? 'bool' : v.type;
}

/** Go's encoding/json string encoding (HTML-safe, as json.Marshal and jsonpb write strings). */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    let esc: string | undefined;
    if (code < 0x20 || code === 0x22 || code === 0x5c || code === 0x3c || code === 0x3e || code === 0x26 || code === 0x2028 || code === 0x2029) {
      if (code === 0x22) esc = '\\"';
      else if (code === 0x5c) esc = '\\\\';
      else if (code === 0x0a) esc = '\\n';
      else if (code === 0x0d) esc = '\\r';
      else if (code === 0x09) esc = '\\t';
      else esc = `\\u${code.toString(16).padStart(4, '0')}`;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const isPair = code <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (isPair) {
        i++;
        continue;
      }
      esc = '\ufffd';
    }
    if (esc !== undefined) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return `${out}${s.slice(start)}"`;
}

/** No backslash and no control character in text[from, to). */
function plainRun(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const u = text.charCodeAt(i);
    if (u === 0x5c || u < 0x20) return false;
  }
  return true;
}
