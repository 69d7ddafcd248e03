"""An ordinary Azure Functions app in the Python v2 model: nothing in it is written for fnwire.

Run it on fnwire's worker (README.md), then:

    curl localhost:7071/api/hello/Ada?greeting=Hi       # Hi, Ada!
    curl -i -d '{"id":"o-1","item":"tea","quantity":2}' localhost:7071/api/orders
    curl localhost:7071/api/receipts/o-1                # written by the queue function
    curl localhost:7071/api/heartbeat                   # written by the timer function
    curl -d '{"id":"c-1","name":"Ada"}' localhost:7071/api/customers   # a table row
    curl localhost:7071/api/customers/c-1               # that row (table input by key)
    curl localhost:7071/api/customers                   # the partition, filtered (table input query)
    fnwire table query Customers --filter "Visits ge 1"
"""

import datetime
import json
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello/{name}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    """Route parameters and query parameters."""
    name = req.route_params.get("name")
    greeting = req.params.get("greeting", "Hello")
    return func.HttpResponse(f"{greeting}, {name}!")


@app.route(route="orders", methods=["POST"])
@app.queue_output(arg_name="orders", queue_name="orders", connection="AzureWebJobsStorage")
def place_order(req: func.HttpRequest, orders: func.Out[str]) -> func.HttpResponse:
    """Takes a JSON order, queues it, and answers 202 with where the receipt will be."""
    try:
        order = req.get_json()
    except ValueError:
        return func.HttpResponse("expected a JSON order", status_code=400)
    if not isinstance(order, dict) or not order.get("id") or not order.get("item"):
        return func.HttpResponse(
            json.dumps({"error": "an order needs `id` and `item`"}),
            status_code=400,
            mimetype="application/json",
        )
    # `orderId`, not `id`: the blob path below reads it, and `{id}` there would be the queue
    # message's own id (trigger metadata wins over the message's JSON properties).
    orders.set(json.dumps({"orderId": order["id"], "item": order["item"], "quantity": order.get("quantity", 1)}))
    logging.info("queued order %s", order["id"])
    return func.HttpResponse(
        json.dumps({"queued": order["id"]}),
        status_code=202,
        mimetype="application/json",
        headers={"Location": f"/api/receipts/{order['id']}"},
    )


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="receipt", path="receipts/{orderId}.txt", connection="AzureWebJobsStorage")
def fulfil_order(msg: func.QueueMessage, receipt: func.Out[str]) -> None:
    """Each queued order becomes a receipt blob named after the order."""
    order = msg.get_json()
    logging.info("fulfilling order %s (message %s, dequeue count %s)", order["orderId"], msg.id, msg.dequeue_count)
    receipt.set(f"order {order['orderId']}: {order['quantity']} x {order['item']}\n")


@app.route(route="receipts/{id}", methods=["GET"])
@app.blob_input(arg_name="receipt", path="receipts/{id}.txt", connection="AzureWebJobsStorage")
def get_receipt(req: func.HttpRequest, receipt: func.InputStream) -> func.HttpResponse:
    """Reads a receipt blob; 404 until the queue function has written it."""
    if receipt is None:
        return func.HttpResponse("no receipt yet", status_code=404)
    return func.HttpResponse(receipt.read(), mimetype="text/plain")


@app.timer_trigger(arg_name="timer", schedule="*/10 * * * * *", run_on_startup=True, use_monitor=False)
@app.blob_output(arg_name="beat", path="heartbeat/latest.txt", connection="AzureWebJobsStorage")
def heartbeat(timer: func.TimerRequest, beat: func.Out[str]) -> None:
    """Every ten seconds (and at start), records when it last ran."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    beat.set(json.dumps({"at": now, "pastDue": timer.past_due}))


@app.route(route="heartbeat", methods=["GET"])
@app.blob_input(arg_name="beat", path="heartbeat/latest.txt", connection="AzureWebJobsStorage")
def last_heartbeat(req: func.HttpRequest, beat: str) -> func.HttpResponse:
    if beat is None:
        return func.HttpResponse("no heartbeat yet", status_code=404)
    return func.HttpResponse(beat, mimetype="application/json")


@app.route(route="customers", methods=["POST"])
@app.table_output(arg_name="row", table_name="Customers", partition_key="web", connection="AzureWebJobsStorage")
def add_customer(req: func.HttpRequest, row: func.Out[str]) -> func.HttpResponse:
    """Inserts a table row; the binding gives it its PartitionKey. As on Azure, a row without an
    ETag is only inserted: adding an existing customer again fails the function."""
    customer = req.get_json()
    row.set(json.dumps({"RowKey": customer["id"], "Name": customer["name"], "Visits": customer.get("visits", 1)}))
    return func.HttpResponse(status_code=201)


@app.route(route="customers/{id}", methods=["GET"])
@app.table_input(
    arg_name="customer", table_name="Customers", partition_key="web", row_key="{id}", connection="AzureWebJobsStorage"
)
def get_customer(req: func.HttpRequest, customer: str) -> func.HttpResponse:
    """One row by its keys: the entity as JSON text, or None when there is none."""
    if customer is None:
        return func.HttpResponse("no such customer", status_code=404)
    return func.HttpResponse(customer, mimetype="application/json")


@app.route(route="customers", methods=["GET"])
@app.table_input(
    arg_name="customers",
    table_name="Customers",
    partition_key="web",
    filter="Visits ge 1",
    take=10,
    connection="AzureWebJobsStorage",
)
def list_customers(req: func.HttpRequest, customers: str) -> func.HttpResponse:
    """The partition's rows that pass the filter, as a JSON array."""
    names = [c["Name"] for c in json.loads(customers)]
    return func.HttpResponse(json.dumps(names), mimetype="application/json")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    """Fails on purpose: the client gets a 500, the host log the exception and its traceback."""
    raise RuntimeError("boom: this function fails on purpose")
