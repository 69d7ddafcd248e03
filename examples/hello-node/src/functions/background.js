// The hello app's non-HTTP functions: a timer and a queue worker.

import { app, output } from 'fnwire';

// Logs every five seconds.
app.timerTrigger('tick', {
  schedule: '*/5 * * * * *',
  handler: async (timer, context) => {
    context.log(`tick past_due=${timer.isPastDue}`);
  },
});

// Upper-cases each message on `jobs` and puts it on `done`.
const done = output.queue({ name: 'done', queue: 'done' });

app.queueTrigger('work', {
  queue: 'jobs',
  extraOutputs: [done],
  handler: async (message, context) => {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    context.log(`working on ${text} id=${context.triggerMetadata.id}`);
    context.extraOutputs.set(done, text.toUpperCase());
  },
});
