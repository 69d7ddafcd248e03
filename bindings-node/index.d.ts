// Types of the `fnwire` package: everything a function app touches.

/// <reference types="node" />

/** A binding description built by `trigger.*`, `input.*` or `output.*`. */
export interface Binding<Options = Record<string, unknown>> {
  readonly kind: string;
  readonly helper: string;
  readonly options: Readonly<Options>;
}
export interface TriggerBinding<O = Record<string, unknown>> extends Binding<O> {}
export interface InputBinding<O = Record<string, unknown>> extends Binding<O> {}
export interface OutputBinding<O = Record<string, unknown>> extends Binding<O> {}

/** Options every binding takes. `name` is the binding name the host sees (letters and digits). */
export interface BindingOptions {
  name?: string;
  dataType?: 'string' | 'binary' | 'stream';
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS' | 'TRACE' | 'CONNECT';

export interface HttpTriggerOptions extends BindingOptions {
  /** Route template under /api, e.g. `hello/{name?}`; the function name when left out. */
  route?: string;
  /** Accepted methods (any case); every method when left out. */
  methods?: (HttpMethod | Lowercase<HttpMethod>)[] | string;
  /**
   * Which key a caller needs: `anonymous` (none), `function` (a function or master key) or
   * `admin` (the master key). Default `anonymous`, as in Azure's v4 Node.js model.
   */
  authLevel?: 'anonymous' | 'function' | 'admin';
}
export interface TimerTriggerOptions extends BindingOptions {
  /** NCRONTAB with six fields (seconds first), e.g. `0 */5 * * * *`, or an `hh:mm:ss` interval. */
  schedule: string;
  runOnStartup?: boolean;
  useMonitor?: boolean;
}
export interface QueueOptions extends BindingOptions {
  queue: string;
  /** App setting naming the storage connection. */
  connection?: string;
}
/** Azure's RabbitMQ binding options (`rabbitMQTrigger`, `rabbitMQ` output). */
export interface RabbitMQOptions extends BindingOptions {
  queue: string;
  /** App setting holding the broker's `amqp://` URI. */
  connectionStringSetting?: string;
  disableCertificateValidation?: boolean;
}
export interface BlobOptions extends BindingOptions {
  /** `container/path`, may hold binding expressions such as `{queueTrigger}`. */
  path: string;
  connection?: string;
}
export interface TableInputOptions extends BindingOptions {
  tableName: string;
  /** With `rowKey`: one entity (or null); without: the partition's entities, as an array. */
  partitionKey?: string;
  rowKey?: string;
  /** An OData filter such as "Total gt 10 and Paid eq true". */
  filter?: string;
  /** At most this many entities. */
  take?: number;
  connection?: string;
}
export interface TableOutputOptions extends BindingOptions {
  tableName: string;
  /** For entities that carry no `PartitionKey` of their own. */
  partitionKey?: string;
  /** For entities that carry no `RowKey` of their own. */
  rowKey?: string;
  connection?: string;
}
export interface BlobTriggerOptions extends BindingOptions {
  /** `container/name pattern`, e.g. `uploads/{name}`: the pattern's parts reach `context.triggerMetadata`. */
  path: string;
  connection?: string;
  /** How new blobs are found; fnwire scans the container for both. */
  source?: 'LogsAndContainerScan' | 'EventGrid';
}
/** Any Azure binding: `type` plus its own keys, passed to the host as written. */
export interface GenericOptions {
  type: string;
  name?: string;
  direction?: 'in' | 'out' | 'inout';
  dataType?: 'string' | 'binary' | 'stream';
  [key: string]: unknown;
}

export declare const trigger: {
  http(options?: HttpTriggerOptions): TriggerBinding<HttpTriggerOptions>;
  timer(options: TimerTriggerOptions): TriggerBinding<TimerTriggerOptions>;
  queue(options: QueueOptions): TriggerBinding<QueueOptions>;
  storageBlob(options: BlobTriggerOptions): TriggerBinding<BlobTriggerOptions>;
  rabbitMQ(options: RabbitMQOptions): TriggerBinding<RabbitMQOptions>;
  generic(options: GenericOptions): TriggerBinding<GenericOptions>;
};
export declare const input: {
  blob(options: BlobOptions): InputBinding<BlobOptions>;
  table(options: TableInputOptions): InputBinding<TableInputOptions>;
  generic(options: GenericOptions): InputBinding<GenericOptions>;
};
export declare const output: {
  http(options?: BindingOptions): OutputBinding<BindingOptions>;
  queue(options: QueueOptions): OutputBinding<QueueOptions>;
  rabbitMQ(options: RabbitMQOptions): OutputBinding<RabbitMQOptions>;
  blob(options: BlobOptions): OutputBinding<BlobOptions>;
  table(options: TableOutputOptions): OutputBinding<TableOutputOptions>;
  generic(options: GenericOptions): OutputBinding<GenericOptions>;
};

/** A fetch-standard view of the HTTP request that triggered the function. */
export declare class HttpRequest {
  readonly method: string;
  /** Absolute URL, query string included. */
  readonly url: string;
  readonly headers: Headers;
  readonly query: URLSearchParams;
  /** Route parameters, e.g. `{ name: 'Bob' }` for `hello/{name?}`. */
  readonly params: Readonly<Record<string, string>>;
  readonly user: null;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly bodyUsed: boolean;
  /** Aborted when the host cancels the invocation (the same signal as `context.signal`). */
  readonly signal: AbortSignal;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  blob(): Promise<Blob>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  formData(): Promise<FormData>;
  clone(): HttpRequest;
}

export interface Cookie {
  name: string;
  value: string;
  domain?: string;
  path?: string;
  /** A `Date`, or milliseconds since the Unix epoch (as `Date.now()`). */
  expires?: Date | number;
  secure?: boolean;
  httpOnly?: boolean;
  /** Any case; another value fails the invocation with the core's message. */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** Seconds. */
  maxAge?: number;
}

/** What an HTTP function may return besides a fetch `Response`. */
export interface HttpResponseInit {
  /** A whole number from 100 to 999; default 200. */
  status?: number;
  /**
   * Every value of a repeated header reaches the client in order: give several with
   * `Headers.append`, repeated `[name, value]` pairs, or a list, e.g.
   * `{ Link: ['</a.css>; rel=preload', '</b.js>; rel=preload'] }`. `Set-Cookie` values become
   * cookies, like those of `cookies`.
   */
  headers?: HeadersInit | Record<string, string | string[]>;
  /** A string (sent as `text/plain; charset=utf-8` unless a header says otherwise) or bytes. */
  body?: string | Uint8Array | ArrayBuffer | URLSearchParams | null;
  /** Sent as JSON with `content-type: application/json`; wins over `body`. */
  jsonBody?: unknown;
  cookies?: Cookie[];
}
/**
 * What an HTTP handler may return. An object with none of `HttpResponseInit`'s keys (and any
 * array) is the JSON body of a 200, as `Response.json(value)` would send it; a `Map`, a `Set` or
 * a class instance is an error (a 500 naming what was returned), never an empty 200.
 */
export type HttpHandlerResult =
  | HttpResponseInit
  | Response
  | string
  | Uint8Array
  | Record<string, unknown>
  | unknown[]
  | void;

export interface TraceContext {
  traceParent?: string;
  traceState?: string;
  attributes: Record<string, string>;
}
export interface RetryContext {
  retryCount: number;
  maxRetryCount: number;
  exception?: { message: string };
}

/** Facts about the current invocation, logging, and the extra bindings' values. */
export declare class InvocationContext {
  readonly invocationId: string;
  readonly functionName: string;
  readonly traceContext: TraceContext;
  readonly retryContext?: RetryContext;
  /**
   * Aborted (with an `AbortError` `DOMException` as its reason) when the host cancels the
   * invocation: `functionTimeout` passed, the HTTP client went away, or the worker is stopping.
   * Pass it to `fetch`, `setTimeout` from `node:timers/promises` or a stream to stop them too.
   */
  readonly signal: AbortSignal;
  /** Binding data the trigger adds (camelCased), e.g. a queue message's `dequeueCount`. */
  readonly triggerMetadata: Record<string, unknown>;
  readonly options: { trigger: BindingInfo; return?: BindingInfo; bindings: BindingInfo[] };
  readonly extraInputs: { get(binding: InputBinding | string): unknown };
  readonly extraOutputs: {
    set(binding: OutputBinding | string, value: unknown): void;
    get(binding: OutputBinding | string): unknown;
  };
  /** Sends an Information log to the host, tagged with this invocation. */
  log(...args: unknown[]): void;
  trace(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
export interface BindingInfo {
  name: string;
  type: string;
  direction: 'in' | 'out' | 'inout';
}

/** `{ isPastDue, schedule, scheduleStatus }` as the host sends it, camelCased. */
export interface Timer {
  isPastDue: boolean;
  schedule?: { adjustForDST?: boolean };
  scheduleStatus?: { last?: string; next?: string; lastUpdated?: string } | null;
}

export type Handler<T, R = unknown> = (input: T, context: InvocationContext) => R | Promise<R>;

export interface FunctionOptions<T, R = unknown> {
  handler: Handler<T, R>;
  extraInputs?: InputBinding[];
  extraOutputs?: OutputBinding[];
}
export interface HttpFunctionOptions extends HttpTriggerOptions, FunctionOptions<HttpRequest, HttpHandlerResult> {
  /** The response binding; `output.http()` by default. */
  return?: OutputBinding;
}
export interface TimerFunctionOptions extends TimerTriggerOptions, FunctionOptions<Timer, void> {}
/**
 * A queue message as the handler receives it: a message holding a JSON object or array arrives
 * parsed (as in Azure's v4 model); any other text is a string; binary content is a Buffer.
 */
export type QueueMessage = string | Record<string, unknown> | unknown[] | Buffer;

/** `T` narrows the message's type when the producer is known, e.g. `QueueFunctionOptions<Job>`. */
export interface QueueFunctionOptions<T = QueueMessage> extends QueueOptions, FunctionOptions<T> {
  /** An output that receives the handler's return value, e.g. `output.queue({ queue: 'done' })`. */
  return?: OutputBinding;
}
/** The blob's content arrives as a Buffer (a string with `dataType: 'string'`). */
export interface BlobFunctionOptions extends BlobTriggerOptions, FunctionOptions<Buffer> {
  return?: OutputBinding;
}
export interface RabbitMQFunctionOptions<T = QueueMessage> extends RabbitMQOptions, FunctionOptions<T> {
  /** An output that receives the handler's return value, e.g. `output.rabbitMQ({ queue: 'done' })`. */
  return?: OutputBinding;
}
export interface GenericFunctionOptions extends FunctionOptions<unknown> {
  trigger: TriggerBinding;
  return?: OutputBinding;
}

/**
 * Registers functions. Call these while the app's entry files load; a mistake throws at once,
 * naming the function and every problem.
 */
export declare const app: {
  httpTrigger(name: string, options: HttpFunctionOptions): void;
  timerTrigger(name: string, options: TimerFunctionOptions): void;
  queueTrigger<T = QueueMessage>(name: string, options: QueueFunctionOptions<T>): void;
  storageBlob(name: string, options: BlobFunctionOptions): void;
  rabbitMQTrigger<T = QueueMessage>(name: string, options: RabbitMQFunctionOptions<T>): void;
  generic(name: string, options: GenericFunctionOptions): void;
};
