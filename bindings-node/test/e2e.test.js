'use strict';
// End to end: `fnwire start` (the host, run through this package's own `fnwire` bin) launches the
// Node worker for a real app, and real HTTP requests go through it.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startHost: startFnwire } = require('../test-support/host');

const root = path.join(__dirname, '..');
const repo = path.join(root, '..');
const bin = path.join(root, 'bin', 'fnwire.js');

/** `fnwire start <app>` through this package's own bin. */
function startHost(appDir) {
  return startFnwire(bin, appDir, { env: { FNWIRE_LOG: 'info' } });
}

test('hello-node answers like hello-rust', async (t) => {
  const host = await startHost(path.join(repo, 'examples', 'hello-node'));
  t.after(() => host.stop());
  const get = async (p, init) => {
    const res = await fetch(host.base + p, init);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  assert.deepEqual(await get('/api/hello?name=Ada'), { status: 200, type: 'text/plain; charset=utf-8', body: 'Hello, Ada!' });
  assert.equal((await get('/api/hello/Bob')).body, 'Hello, Bob!');
  assert.equal((await get('/api/hello')).body, 'Hello, world!');
  const echo = await get('/api/echo', { method: 'POST', body: '{"n":1}' });
  assert.deepEqual([echo.status, echo.type, JSON.parse(echo.body)], [200, 'application/json', { n: 1 }]);
  const bad = await get('/api/echo', { method: 'POST', body: 'x' });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /^echo expects a JSON body: /);
  const boom = await get('/api/boom');
  assert.equal(boom.status, 500);
  assert.doesNotMatch(boom.body, /at Object\.handler/, 'the JS stack stays in the host log');
  assert.match(await host.logMatching(/boom: GET \/api\/boom fails on purpose/), /boom: GET \/api\/boom fails on purpose/);
  assert.match(await host.logMatching(/at Object\.handler .*http\.js/), /at Object\.handler .*http\.js/, 'the host log has the JS stack');
  const { code } = await host.stop();
  assert.equal(code, 0, `the host did not exit cleanly:\n${host.log()}`);
});

test('a returned plain object is the JSON body; a Map is a 500 naming it, never an empty 200', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-returns-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'src/functions/*.js' }));
  fs.mkdirSync(path.join(dir, 'src', 'functions'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'src', 'functions', 'todos.js'),
    `const { app } = require(${JSON.stringify(root)});
app.httpTrigger('todo', { route: 'todos/{id:int}', methods: ['GET'], handler: (req) => ({ id: Number(req.params.id), title: 'x' }) });
app.httpTrigger('todos', { route: 'todos', methods: ['GET'], handler: () => [{ id: 1 }] });
app.httpTrigger('map', { route: 'map', handler: () => new Map([['id', 1]]) });
`,
  );
  const host = await startHost(dir);
  t.after(() => host.stop());
  const get = async (p) => {
    const res = await fetch(host.base + p);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  assert.deepEqual(await get('/api/todos/7'), { status: 200, type: 'application/json', body: '{"id":7,"title":"x"}' });
  assert.deepEqual(await get('/api/todos'), { status: 200, type: 'application/json', body: '[{"id":1}]' });
  assert.equal((await get('/api/map')).status, 500);
  assert.match(await host.logMatching(/returned a Map object/), /not an HTTP response/);
  const { code } = await host.stop();
  assert.equal(code, 0, `the host did not exit cleanly:\n${host.log()}`);
});

test('a queue message holding JSON arrives parsed; plain text stays a string', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-queue-json-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seen = path.join(dir, 'seen.jsonl');
  fs.writeFileSync(
    path.join(dir, 'host.json'),
    JSON.stringify({ version: '2.0', extensions: { queues: { maxPollingInterval: '00:00:00.200' } } }),
  );
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'index.js' }));
  fs.writeFileSync(
    path.join(dir, 'index.js'),
    `const fs = require('node:fs');
const { app, output } = require(${JSON.stringify(root)});
const jobs = output.queue({ queue: 'jobs' });
app.httpTrigger('enqueue', { methods: ['POST'], extraOutputs: [jobs], handler: async (req, ctx) => {
  ctx.extraOutputs.set(jobs, await req.text());
  return { status: 202 };
} });
app.queueTrigger('work', { queue: 'jobs', handler: (message) => {
  fs.appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ type: Array.isArray(message) ? 'array' : typeof message, message }) + '\\n');
} });
`,
  );
  const host = await startHost(dir);
  t.after(() => host.stop());
  for (const body of ['{"id":7,"title":"x"}', '[1,2]', 'plain text']) {
    assert.equal((await fetch(`${host.base}/api/enqueue`, { method: 'POST', body })).status, 202);
  }
  const lines = () => (fs.existsSync(seen) ? fs.readFileSync(seen, 'utf8').trim().split('\n').filter(Boolean) : []);
  for (let i = 0; i < 200 && lines().length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  const got = lines().map((l) => JSON.parse(l)).sort((a, b) => a.type.localeCompare(b.type));
  assert.deepEqual(got, [
    { type: 'array', message: [1, 2] },
    { type: 'object', message: { id: 7, title: 'x' } },
    { type: 'string', message: 'plain text' },
  ], host.log());
  const { code } = await host.stop();
  assert.equal(code, 0, `the host did not exit cleanly:\n${host.log()}`);
});

/** A topic `sales` whose subscription `big` keeps orders over 100 (and marks them) and `quotes` keeps quotes. */
const SALES_TOPIC = {
  UserConfig: {
    Namespaces: [{
      Name: 'sales',
      Topics: [{
        Name: 'sales',
        Subscriptions: [
          { Name: 'big', Rules: [{ Name: 'big', Properties: { FilterType: 'Sql', SqlFilter: { SqlExpression: "type = 'order' AND total > 100" }, Action: { SqlExpression: "SET priority = 'high'" } } }] },
          { Name: 'quotes', Rules: [{ Name: 'quotes', Properties: { FilterType: 'Sql', SqlFilter: { SqlExpression: "type = 'quote'" } } }] },
        ],
      }],
    }],
  },
};

