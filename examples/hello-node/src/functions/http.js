// The hello app's HTTP functions. Run it with `fnwire start examples/hello-node`, then:
//
//   curl localhost:7071/api/hello?name=Ada          # Hello, Ada!
//   curl localhost:7071/api/hello/Bob               # Hello, Bob!
//   curl -d '{"n":1}' localhost:7071/api/echo       # {"n":1}
//   curl -i localhost:7071/api/boom                 # 500, with the invocation id

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

// Answers a JSON body with the same JSON; anything else is a 400 that says why.
app.httpTrigger('echo', {
  route: 'echo',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (req) => {
    try {
      return { jsonBody: await req.json() };
    } catch (err) {
      return { status: 400, body: `echo expects a JSON body: ${err.message}` };
    }
  },
});

// Always fails: shows what a failing function looks like to clients (500) and in the log.
app.httpTrigger('boom', {
  route: 'boom',
  authLevel: 'anonymous',
  handler: async (req) => {
    throw new Error(`boom: ${req.method} ${new URL(req.url).pathname} fails on purpose`);
  },
});
