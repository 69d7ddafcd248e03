// App-wide setup: hooks that run once at start and around every function.
import { app } from '@azure/functions';

app.setup({ enableHttpStream: false });

let startedAt;

app.hook.appStart(() => {
  startedAt = Date.now();
});

// Times every invocation and says so in its log.
app.hook.preInvocation((context) => {
  context.hookData.start = performance.now();
});

app.hook.postInvocation((context) => {
  const ms = (performance.now() - context.hookData.start).toFixed(1);
  const outcome = context.error ? `failed: ${context.error.message}` : 'done';
  const uptime = ((Date.now() - startedAt) / 1000).toFixed(0);
  context.invocationContext.log(`${context.invocationContext.functionName} ${outcome} in ${ms} ms (app up ${uptime} s)`);
});
