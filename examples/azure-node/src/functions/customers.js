// Table bindings: a row written by one function, read by key and by a filtered query by others.
//   curl -d '{"id":"c-1","name":"Ada"}' localhost:7071/api/customers     # 201
//   curl localhost:7071/api/customers/c-1                                 # the row
//   curl localhost:7071/api/customers                                     # rows with Visits ge 1
import { app, input, output } from '@azure/functions';

const customerRows = output.table({ tableName: 'Customers', partitionKey: 'web', connection: 'AzureWebJobsStorage' });

app.http('addCustomer', {
  route: 'customers',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraOutputs: [customerRows],
  handler: async (request, context) => {
    const customer = await request.json();
    context.extraOutputs.set(customerRows, [{ RowKey: customer.id, Name: customer.name, Visits: customer.visits ?? 1 }]);
    return { status: 201 };
  },
});

const oneCustomer = input.table({
  tableName: 'Customers',
  partitionKey: 'web',
  rowKey: '{id}',
  connection: 'AzureWebJobsStorage',
});

app.http('getCustomer', {
  route: 'customers/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  extraInputs: [oneCustomer],
  handler: async (request, context) => {
    const customer = context.extraInputs.get(oneCustomer);
    return customer ? { jsonBody: customer } : { status: 404, body: 'no such customer' };
  },
});

const regulars = input.table({
  tableName: 'Customers',
  partitionKey: 'web',
  filter: 'Visits ge 1',
  take: 10,
  connection: 'AzureWebJobsStorage',
});

app.http('listCustomers', {
  route: 'customers',
  methods: ['GET'],
  authLevel: 'anonymous',
  extraInputs: [regulars],
  handler: async (request, context) => ({ jsonBody: context.extraInputs.get(regulars).map((c) => c.Name) }),
});
