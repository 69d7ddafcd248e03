// HTTP functions. `fnwire start --watch`, then `curl localhost:7071/api/hello?name=Ada`.

import { app } from 'fnwire';

// Greets by name: from the route (`/api/hello/Bob`), else the `name` query parameter, else "world".
app.httpTrigger('hello', {
  route: 'hello/{name?}',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: async (req) => {
    const name = [req.params.name, req.query.get('name')].find((n) => n) ?? 'world';
    return { body: `Hello, ${name}!` };
  },
});
