// Queue functions. `fnwire start --watch`, then `curl -d hello localhost:7071/api/enqueue`
// (or `fnwire queue put jobs hello`) and `fnwire queue peek done`.

import { app, output } from 'fnwire';

const job = output.queue({ name: 'job', queue: 'jobs' });
const done = output.queue({ name: 'done', queue: 'done' });

// Puts the request body on queue `jobs`, where `work` picks it up.
app.httpTrigger('enqueue', {
  route: 'enqueue',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraOutputs: [job],
  handler: async (req, context) => {
    const text = await req.text();
    if (!text) {
      return { status: 400, body: 'enqueue expects a body: the text of the job' };
    }
    context.extraOutputs.set(job, text);
    return { status: 202, body: 'queued on jobs\n' };
  },
});

// Upper-cases each message on `jobs` and puts the result on queue `done`.
app.queueTrigger('work', {
  queue: 'jobs',
  extraOutputs: [done],
  handler: async (message, context) => {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    context.log(`working on ${text} id=${context.triggerMetadata.id}`);
    context.extraOutputs.set(done, text.toUpperCase());
  },
});
