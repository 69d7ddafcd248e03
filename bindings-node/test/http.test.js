'use strict';
// Fetch-standard requests, and what handlers may return for an HTTP response.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { HttpRequest, httpResponseOut } = require('../lib/http');
const native = require('../lib/native');

// The response rules the Rust SDK decides; the Rust and Python tests run the same table.
const RULES = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'sdk-rust', 'tests', 'data', 'response-rules.json'), 'utf8'),
);

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

test('nothing returned is an empty 200; a status that is not a number says what is allowed', async () => {
  const out = await httpResponseOut(undefined, 'test');
  assert.equal(out.status, 200);
  assert.equal(out.body.length, 0);
  await assert.rejects(httpResponseOut({ status: '200' }, 'fn'), /fn: status must be a number from 100 to 999, got "200"/);
  await assert.rejects(httpResponseOut(12, 'fn'), /an HTTP function returns a Response/);
});

test('cookie times cross in seconds: a Date and milliseconds both convert', async () => {
  const at = new Date(Date.UTC(2030, 0, 2));
  const out = await httpResponseOut({ cookies: [{ name: 'a', value: '1', expires: at }, { name: 'b', value: '2', expires: 1500 }] }, 't');
  assert.equal(out.cookies[0].expires, at.getTime() / 1000);
  assert.equal(out.cookies[1].expires, 1.5);
});

/** The core's verdict on a response built from `init`: null when accepted, else its message. */
async function verdict(init) {
  const dto = await httpResponseOut(init, 'test');
  try {
    native.checkHttpResponse(dto);
    return null;
  } catch (e) {
    return e.message;
  }
}

test('status codes follow the shared rules (the Rust SDK decides)', async () => {
  for (const c of RULES.status) {
    assert.equal(await verdict({ status: c.value }), c.error, `status ${c.value}`);
  }
  assert.equal(await verdict({ status: 200.5 }), 'status code 200.5 is not an HTTP status code; use a whole number from 100 to 999');
});

test('cookies follow the shared rules (the Rust SDK decides)', async () => {
  const cases = [
    ['same_site', (v) => ({ sameSite: v })],
    // The table is in seconds; JavaScript users give milliseconds.
    ['expires_seconds', (v) => ({ expires: v * 1000 })],
    ['max_age_seconds', (v) => ({ maxAge: v })],
  ];
  for (const [key, option] of cases) {
    for (const c of RULES[key]) {
      const cookie = { name: 'c', value: 'v', ...option(c.value) };
      assert.equal(await verdict({ cookies: [cookie] }), c.error, `${key} ${c.value}`);
    }
  }
});

test('a returned plain object or array is the JSON body; a Map or a misspelled key says what was returned', async () => {
  const todo = await httpResponseOut({ id: 1, title: 'x' }, 'the return value of f');
  assert.equal(todo.status, 200);
  assert.equal(todo.bodyKind, 'json');
  assert.equal(todo.body.toString(), '{"id":1,"title":"x"}');
  const list = await httpResponseOut([{ id: 1 }], 'the return value of f');
  assert.equal(list.body.toString(), '[{"id":1}]');
  await assert.rejects(httpResponseOut(new Map([['a', 1]]), 'the return value of f'), (e) => {
    assert.match(e.message, /returned a Map object, which is not an HTTP response/);
    assert.match(e.message, /Object\.fromEntries/);
    return true;
  });
  await assert.rejects(httpResponseOut({ stauts: 201, jsonBody: {} }, 'the return value of f'), (e) => {
    assert.match(e.message, /unknown key\(s\) 'stauts' \(did you mean 'status'\?\)/);
    return true;
  });
});
