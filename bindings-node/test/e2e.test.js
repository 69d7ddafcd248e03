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
