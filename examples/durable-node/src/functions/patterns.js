// The six Durable Functions patterns in the @azure/functions v4 model with durable-functions 3.x,
// as Azure's templates write them; nothing here is written for fnwire.
const { app } = require('@azure/functions');
const df = require('durable-functions');

// Async HTTP API: start any orchestrator, answer 202 with the management URLs.
app.http('httpStart', {
  route: 'orchestrators/{name}',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: async (request, context) => {
    const client = df.getClient(context);
    const text = await request.text();
    const instanceId = await client.startNew(request.params.name, { input: text ? JSON.parse(text) : undefined });
    context.log(`started ${request.params.name} as ${instanceId}`);
    return client.createCheckStatusResponse(request, instanceId);
  },
});

// Human interaction: raise the event the `approval` orchestrator waits for.
app.http('approve', {
  route: 'approve/{instanceId}',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: async (request, context) => {
    const client = df.getClient(context);
    await client.raiseEvent(request.params.instanceId, 'Approval', (await request.text()) || 'yes');
    return { status: 202 };
  },
});

// 1. Function chaining.
df.app.orchestration('chain', function* (context) {
  const city = context.df.getInput();
  const first = yield context.df.callActivity('sayHello', city);
  const second = yield context.df.callActivity('sayHello', first);
  const third = yield context.df.callActivity('sayHello', second);
  return [first, second, third];
});

df.app.activity('sayHello', { handler: (name) => `Hello ${name}` });

// 2. Fan-out / fan-in.
df.app.orchestration('fanOutFanIn', function* (context) {
  const count = context.df.getInput();
  const tasks = [];
  for (let n = 0; n < count; n++) tasks.push(context.df.callActivity('square', n));
  const results = yield context.df.Task.all(tasks);
  return results.reduce((a, b) => a + b, 0);
});

df.app.activity('square', { handler: (n) => n * n });

// 4. Monitor: check, sleep on a durable timer, check again.
df.app.orchestration('monitor', function* (context) {
  const { doneAfter } = context.df.getInput();
  let checks = 0;
  for (;;) {
    checks += 1;
    const state = yield context.df.callActivity('checkJob', { check: checks, doneAfter });
    context.df.setCustomStatus({ checks, state });
    if (state === 'done') return { checks };
    const next = new Date(context.df.currentUtcDateTime.getTime() + 1000);
    yield context.df.createTimer(next);
  }
});

df.app.activity('checkJob', { handler: (job) => (job.check >= job.doneAfter ? 'done' : 'running') });

// 5. Human interaction: an event, or a timeout.
df.app.orchestration('approval', function* (context) {
  const { timeoutSeconds } = context.df.getInput();
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + timeoutSeconds * 1000);
  const event = context.df.waitForExternalEvent('Approval');
  const timer = context.df.createTimer(deadline);
  const winner = yield context.df.Task.any([event, timer]);
  if (winner === event) {
    timer.cancel();
    return `approved: ${event.result}`;
  }
  return 'timed out';
});

// 6. Aggregator: a counter entity, signalled and called from an orchestration.
df.app.entity('counter', (context) => {
  const value = context.df.getState(() => 0);
  if (context.df.operationName === 'add') {
    const next = value + context.df.getInput();
    context.df.setState(next);
    context.df.return(next);
  } else if (context.df.operationName === 'reset') {
    context.df.setState(0);
  } else {
    context.df.return(value);
  }
});

df.app.orchestration('countWithEntity', function* (context) {
  const entity = new df.EntityId('counter', context.df.getInput());
  context.df.signalEntity(entity, 'add', 10);
  const total = yield context.df.callEntity(entity, 'add', 5);
  return total;
});
