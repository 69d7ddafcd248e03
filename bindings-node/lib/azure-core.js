'use strict';
// `@azure/functions-core`: the module the `@azure/functions` library (v4) expects its worker to
// provide. fnwire's worker provides it, so an unmodified v4 app runs on the fnwire core. The
// RPC-shaped objects the library's invocation model reads and returns are built and read in Rust
// (src/azure.rs); this file keeps the JavaScript-side registries (callbacks, hooks, the
// programming model) and runs the library's invocation steps in the order Microsoft's worker does.

const Module = require('node:module');
const util = require('node:util');
const native = require('./native');
const { version } = require('../package.json');

const CORE_MODULE = '@azure/functions-core';
const HOOK_NAMES = ['appStart', 'appTerminate', 'preInvocation', 'postInvocation', 'log'];
const LOG_LEVELS = new Set(['trace', 'debug', 'information', 'warning', 'error', 'critical', 'none']);

/** Callbacks and metadata by the index the core gave each function. */
const functions = [];
const hooks = Object.fromEntries(HOOK_NAMES.map((name) => [name, []]));
/** Shared by every hook of the app (`appHookData`). */
const appHookData = {};
let programmingModel;
let currentScript = '';
let startupFinished = false;

class Disposable {
  static from(...disposables) {
    let pending = disposables;
    return new Disposable(() => {
      for (const d of pending ?? []) if (d && typeof d.dispose === 'function') d.dispose();
      pending = undefined;
    });
  }

  #onDispose;

  constructor(onDispose) {
    this.#onDispose = onDispose;
  }

  dispose() {
    if (typeof this.#onDispose === 'function') {
      const onDispose = this.#onDispose;
      this.#onDispose = undefined;
      onDispose();
    }
  }
}

function registerFunction(metadata, callback) {
  if (startupFinished) {
    throw new Error('fnwire: a function can only be registered during app startup, while the entry files load');
  }
  if (typeof callback !== 'function') {
    throw new TypeError(`fnwire: function '${metadata?.name}' was registered without a handler function`);
  }
  let registered;
  try {
    registered = native.azureRegisterFunction(metadata, currentScript);
  } catch (e) {
    throw new Error(`fnwire: ${e.message}`);
  }
  functions[registered.index] = { metadata: registered.metadata, callback };
  return new Disposable(() => {
    if (startupFinished) {
      throw new Error('fnwire: a function can only be disposed during app startup, while the entry files load');
    }
    native.azureUnregisterFunction(registered.index);
    delete functions[registered.index];
  });
}

function registerHook(hookName, callback) {
  const list = hooks[hookName];
  if (!list) {
    const error = new RangeError(`Unrecognized hook "${hookName}"; fnwire knows ${HOOK_NAMES.join(', ')}`);
    error.isAzureFunctionsSystemError = true;
    throw error;
  }
  if (typeof callback !== 'function') {
    throw new TypeError(`fnwire: the ${hookName} hook must be a function, got ${util.inspect(callback)}`);
  }
  list.push(callback);
  return new Disposable(() => {
    const i = list.indexOf(callback);
    if (i !== -1) list.splice(i, 1);
  });
}

/** A log that is not part of an invocation: the host captures the worker's stderr. */
function processLog(level, category, message) {
  if (category === 'system' && (level === 'trace' || level === 'debug' || level === 'information')) return;
  if (level === 'none') return;
  process.stderr.write(`[${level}] ${message}\n`);
}

/** Runs the log hooks, which may change the level and message; returns the final record. */
function runLogHooks(level, category, message, invocationContext) {
  if (hooks.log.length === 0) return { level, message };
  const ctx = { level, message, category, hookData: {}, appHookData, invocationContext };
  for (const hook of hooks.log) hook(ctx);
  return { level: LOG_LEVELS.has(ctx.level) ? ctx.level : level, message: String(ctx.message) };
}

const coreApi = {
  version,
  get hostVersion() {
    // The host's version arrives in WorkerInitRequest, which the Rust core answers by itself;
    // the library does not read it.
    return '';
  },
  registerFunction,
  registerHook,
  setProgrammingModel(model) {
    if (!model || typeof model.getInvocationModel !== 'function') {
      throw new TypeError('fnwire: setProgrammingModel needs an object with getInvocationModel(coreContext)');
    }
    programmingModel = model;
  },
  getProgrammingModel() {
    return programmingModel;
  },
  log(level, category, message) {
    const record = runLogHooks(level, category, message, undefined);
    processLog(record.level, category, record.message);
  },
  Disposable,
};

/** Makes `require('@azure/functions-core')` answer the core API, as Microsoft's worker does. */
function installCoreModule() {
  if (Module.prototype.require.fnwireCore) return;
  const original = Module.prototype.require;
  const proxied = new Proxy(original, {
    apply(target, thisArg, args) {
      return args[0] === CORE_MODULE ? coreApi : Reflect.apply(target, thisArg, args);
    },
  });
  proxied.fnwireCore = true;
  Module.prototype.require = proxied;
}

function setCurrentScript(file) {
  currentScript = file;
}

function registeredCount() {
  return native.azureFunctionCount();
}

// Capabilities Microsoft's Node worker starts from; the programming model may add to them.
const DEFAULT_CAPABILITIES = {
  RawHttpBodyBytes: 'true',
  RpcHttpTriggerMetadataRemoved: 'true',
  RpcHttpBodyOnly: 'true',
  IgnoreEmptyValuedRpcHttpHeaders: 'true',
  UseNullableValueDictionaryForHttp: 'true',
  WorkerStatus: 'true',
  TypedDataCollection: 'true',
  HandlesWorkerTerminateMessage: 'true',
};

