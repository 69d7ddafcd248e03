'use strict';
// @azure/functions v4 apps, unchanged, on fnwire's Node worker: installed as a user installs them
// (the packed fnwire tarball and @azure/functions from npm, into a project of their own) and
// driven over HTTP through `npx fnwire start`.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expandBraces } = require('../lib/entry-files');
const { startHost: startFnwire } = require('../test-support/host');

const root = path.join(__dirname, '..');
const repo = path.join(root, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The fnwire tarball: the one scripts/test.sh packed, or one packed now. */
function tarball(scratch) {
  if (process.env.FNWIRE_TARBALL) return process.env.FNWIRE_TARBALL;
  const name = execFileSync(npm, ['pack', '--silent', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' });
  return path.join(scratch, name.trim().split('\n').pop());
}

/** Removed when the tests end: the installed addon alone is over 100 MB. */
const scratchDirs = [];
test.after(() => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of examples/azure-node, then `npm install <fnwire tarball>` in it, as a user would. */
const project = (() => {
  let dir;
  return () => {
    if (dir) return dir;
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-azure-'));
    scratchDirs.push(scratch);
    dir = path.join(scratch, 'azure-node');
    fs.cpSync(path.join(repo, 'examples', 'azure-node'), dir, {
      recursive: true,
      filter: (src) => !/[/\\](node_modules|\.fnwire)$/.test(src),
    });
    execFileSync(npm, ['install', '--no-audit', '--no-fund', tarball(scratch)], { cwd: dir, stdio: 'ignore' });
    return dir;
  };
})();

/** Writes an app of `files` under the project (so it shares its node_modules) and returns its path. */
function scenarioApp(name, files) {
  const dir = path.join(project(), 'scenarios', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'host.json'), '{"version": "2.0"}');
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

/**
 * `npx fnwire start <app>` from the project, minus npx itself (it would stand between the test
 * and the host's signals and exit code): the project's `.bin/fnwire`. Resolves once the host serves.
 */
function startHost(appDir) {
  const bin = path.join(project(), 'node_modules', '.bin', 'fnwire');
  return startFnwire(bin, appDir, { cwd: project(), env: { FNWIRE_NODE_WORKER: '' }, logWaitSteps: 160 });
}

async function get(host, p, init) {
  const res = await fetch(host.base + p, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Runs the installed worker on an app without a host; it stops at load time or when it cannot connect. */
function runWorker(appDir) {
  const worker = path.join(project(), 'node_modules', 'fnwire', 'lib', 'worker.js');
  return spawnSync(process.execPath, [worker, '--host', '127.0.0.1', '--port', '9', '--workerId', 'w', '--requestId', 'r'], {
    env: { ...process.env, FUNCTIONS_APPLICATION_DIRECTORY: appDir },
    encoding: 'utf8',
    timeout: 30000,
  });
}

test('package.json main braces may span path segments, as in Azure templates', () => {
  assert.deepEqual(expandBraces('src/{index.js,functions/*.js}'), ['src/index.js', 'src/functions/*.js']);
  assert.deepEqual(expandBraces('{a,b}/{c,d}.js'), ['a/c.js', 'a/d.js', 'b/c.js', 'b/d.js']);
  assert.deepEqual(expandBraces('src/{only}.js'), ['src/{only}.js']);
  assert.deepEqual(expandBraces('dist/**/*.js'), ['dist/**/*.js']);
});

test('examples/azure-node (ESM) serves HTTP, queue, blob, blob trigger, table, timer and Service Bus functions unchanged', async (t) => {
  const dir = project();
  const host = await startHost(dir);
  t.after(() => host.stop());

  const hello = await get(host, '/api/hello/Ada');
  assert.equal(hello.status, 200);
  assert.equal(hello.body, 'Hello, Ada!');
  assert.equal(hello.headers.get('content-type'), 'text/plain;charset=UTF-8');
  assert.equal((await get(host, '/api/hello?name=Bob')).body, 'Hello, Bob!');

  const placed = await get(host, '/api/orders', { method: 'POST', body: JSON.stringify({ item: 'tea', quantity: 2 }) });
  assert.equal(placed.status, 201, placed.body);
  assert.equal(placed.headers.get('content-type'), 'application/json');
  const order = JSON.parse(placed.body);
  assert.deepEqual({ item: order.item, quantity: order.quantity }, { item: 'tea', quantity: 2 });
  assert.equal(placed.headers.get('location'), `/api/orders/${order.orderId}`);

  const invalid = await get(host, '/api/orders', { method: 'POST', body: 'not json' });
  assert.equal(invalid.status, 400);
  assert.match(JSON.parse(invalid.body).error, /must be JSON/);

  // The queue trigger picks the order up and writes its receipt blob (path from the message's JSON).
  const receipt = path.join(dir, '.fnwire', 'blobs', 'receipts', `${order.orderId}.json`);
  for (let i = 0; i < 200 && !fs.existsSync(receipt); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(receipt), `no receipt blob at ${receipt}:\n${host.log()}`);
  assert.equal(JSON.parse(fs.readFileSync(receipt, 'utf8')).orderId, order.orderId);

  // Table output, then table input by key and by a filtered query.
  for (const customer of [{ id: 'c-1', name: 'Ada' }, { id: 'c-2', name: 'Bob', visits: 0 }, { id: 'c-3', name: 'Cy' }]) {
    const added = await get(host, '/api/customers', { method: 'POST', body: JSON.stringify(customer) });
    assert.equal(added.status, 201, `${added.body}\n${host.log()}`);
  }
  const ada = await get(host, '/api/customers/c-1');
  assert.equal(ada.status, 200, ada.body);
  assert.deepEqual(JSON.parse(ada.body), { PartitionKey: 'web', RowKey: 'c-1', Name: 'Ada', Visits: 1 });
  assert.equal((await get(host, '/api/customers/c-9')).status, 404);
  assert.deepEqual(JSON.parse((await get(host, '/api/customers')).body), ['Ada', 'Cy']);

  // Service Bus: a topic output, the subscription's trigger with a queue output, the queue's trigger.
  const sale = await get(host, '/api/sales', { method: 'POST', body: JSON.stringify({ id: 's-1', item: 'tea', total: 120 }) });
  assert.equal(sale.status, 202, sale.body);
  assert.deepEqual(JSON.parse(sale.body), { published: 's-1' });
  assert.equal((await get(host, '/api/sales', { method: 'POST', body: '{"id": 1}' })).status, 400);
  assert.match(await host.logMatching(/invoiced sale s-1: 120/), /billing sale s-1 \(message [^,]*, delivery 1\)/);
  assert.match(host.log(), /invoiced sale s-1: 120/);
  // A file dropped into the blob folder runs the blob trigger with Azure's metadata, camelCased
  // by the library: the path, the `{name}` it matched, the URI and the blob's properties.
  const uploads = path.join(dir, '.fnwire', 'blobs', 'uploads');
  fs.mkdirSync(uploads, { recursive: true });
  fs.writeFileSync(path.join(uploads, 'photo.txt'), 'a picture of a cat');
  const described = path.join(dir, '.fnwire', 'blobs', 'descriptions', 'photo.txt.json');
  for (let i = 0; i < 600 && !fs.existsSync(described); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(described), `no description blob at ${described}:\n${host.log()}`);
  const upload = JSON.parse(fs.readFileSync(described, 'utf8'));
  assert.deepEqual(
    { path: upload.path, name: upload.name, bytes: upload.bytes, isBuffer: upload.isBuffer, length: upload.length },
    { path: 'uploads/photo.txt', name: 'photo.txt', bytes: 18, isBuffer: true, length: 18 },
  );
  assert.match(upload.uri, /uploads\/photo\.txt$/);
  assert.equal(upload.contentType, 'text/plain');
  assert.equal(typeof upload.etag, 'string');
  assert.ok(upload.etag.length > 0, upload.etag);
  assert.ok(!Number.isNaN(Date.parse(upload.lastModified)), upload.lastModified);
  assert.deepEqual(upload.metadata, {});
  assert.match(
    await host.logMatching(/processed blob "uploads\/photo\.txt" with size 18 bytes/),
    /processed blob "uploads\/photo\.txt" with size 18 bytes/,
  );

  // Hooks from src/index.js ran around the invocations; the timer fires every 5 s.
  assert.match(await host.logMatching(/hello done in [\d.]+ ms/), /hello done in [\d.]+ ms/);
  assert.match(await host.logMatching(/heartbeat isPastDue=false/), /heartbeat isPastDue=false/);
  const { code } = await host.stop();
  assert.equal(code, 0, `the host did not exit cleanly:\n${host.log()}`);
});

test('hooks run in order, logs keep their levels, a throw or a rejection is a failed invocation', async (t) => {
  const dir = scenarioApp('hooks', {
    'package.json': JSON.stringify({ main: 'index.js' }),
    'index.js': `
      const { app } = require('@azure/functions');
      const seen = [];
      app.hook.appStart(() => { seen.push('appStart'); });
      app.hook.preInvocation((ctx) => {
        seen.push('pre:' + ctx.invocationContext.functionName);
        ctx.hookData.fromPre = 'pre-data';
        if (ctx.invocationContext.functionName === 'swapped') ctx.functionHandler = () => ({ body: 'from the hook' });
      });
      app.hook.postInvocation((ctx) => {
        seen.push('post:' + ctx.invocationContext.functionName + ':' + (ctx.error ? ctx.error.message : 'ok'));
        if (ctx.invocationContext.functionName === 'wrapped') ctx.result = { body: ctx.result.body + '+' + ctx.hookData.fromPre };
      });
      app.hook.log((ctx) => { ctx.message = ctx.message.replace('hunter2', '[redacted]'); });
      const anon = (handler) => ({ authLevel: 'anonymous', handler });
      app.http('wrapped', anon(async () => ({ body: 'handler' })));
      app.http('swapped', anon(async () => ({ body: 'never' })));
      app.http('seen', anon(async () => ({ jsonBody: seen })));
      app.http('levels', anon((req, ctx) => {
        ctx.info('level-info'); ctx.warn('level-warn'); ctx.error('level-error'); ctx.log('password hunter2');
        return { body: 'ok' };
      }));
      app.http('throws', anon(() => { throw new Error('kaboom sync'); }));
      app.http('rejects', anon(() => Promise.reject(new Error('kaboom async'))));
    `,
  });
  const host = await startHost(dir);
  t.after(() => host.stop());

  assert.equal((await get(host, '/api/wrapped')).body, 'handler+pre-data');
  assert.equal((await get(host, '/api/swapped')).body, 'from the hook');
  const thrown = await get(host, '/api/throws');
  assert.equal(thrown.status, 500);
  assert.doesNotMatch(thrown.body, /kaboom/, 'the error stays in the host log');
  assert.equal((await get(host, '/api/rejects')).status, 500);
  assert.deepEqual(JSON.parse((await get(host, '/api/seen')).body), [
    'appStart',
    'pre:wrapped',
    'post:wrapped:ok',
    'pre:swapped',
    'post:swapped:ok',
    'pre:throws',
    'post:throws:kaboom sync',
    'pre:rejects',
    'post:rejects:kaboom async',
    'pre:seen',
    // The response is rendered after the postInvocation hooks, as Microsoft's worker does.
    'post:seen:ok',
  ]);
  assert.equal((await get(host, '/api/levels')).body, 'ok');
  const log = await host.logMatching(/\[redacted\]/);
  assert.match(log, /INFO .*level-info/);
  assert.match(log, /WARN .*level-warn/);
  assert.match(log, /ERROR .*level-error/);
  assert.match(log, /password \[redacted\]/, 'log hooks may change the message');
  assert.doesNotMatch(log, /hunter2/);
  assert.match(log, /kaboom sync/);
  assert.match(log, /kaboom async/);
  const { code } = await host.stop();
  assert.equal(code, 0);
});

test('enableHttpStream is refused at start, saying so', () => {
  const dir = scenarioApp('stream', {
    'package.json': JSON.stringify({ main: 'index.js' }),
    'index.js': `
      const { app } = require('@azure/functions');
      app.setup({ enableHttpStream: true });
      app.http('hello', { authLevel: 'anonymous', handler: () => ({ body: 'hi' }) });
    `,
  });
  const result = runWorker(dir);
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /app\.setup\(\{ enableHttpStream: true \}\) is not supported/);
  assert.match(result.stderr, /Remove `enableHttpStream`/);
});

test('a binding fnwire cannot serve stops the worker at load time, naming the function and binding', () => {
  const dir = scenarioApp('invalid', {
    'package.json': JSON.stringify({ main: 'index.js' }),
    'index.js': `
      const { app, trigger } = require('@azure/functions');
      app.generic('jobs', { trigger: trigger.generic({ type: 'queueTrigger', name: 'msg' }), handler: () => {} });
    `,
  });
  const result = runWorker(dir);
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /function 'jobs' is not a valid function/);
  assert.match(result.stderr, /binding 'msg' \(queueTrigger\) has no `queueName`/);
});

test('a valid app loads and the worker only fails for want of a host', () => {
  const result = runWorker(project());
  assert.equal(result.status, 1);
  assert.match(result.stderr, /could not connect to the Functions host/);
});
