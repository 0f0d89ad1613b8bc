// A request's header list as it is decoded, checked as RFC 9113 §8.2-8.3 asks of a server (nghttp2
// and Go's server check the same): lower-case names, pseudo-headers first and only the request
// ones, no connection-specific fields, `te` only as "trailers", and :method, :scheme, :path present.
// A list that fails is a malformed request: the stream is reset with PROTOCOL_ERROR.

/** Header names in lower case; a repeated field's values joined with ", " (node's IncomingHttpHeaders shape). */
export type RequestHeaders = Record<string, string>;

const connectionSpecific = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const requestPseudo = new Set([':method', ':scheme', ':path', ':authority']);

/** The last value seen valid for each field name (bounded: cleared when full). */
const checkedValues = new Map<string, string>();
const maxCheckedFields = 1024;
/** Longer names or values are checked every time rather than kept (a megabyte token is not). */
const maxCheckedValueLength = 256;

/** Whether `name` holds only octets valid in a field name, none of them upper case (RFC 9113 §8.2.1). */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = name.charCodeAt(0) === 0x3a ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // token characters (RFC 9110 §5.6.2), upper case excluded
    if (c >= 0x61 && c <= 0x7a) continue;
    if (c >= 0x30 && c <= 0x39) continue;
    if (c === 0x2d || c === 0x5f || c === 0x2e || c === 0x21 || c === 0x23 || c === 0x24 || c === 0x25 || c === 0x26 || c === 0x27 || c === 0x2a || c === 0x2b || c === 0x5e || c === 0x60 || c === 0x7c || c === 0x7e) continue;
    return false;
  }
  return true;
}

/** Whether `value` has no NUL, CR or LF, and no leading or trailing space or tab (§8.2.1). */
function validValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

export class RequestHeaderCollector {
  headers: RequestHeaders = {};
  /** Why the list is malformed, once it is; later fields are still decoded (HPACK state), not kept. */
  malformed: string | undefined;
  /** The request's content-length once checkRequest has run; -1 when it has none. */
  contentLength = -1;
  private sawRegular = false;

  /** Starts a new list; `trailers`: a block after the request's headers (no pseudo-headers allowed). */
  reset(trailers: boolean): void {
    this.headers = {};
    this.malformed = undefined;
    this.contentLength = -1;
    this.sawRegular = trailers;
  }

  header(name: string, value: string): void {
    if (this.malformed !== undefined) return;
    // a client repeats the same fields call after call (most straight from its HPACK table)
    if (checkedValues.get(name) !== value) {
      if (!validName(name)) return this.fail(`invalid header name ${JSON.stringify(name)}`);
      if (!validValue(value)) return this.fail(`invalid value for header ${name}`);
      if (value.length <= maxCheckedValueLength && name.length <= maxCheckedValueLength) {
        if (checkedValues.size >= maxCheckedFields) checkedValues.clear();
        checkedValues.set(name, value);
      }
    }
    if (name.charCodeAt(0) === 0x3a) {
      if (this.sawRegular) return this.fail(`pseudo-header ${name} after a regular header`);
      if (!requestPseudo.has(name)) return this.fail(`unknown pseudo-header ${name}`);
      if (this.headers[name] !== undefined) return this.fail(`repeated pseudo-header ${name}`);
      this.headers[name] = value;
      return;
    }
    this.sawRegular = true;
    if (connectionSpecific.has(name)) return this.fail(`connection-specific header ${name}`);
    if (name === 'te' && value !== 'trailers') return this.fail('te other than "trailers"');
    const before = this.headers[name];
    this.headers[name] = before === undefined ? value : `${before}, ${value}`;
  }

  /** After the last field of a request's header block: the required pseudo-headers are there. */
  checkRequest(): void {
    if (this.malformed !== undefined) return;
    const h = this.headers;
    if (h[':method'] === undefined || h[':scheme'] === undefined || h[':path'] === undefined || h[':path'] === '') {
      return this.fail('missing :method, :scheme or :path');
    }
    // the DATA must add up to it (§8.1.1); digits only, and few enough to stay an exact number
    const length = h['content-length'];
    if (length === undefined) return;
    if (!/^[0-9]{1,15}$/.test(length)) return this.fail('content-length is not a number');
    this.contentLength = Number(length);
  }

  private fail(why: string): void {
    this.malformed = why;
  }
}
