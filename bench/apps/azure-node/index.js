'use strict';
// examples/hello-node's `hello` in Microsoft's v4 model, so the bench can compare the two APIs on
// the same worker: same route, same answer, no logging.

const { app } = require('@azure/functions');

app.http('hello', {
  route: 'hello/{name?}',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const name = [request.params.name, request.query.get('name')].find((n) => n) ?? 'world';
    return { body: `Hello, ${name}!` };
  },
});
