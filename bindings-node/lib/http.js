'use strict';
// Fetch-standard HTTP: the request a handler gets, and the response DTO built from what it returns.

const { Buffer } = require('node:buffer');

const kBody = Symbol('body');
const kUsed = Symbol('bodyUsed');
const kHeaders = Symbol('headers');
const kQuery = Symbol('query');
const kSignal = Symbol('signal');
const EMPTY = Buffer.alloc(0);

class HttpRequest {
  /** @param {{method: string, url: string, headers: object, query: object, params: object, body: Buffer, signal?: AbortSignal | (() => AbortSignal)}} init */
  constructor(init) {
    this.method = init.method;
    this.url = init.url;
    // `headers`, `query` and `signal` are made when first read: building a `Headers` or an
    // `AbortController` costs more than most handlers do, and most read one of them or none.
    this[kHeaders] = init.headers ?? {};
    this[kQuery] = init.query ?? {};
    this.params = Object.freeze({ ...(init.params ?? {}) });
    this.user = null;
    this[kSignal] = init.signal;
    this[kBody] = init.body ?? EMPTY;
    this[kUsed] = false;
  }

  get headers() {
    const headers = this[kHeaders];
    if (headers instanceof Headers) return headers;
    return (this[kHeaders] = new Headers(headers));
  }

  get query() {
    const query = this[kQuery];
    if (query instanceof URLSearchParams) return query;
    return (this[kQuery] = new URLSearchParams(query));
  }

  /** Aborted when the host cancels the invocation, as a fetch Request's signal. */
  get signal() {
    let signal = this[kSignal];
    if (typeof signal === 'function') signal = signal();
    else if (signal === undefined) signal = new AbortController().signal;
    return (this[kSignal] = signal);
  }

  get bodyUsed() {
    return this[kUsed];
  }

  /** The body as a web ReadableStream (null when empty). */
  get body() {
    const bytes = this[kBody];
    if (bytes.length === 0) return null;
    return new Blob([bytes]).stream();
  }

  #take() {
    this[kUsed] = true;
    return this[kBody];
  }

  async arrayBuffer() {
    const bytes = this.#take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }

  async bytes() {
    return new Uint8Array(await this.arrayBuffer());
  }

  async blob() {
    return new Blob([this.#take()], { type: this.headers.get('content-type') ?? '' });
  }

  async text() {
    return this.#take().toString('utf8');
  }

  async json() {
    return JSON.parse(await this.text());
  }

  async formData() {
    return new Response(this.#take(), { headers: this.headers }).formData();
  }

  clone() {
    return new HttpRequest({
      method: this.method,
      url: this.url,
      headers: Object.fromEntries(this.headers),
      query: Object.fromEntries(this.query),
      params: this.params,
      body: this[kBody],
      signal: this.signal,
    });
  }
}

/**
 * Is `value` a fetch `Response`? Checked by shape first: reading the global `Response` loads
 * Node's fetch implementation (undici, some 30 ms of CPU), which a worker whose functions never
 * make one should not pay, least of all on its first request.
 */
function isResponse(value) {
  return value !== null && typeof value === 'object' && typeof value.arrayBuffer === 'function' && value instanceof Response;
}

function isBinary(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function headerPairs(headers, where) {
  if (headers === undefined || headers === null) return [];
  if (headers instanceof Headers) return [...headers];
  if (Array.isArray(headers)) {
    return headers.map((pair) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`${where}: headers given as a list must hold [name, value] pairs, got ${JSON.stringify(pair)}`);
      }
      return [String(pair[0]), String(pair[1])];
    });
  }
  if (typeof headers === 'object') {
    // A list value is several values of one header (two `Link`s, two `Set-Cookie`s), kept in order.
    return Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((one) => [k, String(one)]));
  }
  throw new TypeError(`${where}: headers must be an object, a Headers or a list of pairs, got ${typeof headers}`);
}

/**
 * The cookie DTO. JavaScript's times are milliseconds (a `Date`, or a number like `Date.now()`);
 * the bridge carries seconds, as the Rust and Python SDKs do. The Rust core checks the values.
 */
function cookieOut(cookie, where) {
  if (!cookie || typeof cookie.name !== 'string') {
    throw new TypeError(`${where}: a cookie needs a string name, got ${JSON.stringify(cookie)}`);
  }
  const millis = cookie.expires instanceof Date ? cookie.expires.getTime() : cookie.expires;
  const expires = typeof millis === 'number' ? millis / 1000 : undefined;
  return {
    name: cookie.name,
    value: String(cookie.value ?? ''),
    domain: cookie.domain ?? undefined,
    path: cookie.path ?? undefined,
    expires,
    secure: cookie.secure ?? undefined,
    httpOnly: cookie.httpOnly ?? undefined,
    sameSite: cookie.sameSite ?? undefined,
    maxAge: typeof cookie.maxAge === 'number' ? cookie.maxAge : undefined,
  };
}

