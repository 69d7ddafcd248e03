'use strict';
// What @azure/functions itself costs per HTTP invocation, without fnwire: this app's `hello` runs
// through the library's invocation model (getArguments, invokeFunction, getResponse) against a
// stand-in core that does nothing. Compare with `http-node-azure` in the bench: the library's
// time per call bounds what any worker can serve on one JavaScript thread.
//
//   node bench/apps/azure-node/library-cost.js [invocations]

const Module = require('node:module');
const path = require('node:path');

let programmingModel;
let registered;
const standInCore = {
  version: '0.0.0',
  hostVersion: '',
  registerFunction(metadata, callback) {
    registered = { metadata, callback };
    return { dispose() {} };
  },
  registerHook: () => ({ dispose() {} }),
  setProgrammingModel(model) {
    programmingModel = model;
  },
  getProgrammingModel: () => programmingModel,
  log() {},
  Disposable: class {
    static from() {
      return { dispose() {} };
    }
    dispose() {}
  },
};
const originalRequire = Module.prototype.require;
Module.prototype.require = function require(id) {
  return id === '@azure/functions-core' ? standInCore : originalRequire.apply(this, arguments);
};
require(path.join(__dirname, 'index.js'));

// The bindings the library registers for `hello`, with the names the model looks up.
const metadata = {
  name: 'hello',
  bindings: {
    httpTrigger: { type: 'httpTrigger', direction: 'in' },
    $return: { type: 'http', direction: 'out' },
  },
};

/** The request fnwire's worker hands the model for `GET /api/hello?name=bench`. */
function rpcRequest(invocationId) {
  return {
    invocationId,
    functionId: 'hello',
    inputData: [
      {
        name: 'httpTrigger',
        data: {
          http: {
            method: 'GET',
            url: 'http://127.0.0.1:7071/api/hello?name=bench',
            headers: { host: '127.0.0.1:7071', accept: '*/*' },
            query: { name: 'bench' },
            params: {},
            body: { bytes: new Uint8Array(0) },
          },
        },
      },
    ],
    triggerMetadata: {},
    traceContext: { traceParent: '', traceState: '', attributes: {} },
  };
}

async function invokeOnce(i) {
  const invocationId = `invocation-${i}`;
  const coreCtx = { invocationId, request: rpcRequest(invocationId), metadata, state: undefined, log() {} };
  const model = await programmingModel.getInvocationModel(coreCtx);
  const { context, inputs } = await model.getArguments();
  const result = await model.invokeFunction(context, inputs, registered.callback);
  return model.getResponse(context, result);
}

/** Runs `count` invocations, 64 at a time as the bench's connections do; answers µs per call. */
async function measure(count) {
  const start = process.hrtime.bigint();
  for (let done = 0; done < count; done += 64) {
    const batch = [];
    for (let i = done; i < Math.min(done + 64, count); i++) batch.push(invokeOnce(i));
    await Promise.all(batch);
  }
  return Number(process.hrtime.bigint() - start) / 1e3 / count;
}

async function main() {
  const count = Number(process.argv[2] ?? 50000);
  if (!Number.isInteger(count) || count <= 0) {
    throw new Error(`the invocation count must be a positive integer, got \`${process.argv[2]}\``);
  }
  const first = await invokeOnce(0);
  const body = Buffer.from(first.returnValue.http.body.bytes).toString();
  if (body !== 'Hello, bench!') {
    throw new Error(`the library answered \`${body}\` instead of \`Hello, bench!\`; is index.js unchanged?`);
  }
  await measure(Math.min(count, 20000)); // warm-up: let V8 optimise the library's code
  const micros = await measure(count);
  console.log(
    `@azure/functions alone: ${micros.toFixed(1)} µs per HTTP invocation, at most ` +
      `${Math.round(1e6 / micros)} invocations/s on one JavaScript thread`,
  );
}

main().catch((error) => {
  console.error(`library-cost: ${error.stack ?? error}`);
  process.exit(1);
});
