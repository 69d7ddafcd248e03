'use strict';
// The conformance contract app (conformance/CONTRACT.md), function for function, written against
// Microsoft's @azure/functions v4 programming model and nothing else: it would run the same on
// Microsoft's Node worker. Binding names are given where the contract fixes them (`req`, `msg`,
// `timer`, ...); the library would otherwise derive them from a hash. CommonJS on purpose:
// examples/azure-node covers ES modules.

const crypto = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');
const { app, input, output } = require('@azure/functions');

const TEXT = 'text/plain; charset=utf-8';
const STORAGE = 'AzureWebJobsStorage';
const http = (route, methods, handler) => ({ name: 'req', route, methods, authLevel: 'anonymous', handler });
const utf8 = new TextDecoder('utf-8', { fatal: true });
const badRequest = (message) => ({ status: 400, headers: { 'content-type': TEXT }, body: message });

// 3.1
app.http(
  'http_echo',
  http('echo/{category}/{id}', ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], async (req, ctx) => ({
    jsonBody: {
      method: req.method,
      url: req.url,
      headers: Object.fromEntries(req.headers),
      query: Object.fromEntries(req.query),
      params: req.params,
      bodyLength: (await req.arrayBuffer()).byteLength,
      invocationId: ctx.invocationId,
      functionName: ctx.functionName,
    },
  })),
);

// 3.2
app.http(
  'http_binary',
  http('binary', ['POST'], async (req) => ({
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(await req.arrayBuffer()),
  })),
);

// 3.3
function kindOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

app.http(
  'http_json',
  http('json', ['POST'], async (req) => {
    let received;
    try {
      received = JSON.parse(utf8.decode(await req.arrayBuffer()));
    } catch {
      return badRequest('invalid JSON');
    }
    return { jsonBody: { received, kind: kindOf(received) } };
  }),
);

// 3.4
app.http(
  'http_text',
  http('text', ['GET', 'POST'], async (req) => {
    let name;
    if (req.method === 'POST') {
      try {
        name = utf8.decode(await req.arrayBuffer());
      } catch {
        return badRequest('invalid UTF-8');
      }
    } else {
      name = req.query.get('name') || 'Welt';
    }
    return { headers: { 'content-type': TEXT }, body: `Grüße, ${name}! ☃ 日本語 🚀` };
  }),
);

// 3.5
app.http(
  'http_custom',
  http('custom', ['GET'], async () => ({
    status: 201,
    headers: { 'content-type': TEXT, 'x-fnwire-custom': 'yes', 'cache-control': 'no-store' },
    cookies: [{ name: 'session', value: 'abc123', path: '/', httpOnly: true }],
    body: 'created',
  })),
);

// 3.6
app.http(
  'http_empty',
  http('empty', ['GET', 'POST'], async (req) => ({
    headers: { 'x-request-body-length': String((await req.arrayBuffer()).byteLength) },
    body: new Uint8Array(0),
  })),
);

// 3.7
function pattern(length) {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 251;
  return bytes;
}

app.http(
  'http_large',
  http('large', ['GET', 'POST'], async (req) => {
    if (req.method === 'POST') {
      const body = Buffer.from(await req.arrayBuffer());
      return {
        jsonBody: { length: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') },
      };
    }
    const size = req.query.get('size') || '16777216';
    if (!/^\d+$/.test(size) || Number(size) > 67108864) return badRequest('invalid size');
    return { headers: { 'content-type': 'application/octet-stream' }, body: pattern(Number(size)) };
  }),
);

// 3.8
app.http(
  'http_fail',
  http('fail', ['GET'], async () => {
    throw new Error('fnwire conformance: deliberate failure');
  }),
);

// 3.9
app.http(
  'http_logs',
  http('logs', ['GET'], async (req, ctx) => {
    ctx.log('conformance log: information');
    ctx.warn('conformance log: warning');
    ctx.error('conformance log: error');
    return { headers: { 'content-type': TEXT }, body: 'logged' };
  }),
);

// 3.10
app.http(
  'http_sleep',
  http('sleep', ['GET'], async (req) => {
    const ms = req.query.get('ms') ?? '';
    if (!/^\d+$/.test(ms) || Number(ms) > 600000) return badRequest('invalid ms');
    await sleep(Number(ms));
    return { headers: { 'content-type': TEXT }, body: `slept ${ms}` };
  }),
);

// 3.11
app.http(
  'http_env',
  http('env', ['GET'], async (req) => {
    const name = req.query.get('name');
    if (!name) return badRequest('missing name');
    return { jsonBody: { name, value: process.env[name] ?? null } };
  }),
);

// 3.12
const outqueue = output.storageQueue({ name: 'outqueue', queueName: 'fnwire-multi-queue', connection: STORAGE });
const outblob = output.storageBlob({ name: 'outblob', path: 'fnwire-multi/out.txt', connection: STORAGE });

app.http('http_multi', {
  ...http('multi', ['POST'], async (req, ctx) => {
    const text = await req.text();
    ctx.extraOutputs.set(outqueue, `queue:${text}`);
    ctx.extraOutputs.set(outblob, `blob:${text}`);
    return { headers: { 'content-type': TEXT }, body: `multi:${text}` };
  }),
  extraOutputs: [outqueue, outblob],
});

// 3.13
const probe = input.generic({
  type: 'fnwireProbe',
  name: 'probe',
  probeSetting: 'alpha',
  probeCount: 3,
  enabled: true,
  label: 'Grüße',
  tags: ['one', 'two'],
});

app.http('http_generic', {
  ...http('generic', ['GET'], async (req, ctx) => {
    const value = ctx.extraInputs.get(probe);
    const text = value === undefined || value === null || value === '' ? '<none>' : String(value);
    return { headers: { 'content-type': TEXT }, body: `probe:${text}` };
  }),
  extraInputs: [probe],
});

// 3.14
const outmsg = output.storageQueue({ name: 'outmsg', queueName: 'fnwire-out', connection: STORAGE });

app.storageQueue('queue_copy', {
  name: 'msg',
  queueName: 'fnwire-in',
  connection: STORAGE,
  extraOutputs: [outmsg],
  handler: async (msg, ctx) => {
    const { id, dequeueCount } = ctx.triggerMetadata;
    ctx.extraOutputs.set(outmsg, { body: msg, id, dequeueCount });
  },
});

// 3.15
app.storageQueue('queue_return', {
  name: 'msg',
  queueName: 'fnwire-return-in',
  connection: STORAGE,
  return: output.storageQueue({ queueName: 'fnwire-return-out', connection: STORAGE }),
  handler: async (msg) => `returned:${msg}`,
});

// 3.16
app.timer('timer_tick', {
  name: 'timer',
  schedule: '0 */5 * * * *',
  runOnStartup: false,
  useMonitor: false,
  handler: async (timer, ctx) => {
    ctx.log(`timer_tick isPastDue=${timer.isPastDue}`);
  },
});
