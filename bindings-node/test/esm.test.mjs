// ES modules see the same package instance as CommonJS: one registry for both.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { app, output, InvocationContext } from 'fnwire';

const require = createRequire(import.meta.url);

test('import and require give the same app', () => {
  const cjs = require('fnwire');
  assert.equal(app, cjs.app);
  assert.equal(output, cjs.output);
  assert.equal(typeof InvocationContext, 'function');
});