test('Service Bus: a topic output reaches the subscriptions whose filters take it, and a queue output a queue trigger', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-service-bus-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seen = path.join(dir, 'seen.jsonl');
  fs.writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
  fs.writeFileSync(path.join(dir, 'servicebus.json'), JSON.stringify(SALES_TOPIC));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'index.js' }));
  fs.writeFileSync(
    path.join(dir, 'index.js'),
    `const fs = require('node:fs');
const { app, output } = require(${JSON.stringify(root)});
const sales = output.serviceBusTopic({ topicName: 'sales', connection: 'ServiceBusConnection' });
app.httpTrigger('publish', { methods: ['POST'], extraOutputs: [sales], handler: async (req, ctx) => {
  const items = await req.json();
  // The envelope sets what the subscriptions' filters read: application properties.
  ctx.extraOutputs.set(sales, items.map((sale) => ({ $serviceBus: {
    body: sale, messageId: sale.id, applicationProperties: { type: sale.type, total: sale.total ?? 0 },
  } })));
  return { status: 202 };
} });
const record = (what) => fs.appendFileSync(${JSON.stringify(seen)}, JSON.stringify(what) + '\\n');
app.serviceBusTopic('bigOrder', {
  topicName: 'sales', subscriptionName: 'big', connection: 'ServiceBusConnection',
  return: output.serviceBusQueue({ queueName: 'shipping', connection: 'ServiceBusConnection' }),
  handler: (sale, ctx) => {
    const m = ctx.triggerMetadata;
    record({ by: 'bigOrder', sale, messageId: m.messageId, deliveryCount: m.deliveryCount, priority: m.applicationProperties.priority });
    return { ship: sale.id };
  },
});
app.serviceBusTopic('quote', {
  topicName: 'sales', subscriptionName: 'quotes', connection: 'ServiceBusConnection',
  handler: (sale) => record({ by: 'quote', sale }),
});
app.serviceBusQueue('ship', {
  queueName: 'shipping', connection: 'ServiceBusConnection',
  handler: (job, ctx) => record({ by: 'ship', job, messageId: typeof ctx.triggerMetadata.messageId }),
});
`,
  );
  const host = await startHost(dir);
  t.after(() => host.stop());
  const sales = [{ id: 'o-1', type: 'order', total: 150 }, { id: 'o-2', type: 'order', total: 50 }, { id: 'q-1', type: 'quote' }];
  const res = await fetch(`${host.base}/api/publish`, { method: 'POST', body: JSON.stringify(sales) });
  assert.equal(res.status, 202, await res.text());
  const lines = () => (fs.existsSync(seen) ? fs.readFileSync(seen, 'utf8').trim().split('\n').filter(Boolean) : []);
  for (let i = 0; i < 400 && lines().length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  const got = lines().map((l) => JSON.parse(l)).sort((a, b) => a.by.localeCompare(b.by));
  assert.deepEqual(got, [
    { by: 'bigOrder', sale: sales[0], messageId: 'o-1', deliveryCount: 1, priority: 'high' },
    { by: 'quote', sale: sales[2] },
    { by: 'ship', job: { ship: 'o-1' }, messageId: 'string' },
  ], host.log());
  const { code } = await host.stop();
  assert.equal(code, 0, `the host did not exit cleanly:\n${host.log()}`);
});

test('hundreds of invocations are in flight at once on one event loop', async (t) => {
  const host = await startHost(path.join(repo, 'conformance', 'apps', 'node'));
  t.after(() => host.stop());
  const n = 300;
  const replies = await Promise.all(
    Array.from({ length: n }, () => fetch(`${host.base}/api/sleep?ms=1500`).then(async (r) => [r.status, await r.text()])),
  );
  assert.equal(replies.filter(([s, b]) => s === 200 && b === 'slept 1500').length, n);
  // Logs from ctx.log reach the host tagged with the invocation.
  const logs = await fetch(`${host.base}/api/logs`);
  assert.equal(await logs.text(), 'logged');
  const { code } = await host.stop();
  assert.equal(code, 0);
});

test('a registration mistake stops the worker at load time, naming the function', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-bad-app-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'index.js' }));
  fs.writeFileSync(
    path.join(dir, 'index.js'),
    `require(${JSON.stringify(root)}).app.queueTrigger('broken', { queueName: 'jobs', handler() {} });`,
  );
  const result = spawnSync(process.execPath, [path.join(root, 'lib', 'worker.js'), '--host', '127.0.0.1', '--port', '9', '--workerId', 'w', '--requestId', 'r'], {
    env: { ...process.env, FUNCTIONS_APPLICATION_DIRECTORY: dir },
    encoding: 'utf8',
    timeout: 30000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /app\.queueTrigger\('broken'\) is not a valid function/);
  assert.match(result.stderr, /did you mean `queue`\?/);
});

test('the worker exits by itself when it cannot reach the host, releasing its native handles', () => {
  const result = spawnSync(
    process.execPath,
    [path.join(root, 'lib', 'worker.js'), '--host', '127.0.0.1', '--port', '9', '--workerId', 'w', '--requestId', 'r'],
    { env: { ...process.env, FUNCTIONS_APPLICATION_DIRECTORY: path.join(repo, 'examples', 'hello-node') }, encoding: 'utf8', timeout: 30000 },
  );
  assert.equal(result.status, 1);
  assert.match(result.stderr, /could not connect to the Functions host/);
});
