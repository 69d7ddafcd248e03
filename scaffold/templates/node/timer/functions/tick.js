// A timer function. `fnwire start --watch` and watch the log: `tick` runs every five seconds.

import { app } from 'fnwire';

// Runs on the schedule (NCRONTAB, with seconds): every five seconds.
app.timerTrigger('tick', {
  schedule: '*/5 * * * * *',
  handler: async (timer, context) => {
    context.log(`tick past_due=${timer.isPastDue}`);
  },
});
