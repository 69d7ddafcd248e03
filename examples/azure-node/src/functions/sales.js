// Service Bus: HTTP publishes a sale to the topic `sales`; its subscription `billing` (declared in
// servicebus.json) triggers billSale, which sends an invoice to the queue `invoices`.
//   curl -i -d '{"id":"s-1","item":"tea","total":120}' localhost:7071/api/sales   # 202
//   (the log shows `invoiced sale s-1` from invoiceSale)
import { app, output } from '@azure/functions';

const connection = 'ServiceBusConnection';
const salesTopic = output.serviceBusTopic({ topicName: 'sales', connection });

app.http('publishSale', {
  route: 'sales',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraOutputs: [salesTopic],
  handler: async (request, context) => {
    let sale;
    try {
      sale = await request.json();
    } catch {
      return { status: 400, jsonBody: { error: 'the body must be JSON: {"id": "s-1", "item": "tea", "total": 12.5}' } };
    }
    if (typeof sale?.id !== 'string' || typeof sale.total !== 'number') {
      return { status: 400, jsonBody: { error: 'a sale needs "id" (a string) and "total" (a number)' } };
    }
    context.extraOutputs.set(salesTopic, sale);
    return { status: 202, jsonBody: { published: sale.id } };
  },
});

app.serviceBusTopic('billSale', {
  topicName: 'sales',
  subscriptionName: 'billing',
  connection,
  return: output.serviceBusQueue({ queueName: 'invoices', connection }),
  handler: (sale, context) => {
    context.log(`billing sale ${sale.id} (message ${context.triggerMetadata.messageId}, delivery ${context.triggerMetadata.deliveryCount})`);
    return { saleId: sale.id, amount: sale.total };
  },
});

app.serviceBusQueue('invoiceSale', {
  queueName: 'invoices',
  connection,
  handler: (invoice, context) => {
    context.log(`invoiced sale ${invoice.saleId}: ${invoice.amount}`);
  },
});
