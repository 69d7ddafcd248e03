'use strict';
// Registration (`app.*`) and invocation (`dispatch`). Options are collected here and handed to
// the Rust core, which checks and renders them; handlers run here, on the event loop.

const util = require('node:util');
const native = require('./native');
const { trigger, isBinding, defaultName, httpTriggerOptions, serviceBusOptions } = require('./bindings');
const { HttpRequest, httpResponseOut, httpResponseParts, isResponse, isBinary, toBuffer, editDistance } = require('./http');

/** Registered functions by the id the core gave them. */
const functions = [];
/** The entry file being loaded, reported as the functions' script file. */
let currentScript = '';

function setCurrentScript(file) {
  currentScript = file;
}

const FUNCTION_KEYS = new Set(['handler', 'extraInputs', 'extraOutputs', 'return', 'trigger']);

/** The trigger's name when its options give none: what the handler's first argument carries. */
const TRIGGER_NAMES = { http_trigger: 'req', timer_trigger: 'timer', queue_trigger: 'msg', blob_trigger: 'blob', service_bus_trigger: 'msg', rabbitmq_trigger: 'msg' };

function register(via, name, trig, options) {
  const site = `${via}(${JSON.stringify(name)})`;
  if (typeof name !== 'string') {
    throw new TypeError(`fnwire: ${via}() needs the function name as its first argument, got ${util.inspect(name)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`fnwire: ${site} needs an options object with a handler, got ${util.inspect(options)}`);
  }
  // A misspelled function option (`hander`, `extraOutput`) would otherwise reach the trigger's
  // options and be reported as an unknown trigger option without the intended name.
  for (const key of Object.keys(options)) {
    if (FUNCTION_KEYS.has(key)) continue;
    const near = [...FUNCTION_KEYS].find((k) => editDistance(key.toLowerCase(), k.toLowerCase()) <= 2);
    if (near !== undefined && !(near in options)) {
      throw new TypeError(`fnwire: ${site} has no option \`${key}\`; did you mean \`${near}\`?`);
    }
  }
  if (typeof options.handler !== 'function') {
    throw new TypeError(
      `fnwire: ${site} needs \`handler\`: the function to run, e.g. handler: async (request, context) => ({ body: 'hi' })`,
    );
  }
  const extras = [];
  for (const [key, role] of [
    ['extraInputs', 'in'],
    ['extraOutputs', 'out'],
  ]) {
    const list = options[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      throw new TypeError(`fnwire: ${site}: \`${key}\` must be a list of bindings, got ${util.inspect(list)}`);
    }
    list.forEach((binding, i) => {
      if (!isBinding(binding)) {
        throw new TypeError(
          `fnwire: ${site}: ${key}[${i}] is not a binding; build one with ${role === 'in' ? 'input' : 'output'}.queue(...), .blob(...) or .generic(...)`,
        );
      }
      extras.push({ binding, role });
    });
  }
  const ret = options.return;
  if (ret !== undefined && !isBinding(ret)) {
    throw new TypeError(`fnwire: ${site}: \`return\` must be an output binding such as output.queue({ queue: 'done' })`);
  }
  const requests = [{ kind: trig.kind, defaultName: TRIGGER_NAMES[trig.kind] ?? defaultName(trig, 'trigger'), options: trig.options }];
  if (ret) {
    // The return binding is the return value, whatever its options call it.
    const { name: _ignored, ...rest } = ret.options;
    requests.push({ kind: ret.kind, options: rest });
  }
  for (const { binding, role } of extras) {
    requests.push({ kind: binding.kind, defaultName: defaultName(binding, role), options: binding.options });
  }
  const { function: defined, error } = native.defineFunction({ name, via, scriptFile: currentScript, bindings: requests });
  if (error) throw Object.assign(new Error(`fnwire: ${error.message}`), { problems: error.problems });
  // Each extra binding object maps to the name the core settled on, for ctx.extraOutputs.
  const first = ret ? 2 : 1;
  const names = new Map();
  for (const b of defined.bindings) {
    if (b.declaration !== undefined && b.declaration >= first) names.set(extras[b.declaration - first].binding, b.name);
  }
  const fn = {
    id: defined.id,
    name,
    handler: options.handler,
    bindings: defined.bindings,
    trigger: defined.bindings[0],
    returnBinding: defined.bindings.find((b) => b.name === '$return'),
    names,
  };
  functions[defined.id] = fn;
  return fn;
}

function triggerOptions(options) {
  const out = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!FUNCTION_KEYS.has(key)) out[key] = value;
  }
  return out;
}

