'use strict';
// package.json `main`, globs included, as Azure Functions reads it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { entryFiles } = require('../lib/entry-files');

// Every app folder a test makes is removed when the file's tests end.
const made = [];
test.after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function app(files, main) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fnwire-entry-'));
  made.push(dir);
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), '');
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(main === undefined ? {} : { main }));
  return dir;
}

test('globs match files, ** descends, node_modules is skipped', () => {
  const dir = app(['src/functions/a.js', 'src/functions/b.mjs', 'src/functions/deep/c.js', 'node_modules/x/d.js'], 'src/functions/*.{js,mjs}');
  assert.deepEqual(entryFiles(dir).map((f) => path.relative(dir, f)), ['src/functions/a.js', 'src/functions/b.mjs']);
  const deep = app(['src/a.js', 'src/x/b.js', 'node_modules/c.js'], 'src/**/*.js');
  assert.deepEqual(entryFiles(deep).map((f) => path.relative(deep, f)), ['src/a.js', 'src/x/b.js']);
});

test('main defaults to index.js; no match is an error naming main', () => {
  const dir = app(['index.js']);
  assert.deepEqual(entryFiles(dir), [path.join(dir, 'index.js')]);
  assert.throws(() => entryFiles(app([], 'dist/*.js')), /`main` is "dist\/\*\.js", but no file .* matches it/);
});
