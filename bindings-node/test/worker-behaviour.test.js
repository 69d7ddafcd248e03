'use strict';
// Through `fnwire start` and real HTTP: repeated response headers reach the client, a cancelled
// invocation aborts its AbortSignal, and an HTTP trigger without authLevel needs no key.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startHost } = require('../test-support/host');

const root = path.join(__dirname, '..');
const bin = path.join(root, 'bin', 'fnwire.js');

const APP = `
const { app } = require(${JSON.stringify(root)});

app.httpTrigger('pairs', {
  handler: () => ({
    body: 'ok',
    headers: [['Link', '</a.css>; rel=preload'], ['Link', '</b.js>; rel=preload'], ['Set-Cookie', 'third=3; Secure']],
    cookies: [{ name: 'first', value: '1', path: '/' }, { name: 'second', value: '2', httpOnly: true }],
  }),
});

app.httpTrigger('lists', {
  handler: () => ({ body: 'ok', headers: { Link: ['</a.css>; rel=preload', '</b.js>; rel=preload'], 'Set-Cookie': ['a=1', 'b=2'] } }),
});

app.httpTrigger('fetchResponse', {
  handler: () => {
    const headers = new Headers();
    headers.append('Set-Cookie', 'a=1; Path=/');
    headers.append('Set-Cookie', 'b=2; HttpOnly');
    headers.append('Link', '</a.css>; rel=preload');
    headers.append('Link', '</b.js>; rel=preload');
    return new Response('ok', { headers });
  },
});

app.httpTrigger('waitForCancel', {
  handler: (request, context) =>
    new Promise((resolve) => {
      context.signal.addEventListener('abort', () => {
        const reason = context.signal.reason;
        console.log(\`signal fired: \${reason.name}; request signal aborted: \${request.signal.aborted}\`);
        resolve({ body: 'too late' });
      });
    }),
});
`;

async function startApp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-node-behaviour-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'index.js' }));
  fs.writeFileSync(path.join(dir, 'index.js'), APP);
  fs.writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0', functionTimeout: '00:00:01' }));
  const host = await startHost(bin, dir, { env: { FNWIRE_LOG: 'info' } });
  t.after(() => host.stop());
  return host;
}

const names = (cookies) => cookies.map((c) => c.split(';')[0]);

test('every value of a repeated response header reaches the client, and no key is needed without authLevel', async (t) => {
  const host = await startApp(t);
  // No authLevel: anonymous, as in Azure's v4 model (a key would be required otherwise: 401).
  const pairs = await fetch(`${host.base}/api/pairs`);
  assert.equal(pairs.status, 200, await pairs.clone().text());
  assert.deepEqual(names(pairs.headers.getSetCookie()), ['first=1', 'second=2', 'third=3']);
  assert.match(pairs.headers.getSetCookie()[1], /HttpOnly/);
  assert.equal(pairs.headers.get('link'), '</a.css>; rel=preload, </b.js>; rel=preload');

  const lists = await fetch(`${host.base}/api/lists`);
  assert.deepEqual(names(lists.headers.getSetCookie()), ['a=1', 'b=2']);
  assert.equal(lists.headers.get('link'), '</a.css>; rel=preload, </b.js>; rel=preload');

  const response = await fetch(`${host.base}/api/fetchResponse`);
  assert.deepEqual(names(response.headers.getSetCookie()), ['a=1', 'b=2']);
  assert.match(response.headers.getSetCookie()[1], /HttpOnly/);
  assert.equal(response.headers.get('link'), '</a.css>; rel=preload, </b.js>; rel=preload');
});

test('a cancelled invocation aborts context.signal and the request signal', async (t) => {
  const host = await startApp(t);
  const res = await fetch(`${host.base}/api/waitForCancel`);
  assert.equal(res.status, 504, await res.text());
  const log = await host.logMatching(/signal fired/);
  assert.match(log, /signal fired: AbortError; request signal aborted: true/);
});