const app = Object.freeze({
  /** An HTTP-triggered function; its response is the handler's return value. Without
   * `authLevel` it is anonymous, as in Azure's v4 Node.js model. */
  httpTrigger(name, options) {
    register('app.httpTrigger', name, { kind: 'http_trigger', options: httpTriggerOptions(triggerOptions(options)) }, options);
  },
  /** A function run on a schedule (NCRONTAB, six fields, seconds first). */
  timerTrigger(name, options) {
    register('app.timerTrigger', name, { kind: 'timer_trigger', options: triggerOptions(options) }, options);
  },
  /** A function run for each message on a storage queue. */
  queueTrigger(name, options) {
    register('app.queueTrigger', name, { kind: 'queue_trigger', options: triggerOptions(options) }, options);
  },
  /** A function run once for each new or changed blob whose path fits `path` (`uploads/{name}`);
   * the handler gets the content as a Buffer, and the path's parts in `context.triggerMetadata`. */
  storageBlob(name, options) {
    register('app.storageBlob', name, { kind: 'blob_trigger', options: triggerOptions(options) }, options);
  },
  /** A function run for each message on a RabbitMQ queue (`rabbitMQTrigger`): `{ queue,
   * connectionStringSetting, handler, return?: output.rabbitMQ({...}) }`. */
  rabbitMQTrigger(name, options) {
    register('app.rabbitMQTrigger', name, { kind: 'rabbitmq_trigger', options: triggerOptions(options) }, options);
  },
  /** A function run for each message on a Service Bus queue: `{ queueName, connection, handler }`. */
  serviceBusQueue(name, options) {
    register('app.serviceBusQueue', name, { kind: 'service_bus_trigger', options: serviceBusOptions(triggerOptions(options)) }, options);
  },
  /** A function run for each message of a topic's subscription: `{ topicName, subscriptionName, connection, handler }`. */
  serviceBusTopic(name, options) {
    register('app.serviceBusTopic', name, { kind: 'service_bus_trigger', options: serviceBusOptions(triggerOptions(options)) }, options);
  },
  /** Any trigger: `app.generic(name, { trigger: trigger.generic({ type, ... }), handler, return?, extraInputs?, extraOutputs? })`. */
  generic(name, options) {
    const t = options?.trigger;
    if (!isBinding(t)) {
      throw new TypeError(
        `fnwire: app.generic(${JSON.stringify(name)}) needs \`trigger\`: a binding such as trigger.http({...}) or trigger.generic({ type: '...' })`,
      );
    }
    register('app.generic', name, t, options);
  },
});

// ---------------------------------------------------------------------------------------------
// Invocation

function camelKey(key) {
  return key.length === 0 ? key : key[0].toLowerCase() + key.slice(1);
}

function camelDeep(value) {
  if (Array.isArray(value)) return value.map(camelDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [camelKey(k), camelDeep(v)]));
  }
  return value;
}

function parseJson(text, binding) {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (binding === undefined) return text; // trigger metadata: keep what the host sent
    throw new Error(`binding '${binding}': the host sent JSON that does not parse (${e.message}): ${text.slice(0, 200)}`);
  }
}

/**
 * A host value as JavaScript: strings stay strings, JSON is parsed, bytes are a Buffer. For a
 * binding (`binding` given), JSON that does not parse is an error. `buffers` holds the call's
 * byte values, which the data names by index (see src/convert.rs, `DataIn`).
 */
function fromData(data, buffers, binding) {
  switch (data.kind) {
    case 'string':
      return data.text;
    case 'json':
      return parseJson(data.text, binding);
    case 'bytes':
      return buffers[data.buffer];
    case 'number':
      return data.number ?? Number(data.text);
    case 'http':
      return new HttpRequest(httpInit(data.http, buffers));
    default:
      return undefined;
  }
}

function httpInit(http, buffers, signal) {
  const body = http.body === undefined ? undefined : buffers[http.body];
  return { method: http.method, url: http.url, headers: http.headers, query: http.query, params: http.params, body, signal };
}

const QUEUE_TRIGGERS = new Set(['queueTrigger', 'serviceBusTrigger', 'rabbitMQTrigger', 'eventHubTrigger', 'eventGridTrigger']);

