'use strict';
// Registration: options are checked and rendered by the Rust core with fnwire's binding catalog.

const test = require('node:test');
const assert = require('node:assert/strict');
const native = require('../lib/native');
const { app, input, output, trigger } = require('..');

const handler = async () => {};
const raw = (name) => native.functionRawBindings(name).map((text) => JSON.parse(text));

test('an HTTP function renders its trigger and $return like the Rust macros', () => {
  app.httpTrigger('reg_hello', { route: 'hello/{name?}', methods: ['GET', 'POST'], authLevel: 'anonymous', handler });
  assert.deepEqual(raw('reg_hello'), [
    { type: 'httpTrigger', direction: 'in', name: 'req', route: 'hello/{name?}', methods: ['get', 'post'], authLevel: 'anonymous' },
    { type: 'http', direction: 'out', name: '$return' },
  ]);
});

test('queue trigger with a named extra output and a return output', () => {
  const done = output.queue({ name: 'done', queue: 'done', connection: 'AzureWebJobsStorage' });
  app.queueTrigger('reg_work', { queue: 'jobs', extraOutputs: [done], return: output.queue({ queue: 'ret' }), handler });
  assert.deepEqual(raw('reg_work'), [
    { type: 'queueTrigger', direction: 'in', name: 'msg', queueName: 'jobs' },
    { type: 'queue', direction: 'out', name: '$return', queueName: 'ret' },
    { type: 'queue', direction: 'out', name: 'done', queueName: 'done', connection: 'AzureWebJobsStorage' },
  ]);
});

test('unnamed extra bindings get a stable name of letters and digits', () => {
  const blob = input.blob({ path: 'in/{queueTrigger}' });
  app.queueTrigger('reg_blob', { queue: 'q', extraInputs: [blob], handler });
  const [, binding] = raw('reg_blob');
  assert.match(binding.name, /^blobInput[0-9a-f]{8}$/);
  assert.equal(binding.path, 'in/{queueTrigger}');
});

test('timer options are camelCased catalog keys', () => {
  app.timerTrigger('reg_tick', { schedule: '0 */5 * * * *', runOnStartup: false, useMonitor: false, handler });
  assert.deepEqual(raw('reg_tick'), [
    { type: 'timerTrigger', direction: 'in', name: 'timer', schedule: '0 */5 * * * *', runOnStartup: false, useMonitor: false },
  ]);
});

test('a generic binding passes every key through untouched', () => {
  const probe = input.generic({ type: 'fnwireProbe', name: 'probe', probeCount: 3, enabled: true, label: 'Grüße', tags: ['one', 'two'] });
  app.generic('reg_generic', { trigger: trigger.http({ route: 'g', authLevel: 'anonymous' }), return: output.http(), extraInputs: [probe], handler });
  assert.deepEqual(raw('reg_generic')[2], {
    type: 'fnwireProbe', direction: 'in', name: 'probe', probeCount: 3, enabled: true, label: 'Grüße', tags: ['one', 'two'],
  });
});

function throwsNaming(fn, ...patterns) {
  assert.throws(fn, (error) => {
    for (const p of patterns) assert.match(error.message, p);
    return true;
  });
}