/**
 * After the entry files loaded: locks `app.setup`, refuses what fnwire cannot do, runs the
 * `appStart` hooks and hands the core the invocation callback.
 */
async function startApp(appDir) {
  if (registeredCount() === 0) return;
  if (!programmingModel) {
    throw new Error(
      'fnwire: functions were registered through @azure/functions-core, but no programming model was set; ' +
        'register functions with `app` from @azure/functions (v4)',
    );
  }
  if (typeof programmingModel.getCapabilities === 'function') {
    const capabilities = await programmingModel.getCapabilities({ ...DEFAULT_CAPABILITIES });
    if (capabilities && capabilities.HttpUri) {
      throw new Error(
        "fnwire: app.setup({ enableHttpStream: true }) is not supported: fnwire's host sends HTTP requests over " +
          'the worker stream, not through a proxied connection. Remove `enableHttpStream` from app.setup(...) ' +
          '(request and response bodies are still delivered whole)',
      );
    }
    const added = Object.keys(capabilities ?? {}).filter((key) => !(key in DEFAULT_CAPABILITIES));
    if (added.length > 0) {
      processLog('warning', 'system', `fnwire ignores the capabilities set with app.setup(): ${added.join(', ')}`);
    }
  }
  for (const hook of hooks.appStart) {
    await hook({ hookData: {}, appHookData, functionAppDirectory: appDir });
  }
  startupFinished = true;
  native.azureAttach(dispatch);
}

/** Runs the `appTerminate` hooks once the worker has stopped. Never throws. */
async function terminateApp() {
  for (const hook of hooks.appTerminate) {
    try {
      await hook({ hookData: {}, appHookData });
    } catch (error) {
      processLog('error', 'system', `an appTerminate hook failed: ${error && error.stack ? error.stack : error}`);
    }
  }
}

class CoreInvocationContext {
  #callId;
  #category;

  constructor(call, metadata) {
    this.#callId = call.callId;
    this.#category = `${metadata.name}.Invocation`;
    this.invocationId = call.request.invocationId;
    this.request = call.request;
    this.metadata = metadata;
    this.state = undefined;
    this.invocationContext = undefined;
  }

  log(level, category, message) {
    const record = runLogHooks(level, category, message, this.invocationContext);
    if (record.level === 'none') return;
    if (category === 'user' && native.azureInvocationLog(this.#callId, record.level, record.message)) return;
    processLog(record.level, category, `${this.#category} (${this.invocationId}): ${record.message}`);
  }
}

async function runHooks(list, ctx) {
  for (const hook of list) await hook(ctx);
}

/** One invocation, in the steps and order of Microsoft's worker. */
async function invoke(call, fn) {
  const coreCtx = new CoreInvocationContext(call, fn.metadata);
  const model = await programmingModel.getInvocationModel(coreCtx);
  const hookData = {};
  const { context, inputs } = await model.getArguments();
  coreCtx.invocationContext = context;

  const pre = { hookData, appHookData, invocationContext: context, functionCallback: fn.callback, inputs };
  // Without hooks (the common case) the steps skip the promise turns hooks would cost.
  if (hooks.preInvocation.length > 0) {
    coreCtx.state = 'preInvocationHooks';
    try {
      await runHooks(hooks.preInvocation, pre);
    } finally {
      coreCtx.state = undefined;
    }
  }

  const post = { hookData, appHookData, invocationContext: context, inputs: pre.inputs, result: null, error: null };
  coreCtx.state = 'invocation';
  try {
    post.result = await model.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (error) {
    post.error = error;
  } finally {
    coreCtx.state = undefined;
  }

  if (hooks.postInvocation.length > 0) {
    coreCtx.state = 'postInvocationHooks';
    try {
      await runHooks(hooks.postInvocation, post);
    } finally {
      coreCtx.state = undefined;
    }
  }
  if (post.error !== null && post.error !== undefined) throw post.error;
  return model.getResponse(context, post.result);
}

function failure(error) {
  if (error instanceof Error) return [error.message || String(error), error.stack ?? ''];
  return [`the function threw a non-Error value: ${util.inspect(error)}`, ''];
}

/** Hands the invocation model's response to the core. */
function complete(callId, response) {
  const returned = response.returnValue;
  const http = returned?.http;
  // An HTTP answer alone (every HTTP function's) goes member by member, which N-API reads far
  // faster than the whole object; the members the core would prefer to `http` must be absent.
  if (
    http &&
    (response.outputData == null || (Array.isArray(response.outputData) && response.outputData.length === 0)) &&
    returned.string === undefined &&
    returned.json === undefined &&
    returned.bytes === undefined &&
    returned.stream === undefined
  ) {
    native.azureInvocationCompleteHttp(
      callId,
      http.statusCode,
      http.headers,
      http.body,
      http.cookies,
      http.enableContentNegotiation,
    );
  } else {
    native.azureInvocationComplete(callId, response);
  }
}

/** Called by the core, on the event loop, for each invocation. Never throws. */
function dispatch(call) {
  const fn = functions[call.functionIndex];
  if (!fn) {
    native.azureInvocationFail(call.callId, `fnwire: no handler for function index ${call.functionIndex}`, '');
    return;
  }
  invoke(call, fn)
    .then(
      (response) => complete(call.callId, response ?? {}),
      (error) => native.azureInvocationFail(call.callId, ...failure(error)),
    )
    .catch((error) => native.azureInvocationFail(call.callId, ...failure(error)));
}

module.exports = { coreApi, installCoreModule, setCurrentScript, registeredCount, startApp, terminateApp };