/** The keys of an `HttpResponseInit`, as Azure's `@azure/functions` v4 defines it. */
const RESPONSE_INIT_KEYS = ['status', 'headers', 'body', 'jsonBody', 'cookies', 'enableContentNegotiation'];

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value) {
  const name = value?.constructor?.name;
  return name ? `${name} object` : 'object';
}

/** `; did you mean 'status'?` when a key is one edit or two from a response key. */
function suggestion(key) {
  const near = RESPONSE_INIT_KEYS.map((k) => [k, editDistance(key.toLowerCase(), k.toLowerCase())])
    .filter(([, d]) => d <= 2)
    .sort((a, b) => a[1] - b[1])[0];
  return near ? ` (did you mean '${near[0]}'?)` : '';
}

function editDistance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The HTTP response DTO for what a handler returned: a fetch `Response`, an init object
 * `{status, headers, body, jsonBody, cookies}`, a plain object or array (its JSON is the body), a
 * string, bytes, or nothing. Anything else is an error naming what was returned.
 */
async function httpResponseOut(value, where) {
  if (isResponse(value)) {
    return {
      status: value.status,
      headers: [...value.headers],
      cookies: [],
      body: Buffer.from(await value.arrayBuffer()),
      bodyKind: 'bytes',
    };
  }
  const parts = httpResponseParts(value, where);
  const body = typeof parts.body === 'string' ? Buffer.from(parts.body, 'utf8') : parts.body;
  return { ...parts, body };
}

/**
 * What `httpResponseOut` answers for anything but a fetch `Response`, at once (no promise), with a
 * text body kept as the string: the invocation's fast path hands these parts straight to the core.
 */
function httpResponseParts(value, where) {
  if (value === undefined || value === null) {
    return { status: 200, headers: [], cookies: [], body: EMPTY, bodyKind: 'bytes' };
  }
  if (typeof value === 'string' || isBinary(value)) return httpResponseParts({ body: value }, where);
  if (typeof value !== 'object') {
    throw new TypeError(
      `${where}: an HTTP function returns a Response, an object like {status, headers, body, jsonBody, cookies}, ` +
        `a string or bytes; got ${typeof value}`,
    );
  }
  if (!RESPONSE_INIT_KEYS.some((key) => key in value)) {
    // No response key at all: the object is the data to answer with, as `Response.json(value)`
    // would send it. Only plain objects and arrays turn into JSON; a Map, a Set or a class
    // instance would serialize to something else than the caller expects (`{}` for a Map).
    if (Array.isArray(value) || isPlainObject(value)) {
      return httpResponseParts({ jsonBody: value }, where);
    }
    throw new TypeError(
      `${where}: the function returned a ${describe(value)}, which is not an HTTP response. Return ` +
        `a Response, an object like {status, headers, body, jsonBody, cookies}, a plain object or ` +
        `array (sent as JSON), a string or bytes` +
        (value instanceof Map ? `; for a Map, return {jsonBody: Object.fromEntries(map)}` : ''),
    );
  }
  for (const key in value) {
    if (!RESPONSE_INIT_KEYS.includes(key) && Object.prototype.hasOwnProperty.call(value, key)) {
      const unknown = Object.keys(value).filter((k) => !RESPONSE_INIT_KEYS.includes(k));
      throw new TypeError(
        `${where}: the returned response has unknown key(s) ${unknown.map((k) => `'${k}'`).join(', ')}` +
          unknown.map((k) => suggestion(k)).join('') +
          `; a response object takes ${RESPONSE_INIT_KEYS.join(', ')} (wrap data in {jsonBody: ...})`,
      );
    }
  }
  // The range (100-999) is the Rust core's rule, checked when the response is handed over.
  const status = value.status ?? 200;
  if (typeof status !== 'number') {
    throw new TypeError(`${where}: status must be a number from 100 to 999, got ${JSON.stringify(value.status)}`);
  }
  let body = EMPTY;
  let bodyKind = 'bytes';
  if (value.jsonBody !== undefined) {
    body = JSON.stringify(value.jsonBody) ?? 'null';
    bodyKind = 'json';
  } else if (typeof value.body === 'string') {
    body = value.body;
    bodyKind = 'text';
  } else if (isBinary(value.body)) {
    body = toBuffer(value.body);
  } else if (value.body instanceof URLSearchParams) {
    body = value.body.toString();
  } else if (value.body !== undefined && value.body !== null) {
    body = Buffer.from(JSON.stringify(value.body), 'utf8');
    bodyKind = 'json';
  }
  const cookies = value.cookies == null ? [] : value.cookies.map((c) => cookieOut(c, where));
  return { status, headers: headerPairs(value.headers, where), cookies, body, bodyKind };
}

module.exports = { HttpRequest, httpResponseOut, httpResponseParts, isResponse, isBinary, toBuffer, editDistance };
