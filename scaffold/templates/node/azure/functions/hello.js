// An Azure Functions app in the @azure/functions v4 model, as Azure's templates write it: it
// deploys to Azure unchanged, and fnwire runs it locally. `fnwire start --watch`, then
// `curl localhost:7071/api/hello?name=Ada`.

import { app } from '@azure/functions';

// Greets the `name` query parameter, else "world".
app.http('hello', {
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const name = request.query.get('name') || 'world';
    return { body: `Hello, ${name}!` };
  },
});