test('mistakes throw at registration, naming the function and the problem', () => {
  throwsNaming(() => app.httpTrigger('bad_handler', { route: 'x' }), /app\.httpTrigger\("bad_handler"\)/, /handler/);
  throwsNaming(
    () => app.httpTrigger('typo_handler', { route: 'x', hander: handler }),
    /typo_handler/,
    /has no option `hander`; did you mean `handler`\?/,
  );
  throwsNaming(
    () => app.httpTrigger('typo_extra', { handler, extraOutput: [] }),
    /typo_extra/,
    /has no option `extraOutput`; did you mean `extraOutputs`\?/,
  );
  throwsNaming(
    () => app.queueTrigger('bad_key', { queueName: 'jobs', handler }),
    /app\.queueTrigger\('bad_key'\)/,
    /`trigger\.queue` has no option `queueName`; did you mean `queue`\?/,
    /`trigger\.queue` requires `queue: \.\.\.`/,
  );
  throwsNaming(() => app.httpTrigger('bad_auth', { authLevel: 'public', handler }), /bad_auth/, /`public` is not an auth level/);
  throwsNaming(() => app.httpTrigger('bad_method', { methods: ['GRAB'], handler }), /`grab` is not an HTTP method/);
  throwsNaming(() => app.timerTrigger('bad timer name', { schedule: '* * * * * *', handler }), /not a valid function name/);
  throwsNaming(
    () => app.httpTrigger('bad_output', { handler, extraOutputs: [output.queue({ name: 'out_q', queue: 'q' })] }),
    /bad_output/,
    /`out_q` is not a valid binding name/,
  );
  throwsNaming(() => app.httpTrigger('bad_extra', { handler, extraOutputs: ['q'] }), /extraOutputs\[0\] is not a binding/);
  throwsNaming(() => app.generic('bad_generic', { trigger: trigger.generic({ name: 'x' }), handler }), /requires `type: '\.\.\.'`/);
});

test('problems are listed on the error, with the option at fault as the user wrote it', () => {
  assert.throws(
    () => app.httpTrigger('bad_problems', { authLevel: 'public', methods: ['GRAB'], handler }),
    (error) => {
      assert.deepEqual(error.problems.map((p) => p.key).sort(), ['authLevel', 'methods']);
      return true;
    },
  );
});

test('a generic trigger is an input, as in Rust and Python', () => {
  throwsNaming(
    () => app.generic('bad_direction', { trigger: trigger.generic({ type: 'fnwireTrigger', direction: 'out' }), handler }),
    /triggers have `direction: 'in'`/,
  );
});

test('an HTTP trigger without authLevel is anonymous, as in the Azure v4 model', () => {
  app.httpTrigger('reg_default_auth', { handler });
  assert.equal(raw('reg_default_auth')[0].authLevel, 'anonymous');
  app.generic('reg_default_auth_generic', { trigger: trigger.http({}), handler });
  assert.equal(raw('reg_default_auth_generic')[0].authLevel, 'anonymous');
  app.httpTrigger('reg_keyed', { authLevel: 'function', handler });
  assert.equal(raw('reg_keyed')[0].authLevel, 'function');
});

test('an HTTP trigger given through app.generic returns the response, as app.httpTrigger does', () => {
  app.generic('reg_generic_http', { trigger: trigger.http({ route: 'gh' }), handler });
  assert.deepEqual(raw('reg_generic_http')[1], { type: 'http', direction: 'out', name: '$return' });
});

test('function names are unique, case-insensitively', () => {
  app.httpTrigger('reg_unique', { handler });
  throwsNaming(() => app.httpTrigger('REG_UNIQUE', { handler }), /another function, 'reg_unique', is also named `REG_UNIQUE`/);
});

test('Service Bus functions take @azure/functions option names and render Azure binding shapes', () => {
  const shipping = output.serviceBusQueue({ queueName: 'shipping', connection: 'ServiceBusConnection' });
  app.serviceBusTopic('reg_orders', {
    topicName: 'sales',
    subscriptionName: 'orders',
    connection: 'ServiceBusConnection',
    return: shipping,
    handler,
  });
  assert.deepEqual(raw('reg_orders'), [
    { type: 'serviceBusTrigger', direction: 'in', name: 'msg', topicName: 'sales', subscriptionName: 'orders', connection: 'ServiceBusConnection' },
    { type: 'serviceBus', direction: 'out', name: '$return', queueName: 'shipping', connection: 'ServiceBusConnection' },
  ]);
  app.serviceBusQueue('reg_jobs', { queueName: 'jobs', return: output.serviceBusTopic({ topicName: 'sales' }), handler });
  assert.deepEqual(raw('reg_jobs')[0], { type: 'serviceBusTrigger', direction: 'in', name: 'msg', queueName: 'jobs' });
  assert.throws(() => app.serviceBusTopic('reg_nosub', { topicName: 'sales', handler }), /on a topic requires `subscription/);
});
