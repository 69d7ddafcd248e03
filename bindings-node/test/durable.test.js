'use strict';
// Durable Functions with the official library (durable-functions 3.x, unchanged) on fnwire's Node
// worker: examples/durable-node installed as a user installs it (the packed fnwire tarball, and
// @azure/functions and durable-functions from npm), driven over HTTP through `fnwire start`:
// start an orchestration, poll its statusQueryGetUri, read the output.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startHost } = require('../test-support/host');

const root = path.join(__dirname, '..');
const repo = path.join(root, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function tarball(scratch) {
  if (process.env.FNWIRE_TARBALL) return process.env.FNWIRE_TARBALL;
  const name = execFileSync(npm, ['pack', '--silent', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' });
  return path.join(scratch, name.trim().split('\n').pop());
}

test('examples/durable-node runs the six patterns with durable-functions, unchanged', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-durable-'));
  t.after(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const dir = path.join(scratch, 'durable-node');
  fs.cpSync(path.join(repo, 'examples', 'durable-node'), dir, {
    recursive: true,
    filter: (src) => !/[/\\](node_modules|\.fnwire)$/.test(src),
  });
  execFileSync(npm, ['install', '--no-audit', '--no-fund', tarball(scratch)], { cwd: dir, stdio: 'ignore' });
  const bin = path.join(dir, 'node_modules', '.bin', 'fnwire');
  const host = await startHost(bin, dir, { cwd: dir, env: { FNWIRE_NODE_WORKER: '' } });
  t.after(() => host.stop());

  const local = (url) => host.base + url.slice(url.indexOf('/runtime/'));
  async function start(name, input) {
    const res = await fetch(`${host.base}/api/orchestrators/${name}`, { method: 'POST', body: JSON.stringify(input) });
    const payload = await res.json();
    assert.equal(res.status, 202, JSON.stringify(payload));
    assert.equal(res.headers.get('location'), payload.statusQueryGetUri);
    return payload;
  }
  async function done(payload) {
    for (let i = 0; i < 300; i++) {
      const res = await fetch(local(payload.statusQueryGetUri));
      const status = await res.json();
      if (res.status === 200) return status;
      assert.equal(res.status, 202);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`instance ${payload.id} did not finish:\n${host.log()}`);
  }

  assert.deepEqual((await done(await start('chain', 'Tokyo'))).output, [
    'Hello Tokyo',
    'Hello Hello Tokyo',
    'Hello Hello Hello Tokyo',
  ]);
  assert.equal((await done(await start('fanOutFanIn', 20))).output, 2470);
  const monitor = await done(await start('monitor', { doneAfter: 2 }));
  assert.deepEqual([monitor.output, monitor.customStatus], [{ checks: 2 }, { checks: 2, state: 'done' }]);

  const waiting = await start('approval', { timeoutSeconds: 60 });
  for (let i = 0; i < 100; i++) {
    const status = await (await fetch(local(waiting.statusQueryGetUri))).json();
    if (status.runtimeStatus === 'Running') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const approved = await fetch(`${host.base}/api/approve/${waiting.id}`, { method: 'POST', body: 'by Ada' });
  assert.equal(approved.status, 202);
  assert.equal((await done(waiting)).output, 'approved: by Ada');
  assert.equal((await done(await start('approval', { timeoutSeconds: 1 }))).output, 'timed out');

  // The entity is signalled (+10), then called (+5): the call sees both.
  assert.equal((await done(await start('countWithEntity', 'n1'))).output, 15);
});
