'use strict';
// Fetch-standard requests, and what handlers may return for an HTTP response.

const test = require('node:test');
const assert = require('node:assert/strict');
const { HttpRequest, httpResponseOut } = require('../lib/http');

const request = (body = '') =>
  new HttpRequest({
    method: 'POST',
    url: 'http://localhost:7071/api/echo/books/42?x=1',
    headers: { 'content-type': 'application/json', 'x-custom': 'Value' },
    query: { x: '1' },
    params: { category: 'books' },
    body: Buffer.from(body),
  });

test('requests expose Headers, URLSearchParams, params and body readers', async () => {
  const req = request('{"a":[1,2]}');
  assert.equal(req.headers.get('X-Custom'), 'Value');
  assert.equal(req.query.get('x'), '1');
  assert.equal(req.params.category, 'books');
  assert.deepEqual(await req.clone().json(), { a: [1, 2] });
  assert.equal(await req.clone().text(), '{"a":[1,2]}');
  assert.equal((await req.arrayBuffer()).byteLength, 11);
  assert.equal(req.bodyUsed, true);
  await assert.rejects(request('nope').json(), SyntaxError);
});

test('an init object becomes status, headers, cookies and a typed body', async () => {
  const out = await httpResponseOut(
    { status: 201, headers: { 'x-a': '1' }, body: 'hi', cookies: [{ name: 's', value: 'v', httpOnly: true, maxAge: 60 }] },
    'test',
  );
  assert.equal(out.status, 201);
  assert.deepEqual(out.headers, [['x-a', '1']]);
  assert.equal(out.bodyKind, 'text');
  assert.equal(out.body.toString(), 'hi');
  assert.deepEqual(out.cookies[0], {
    name: 's', value: 'v', domain: undefined, path: undefined, expires: undefined, secure: undefined,
    httpOnly: true, sameSite: undefined, maxAge: 60,
  });
  const json = await httpResponseOut({ jsonBody: { ok: true } }, 'test');
  assert.equal(json.bodyKind, 'json');
  assert.equal(json.body.toString(), '{"ok":true}');
});

test('a fetch Response is read whole', async () => {
  const out = await httpResponseOut(new Response('made', { status: 202, headers: { 'x-b': '2' } }), 'test');
  assert.equal(out.status, 202);
  assert.equal(out.body.toString(), 'made');
  assert.ok(out.headers.some(([k, v]) => k === 'x-b' && v === '2'));
});

test('nothing returned is an empty 200; a bad status says what is allowed', async () => {
  const out = await httpResponseOut(undefined, 'test');
  assert.equal(out.status, 200);
  assert.equal(out.body.length, 0);
  await assert.rejects(httpResponseOut({ status: 42 }, 'fn'), /fn: status must be an integer from 100 to 999, got 42/);
  await assert.rejects(httpResponseOut(12, 'fn'), /an HTTP function returns a Response/);
});
