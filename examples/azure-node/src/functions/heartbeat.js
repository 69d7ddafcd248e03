// A timer: every five seconds (NCRONTAB, seconds first).
import { app } from '@azure/functions';

app.timer('heartbeat', {
  schedule: '*/5 * * * * *',
  handler: async (timer, context) => {
    context.log(`heartbeat isPastDue=${timer.isPastDue}`);
  },
});
