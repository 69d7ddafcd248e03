'use strict';
// The shared front-end table (metadata/tests/frontend_cases.json) through `app.*`: the same cases
// run through the Rust macros and the Python decorators, and must get the same verdicts.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const native = require('../lib/native');
const { app, input, output, trigger } = require('..');

const TABLE = path.join(__dirname, '..', '..', 'metadata', 'tests', 'frontend_cases.json');
const cases = JSON.parse(fs.readFileSync(TABLE, 'utf8')).cases.filter((c) => !c.languages || c.languages.includes('node'));

// The table writes options as the catalog does (snake_case); JavaScript writes catalog options
// in camelCase, so the runner spells them as the addon's catalog says. Other keys stay as written.
const spelling = new Map(native.bindingCatalog().flatMap((entry) => entry.options.map((o) => [o.key, o.name])));
const spell = (key) => spelling.get(key) ?? key;

const HELPERS = {
  http_trigger: trigger.http,
  timer_trigger: trigger.timer,
  queue_trigger: trigger.queue,
  blob_trigger: trigger.storageBlob,
  http_output: output.http,
  queue_output: output.queue,
  rabbitmq_trigger: trigger.rabbitMQ,
  rabbitmq_output: output.rabbitMQ,
  blob_input: input.blob,
  blob_output: output.blob,
  table_input: input.table,
  table_output: output.table,
  service_bus_trigger: trigger.serviceBusTopic,
  service_bus_output: output.serviceBusTopic,
};

function isTrigger(b) {
  return b.kind.endsWith('_trigger') || (b.kind === 'binding' && String(b.options.type ?? '').endsWith('Trigger'));
}

function describe(b) {
  const options = Object.fromEntries(Object.entries(b.options).map(([k, v]) => [b.kind === 'binding' ? k : spell(k), v]));
  if (b.kind !== 'binding') return HELPERS[b.kind](options);
  if (isTrigger(b)) return trigger.generic(options);
  return b.options.direction === 'out' ? output.generic(options) : input.generic(options);
}

/** The case as one `app.generic` registration: the first trigger, a return binding, extras. */
function register(c, name) {
  const options = { handler: () => {}, extraInputs: [], extraOutputs: [] };
  for (const b of c.bindings) {
    const binding = describe(b);
    const out = b.kind.endsWith('_output') || (b.kind === 'binding' && b.options.direction === 'out' && !isTrigger(b));
    if (isTrigger(b) && !options.trigger) options.trigger = binding;
    else if (out && b.options.name === undefined && !options.return) options.return = binding;
    else (out ? options.extraOutputs : options.extraInputs).push(binding);
  }
  app.generic(name, options);
}

const byName = (bindings) => [...bindings].sort((a, b) => a.name.localeCompare(b.name));

test('the table has its cases', () => {
  assert.ok(cases.length >= 15, `${cases.length} cases`);
});

cases.forEach((c, i) => {
  test(c.case, () => {
    const name = `${c.function}_table${i}`;
    if (c.ok) {
      register(c, name);
      const rendered = native.functionRawBindings(name).map((text) => JSON.parse(text));
      // Node's HTTP triggers are anonymous unless they say otherwise (Azure's v4 model), so the
      // binding says so where the other languages leave the host's default.
      const expected = c.ok.map((b) => (b.type === 'httpTrigger' && b.authLevel === undefined ? { ...b, authLevel: 'anonymous' } : b));
      assert.deepEqual(byName(rendered), byName(expected));
      return;
    }
    assert.throws(
      () => register(c, name),
      (error) => {
        assert.equal(error.problems?.length, c.problems.length, `${error.message}\n${JSON.stringify(error.problems)}`);
        for (const want of c.problems) {
          const key = want.key === null ? undefined : spell(want.key);
          const found = error.problems.some((p) => p.key === key && p.message.includes(want.message));
          assert.ok(found, `no problem at ${key} containing ${want.message}: ${error.message}`);
        }
        return true;
      },
    );
  });
});
