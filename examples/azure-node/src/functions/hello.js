// HTTP with a route parameter:
//   curl localhost:7071/api/hello/Ada        # Hello, Ada!
//   curl localhost:7071/api/hello?name=Bob   # Hello, Bob!
import { app } from '@azure/functions';

app.http('hello', {
  route: 'hello/{name?}',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: async (request, context) => {
    const name = request.params.name || request.query.get('name') || (await request.text()) || 'world';
    context.log(`greeting ${name}`);
    return { body: `Hello, ${name}!` };
  },
});