function triggerValue(fn, data, buffers, signal) {
  if (fn.trigger.type === 'httpTrigger' && data.kind !== 'http') {
    throw new TypeError(`binding '${fn.trigger.name}': expected an HTTP request, but the host sent ${data.kind} data`);
  }
  // Like a fetch Request, the request carries the invocation's signal.
  if (data.kind === 'http') return new HttpRequest(httpInit(data.http, buffers, signal));
  // A queue message that is a JSON object or array arrives parsed, as in Azure's v4 model (whose
  // host sends such messages as JSON); any other text stays a string.
  if (QUEUE_TRIGGERS.has(fn.trigger.type) && data.kind === 'string' && /^\s*[[{]/.test(data.text)) {
    try {
      return JSON.parse(data.text);
    } catch {
      return data.text;
    }
  }
  const value = fromData(data, buffers, fn.trigger.name);
  // The timer's status arrives in .NET's PascalCase; JavaScript users expect camelCase.
  if (fn.trigger.type === 'timerTrigger' && value && typeof value === 'object') return camelDeep(value);
  return value;
}

/** The DTO for a produced value. */
async function dataOut(value, type, where) {
  if (type === 'http') return { kind: 'http', http: await httpResponseOut(value, where) };
  if (value === undefined || value === null) return { kind: 'none' };
  if (typeof value === 'string') return { kind: 'string', text: value };
  if (isBinary(value)) return { kind: 'bytes', bytes: toBuffer(value) };
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${where}: a ${typeof value} cannot be sent to the host`);
  return { kind: 'json', text };
}

const NO_BUFFERS = [];

class InvocationContext {
  #callId;
  #fn;
  #inputs;
  #buffers;
  #outputs = new Map();
  /** The trigger metadata's JSON text until `triggerMetadata` is first read. */
  #metadataText;
  #triggerMetadata;
  #controller;
  #extraInputs;
  #extraOutputs;

  /**
   * @param {number} callId
   * @param {{invocationId: string, functionName: string, traceParent: string, traceState: string,
   *   traceAttributes: object, retry?: {retryCount: number, maxRetryCount: number, exceptionMessage?: string},
   *   inputs: {name: string, data: object}[]}} call the `head` the core sent
   * @param {string} metadataText the trigger metadata, `{name: data}` as JSON text
   * @param {Buffer[]} buffers the byte values `call` and the metadata name by index
   */
  constructor(callId, call, fn, metadataText, buffers) {
    this.#callId = callId;
    this.#fn = fn;
    this.#inputs = call.inputs;
    this.#buffers = buffers;
    this.#metadataText = metadataText;
    this.invocationId = call.invocationId;
    this.functionName = call.functionName;
    this.traceContext = {
      traceParent: call.traceParent || undefined,
      traceState: call.traceState || undefined,
      attributes: call.traceAttributes ?? {},
    };
    this.retryContext = call.retry
      ? {
          retryCount: call.retry.retryCount,
          maxRetryCount: call.retry.maxRetryCount,
          exception: call.retry.exceptionMessage ? { message: call.retry.exceptionMessage } : undefined,
        }
      : undefined;
    this.options = { trigger: fn.trigger, return: fn.returnBinding, bindings: fn.bindings };
  }

  /** Aborted when the host cancels the invocation (functionTimeout, the client went away, the
   * worker is stopping); hand it to `fetch`, timers and streams so they stop too. Made when first
   * read (or when the host cancels), since most invocations never look at it. */
  get signal() {
    return (this.#controller ??= new AbortController()).signal;
  }

  /** The trigger's metadata, parsed when first read. */
  get triggerMetadata() {
    if (this.#triggerMetadata === undefined) {
      const metadata = this.#metadataText ? JSON.parse(this.#metadataText) : {};
      const out = {};
      for (const name of Object.keys(metadata)) out[camelKey(name)] = fromData(metadata[name], this.#buffers);
      this.#triggerMetadata = out;
      this.#metadataText = undefined;
    }
    return this.#triggerMetadata;
  }

  get extraInputs() {
    const ctx = this;
    return (this.#extraInputs ??= Object.freeze({
      get(binding) {
        const name = ctx.#bindingName(binding, 'extraInputs.get');
        const data = ctx.#inputs.find((i) => i.name === name)?.data;
        return data ? fromData(data, ctx.#buffers, name) : undefined;
      },
    }));
  }

  get extraOutputs() {
    const ctx = this;
    return (this.#extraOutputs ??= Object.freeze({
      set(binding, value) {
        ctx.#outputs.set(ctx.#bindingName(binding, 'extraOutputs.set'), value);
      },
      get(binding) {
        return ctx.#outputs.get(ctx.#bindingName(binding, 'extraOutputs.get'));
      },
    }));
  }

  #bindingName(binding, where) {
    if (typeof binding === 'string') return binding;
    const name = this.#fn.names.get(binding);
    if (name === undefined) {
      throw new Error(
        `fnwire: ${where}: this binding is not declared by function '${this.functionName}'; ` +
          'add it to extraInputs/extraOutputs when registering the function',
      );
    }
    return name;
  }

  /** Logs at level Information; the host receives it tagged with this invocation. */
  log(...args) {
    this.#log('information', args);
  }
  trace(...args) {
    this.#log('trace', args);
  }
  debug(...args) {
    this.#log('debug', args);
  }
  info(...args) {
    this.#log('information', args);
  }
  warn(...args) {
    this.#log('warning', args);
  }
  error(...args) {
    this.#log('error', args);
  }

  #log(level, args) {
    const message = util.format(...args);
    if (!native.invocationLog(this.#callId, level, message)) {
      process.stderr.write(
        `fnwire: ${this.functionName} (${this.invocationId}) logged after it finished, so the host will not tag it: ${message}\n`,
      );
    }
  }

  /** Internal: the outputs the handler set. */
  static outputs(ctx) {
    return ctx.#outputs;
  }

  /** Internal: the trigger's value (the first argument of the handler). */
  static triggerValue(ctx) {
    const fn = ctx.#fn;
    const data = ctx.#inputs.find((i) => i.name === fn.trigger.name)?.data ?? { kind: 'none' };
    return triggerValue(fn, data, ctx.#buffers, () => ctx.signal);
  }

  /** Internal: aborts the invocation's signal (made now if nothing read it yet). */
  static abort(ctx, reason) {
    (ctx.#controller ??= new AbortController()).abort(reason);
  }
}

async function outcome(fn, ctx, result) {
  const outputs = [];
  for (const [name, value] of InvocationContext.outputs(ctx)) {
    const binding = fn.bindings.find((b) => b.name === name);
    if (!binding || binding.direction === 'in') {
      throw new Error(`extraOutputs.set('${name}'): function '${fn.name}' has no output binding named '${name}'`);
    }
    outputs.push({ name, data: await dataOut(value, binding.type, `output '${name}' of '${fn.name}'`) });
  }
  const ret = fn.returnBinding;
  const returnValue = ret ? await dataOut(result, ret.type, `the return value of '${fn.name}'`) : undefined;
  return { outputs, returnValue };
}

function failure(error) {
  if (error instanceof Error) {
    return [error.message || String(error), error.stack ?? '', error.name];
  }
  return [`the function threw a non-Error value: ${util.inspect(error)}`, '', typeof error];
}

/** The contexts of the invocations JavaScript is running, by call id. */
const running = new Map();

/** Called by the core when the host cancels an invocation that is still running. */
function cancel(callId) {
  const ctx = running.get(callId);
  if (!ctx) return;
  running.delete(callId);
  InvocationContext.abort(
    ctx,
    new DOMException(
      'the host cancelled the invocation (functionTimeout passed, the client went away, or the worker is stopping)',
      'AbortError',
    ),
  );
}

/**
 * Hands the core what the function produced. An HTTP response alone (what HTTP functions answer,
 * unless they set extra outputs, return a fetch `Response` or set cookies) goes as arguments,
 * without the promise turns and the nested DTO of the general path. Returns a promise only on the
 * general path.
 */
function complete(callId, fn, ctx, result) {
  const ret = fn.returnBinding;
  if (ret !== undefined && ret.type === 'http' && InvocationContext.outputs(ctx).size === 0 && !isResponse(result)) {
    const parts = httpResponseParts(result, `the return value of '${fn.name}'`);
    if (parts.cookies.length === 0) {
      const headers = [];
      for (const [name, value] of parts.headers) headers.push(name, value);
      native.invocationCompleteHttp(callId, parts.status, headers, parts.body, parts.bodyKind);
      return undefined;
    }
  }
  return outcome(fn, ctx, result).then((done) => native.invocationComplete(callId, done));
}

/**
 * Called by the core, on the event loop, for each invocation with its call id, the function's id,
 * the invocation as JSON text, the trigger metadata as JSON text, and the byte values both name
 * by index (src/convert.rs, `InvocationCall`). Never throws.
 */
function dispatch(callId, functionId, head, metadata, buffers) {
  const fn = functions[functionId];
  if (!fn) {
    native.invocationFail(callId, `fnwire: no JavaScript handler for function id ${functionId}`, '', 'fnwire');
    return;
  }
  let ctx;
  try {
    ctx = new InvocationContext(callId, JSON.parse(head), fn, metadata, buffers ?? NO_BUFFERS);
  } catch (e) {
    native.invocationFail(callId, ...failure(e));
    return;
  }
  running.set(callId, ctx);
  const fail = (error) => {
    running.delete(callId);
    native.invocationFail(callId, ...failure(error));
  };
  const done = (result) => {
    try {
      const pending = complete(callId, fn, ctx, result);
      if (pending === undefined) running.delete(callId);
      else pending.then(() => running.delete(callId), fail);
    } catch (error) {
      fail(error);
    }
  };
  let result;
  try {
    result = fn.handler(InvocationContext.triggerValue(ctx), ctx);
  } catch (error) {
    fail(error);
    return;
  }
  // An async handler (the usual kind) answers with a promise; a plain function's value is
  // used at once, without a promise turn.
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    Promise.resolve(result).then(done, fail);
  } else {
    done(result);
  }
}

function registeredCount() {
  return functions.filter(Boolean).length;
}

module.exports = { app, trigger, dispatch, cancel, setCurrentScript, registeredCount, InvocationContext };
