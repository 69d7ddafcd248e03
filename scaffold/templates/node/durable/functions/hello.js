// A durable orchestration, written with the official libraries (`@azure/functions` and
// `durable-functions`). `fnwire start --watch`, then
// `curl -X POST -d '"Tokyo"' localhost:7071/api/orchestrators/hello_cities` and open the
// `statusQueryGetUri` it answers with.

import { app } from '@azure/functions';
import * as df from 'durable-functions';

// Starts orchestrator `name` with the request body (JSON) as input; answers 202 with the URLs
// that follow it.
app.http('http_start', {
  route: 'orchestrators/{name}',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: async (request, context) => {
    const client = df.getClient(context);
    const body = await request.text();
    const instanceId = await client.startNew(request.params.name, { input: body ? JSON.parse(body) : 'Seattle' });
    return client.createCheckStatusResponse(request, instanceId);
  },
});

// Says hello three times, one activity after the other.
df.app.orchestration('hello_cities', function* (context) {
  const city = context.df.getInput();
  const greetings = [];
  for (const place of [city, 'London', 'Lima']) {
    greetings.push(yield context.df.callActivity('say_hello', place));
  }
  return greetings;
});

df.app.activity('say_hello', { handler: (name) => `Hello ${name}!` });
