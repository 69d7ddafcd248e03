'use strict';
// `fnwire new --lang node`: the http, timer and queue templates are generated, run through
// `fnwire start` (this package's bin) and driven as their READMEs say; `fnwire start --watch`
// restarts the worker on save while requests keep succeeding.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startHost } = require('../test-support/host');

const root = path.join(__dirname, '..');
const bin = path.join(root, 'bin', 'fnwire.js');
const BOUND_MS = 60_000;

function fnwire(args) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
}

/** `fnwire new <tmp>/node-<template> --lang node --template <template>`, with this package linked
 * in as `node_modules/fnwire`, as `npm install` links a local-path dependency. */
function newApp(t, template) {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-new-'));
  t.after(() => fs.rmSync(parent, { recursive: true, force: true }));
  const dir = path.join(parent, `node-${template}`);
  const out = fnwire(['new', dir, '--lang', 'node', '--template', template]);
  assert.equal(out.status, 0, out.stdout + out.stderr);
  for (const file of ['package.json', 'host.json', 'local.settings.json', '.gitignore', 'README.md']) {
    assert.ok(fs.existsSync(path.join(dir, file)), file);
  }
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'fnwire'), 'dir');
  return dir;
}

async function until(check, what, host) {
  const deadline = Date.now() + BOUND_MS;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}:\n${host.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the http template answers', async (t) => {
  const host = await startHost(bin, newApp(t, 'http'));
  t.after(() => host.stop());
  const res = await fetch(`${host.base}/api/hello?name=Ada`);
  assert.deepEqual([res.status, await res.text()], [200, 'Hello, Ada!']);
});

test('the timer template fires', async (t) => {
  const host = await startHost(bin, newApp(t, 'timer'));
  t.after(() => host.stop());
  await until(() => /Executed 'tick'/.test(host.log()), 'tick never ran', host);
});

test('the queue template works on enqueued messages', async (t) => {
  const dir = newApp(t, 'queue');
  const host = await startHost(bin, dir);
  t.after(() => host.stop());
  assert.equal(fnwire(['queue', 'put', 'jobs', 'from the cli', '--app', dir]).status, 0);
  const res = await fetch(`${host.base}/api/enqueue`, { method: 'POST', body: 'over http' });
  assert.equal(res.status, 202, await res.text());
  await until(
    () => {
      const peek = fnwire(['queue', 'peek', 'done', '--app', dir]).stdout;
      return peek.includes('FROM THE CLI') && peek.includes('OVER HTTP');
    },
    '`work` never wrote both results',
    host,
  );
});

test('--watch restarts the worker on save and every request during it succeeds', async (t) => {
  const dir = newApp(t, 'http');
  const host = await startHost(bin, dir, { args: ['--watch'] });
  t.after(() => host.stop());
  const url = `${host.base}/api/hello?name=Ada`;
  const ask = async () => {
    const res = await fetch(url);
    return [res.status, await res.text()];
  };
  assert.deepEqual(await ask(), [200, 'Hello, Ada!']);
  const replies = [];
  let stop = false;
  const looping = (async () => {
    const deadline = Date.now() + BOUND_MS;
    while (!stop && Date.now() < deadline) {
      replies.push(await ask());
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const source = path.join(dir, 'src', 'functions', 'hello.js');
  fs.writeFileSync(source, fs.readFileSync(source, 'utf8').replace('`Hello, ${name}!`', '`Hi, ${name}!`'));
  await until(async () => (await ask())[1] === 'Hi, Ada!', 'never reloaded', host);
  stop = true;
  await looping;
  assert.ok(replies.length > 0);
  assert.deepEqual(replies.filter(([status]) => status !== 200), [], 'a request failed during the reload');
  assert.match(host.log(), /hello\.js changed/);
});
