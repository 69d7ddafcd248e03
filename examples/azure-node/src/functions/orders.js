// An order pipeline: HTTP in, a queue between the steps, a blob out.
//   curl -i -d '{"item":"tea","quantity":2}' localhost:7071/api/orders    # 201, Location: /api/orders/<orderId>
//   cat .fnwire/blobs/receipts/<orderId>.json                                 # written by fulfilOrder
import { randomUUID } from 'node:crypto';
import { app, output } from '@azure/functions';

const ordersQueue = output.storageQueue({ queueName: 'orders', connection: 'AzureWebJobsStorage' });

app.http('placeOrder', {
  route: 'orders',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraOutputs: [ordersQueue],
  handler: async (request, context) => {
    let order;
    try {
      order = await request.json();
    } catch {
      return { status: 400, jsonBody: { error: 'the body must be JSON: {"item": "...", "quantity": 1}' } };
    }
    if (typeof order?.item !== 'string' || !Number.isInteger(order.quantity) || order.quantity < 1) {
      return { status: 400, jsonBody: { error: 'an order needs "item" (a string) and "quantity" (a positive integer)' } };
    }
    const placed = { orderId: randomUUID(), item: order.item, quantity: order.quantity };
    context.extraOutputs.set(ordersQueue, placed);
    return {
      status: 201,
      headers: { location: `/api/orders/${placed.orderId}`, 'x-order-id': placed.orderId },
      jsonBody: placed,
    };
  },
});

// `{orderId}` in the blob path is the `orderId` property of the queued JSON message.
const receipt = output.storageBlob({ path: 'receipts/{orderId}.json', connection: 'AzureWebJobsStorage' });

app.storageQueue('fulfilOrder', {
  queueName: 'orders',
  connection: 'AzureWebJobsStorage',
  extraOutputs: [receipt],
  handler: async (order, context) => {
    context.log(`fulfilling order ${order.orderId} (dequeue count ${context.triggerMetadata.dequeueCount})`);
    context.extraOutputs.set(receipt, JSON.stringify({ ...order, fulfilledBy: context.invocationId }));
  },
});
