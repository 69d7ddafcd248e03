"""Topics with filtered subscriptions, in Python: the same app as examples/orders (Rust), with
the same routes, topic and subscriptions (`servicebus.json`), and the same RabbitMQ forwarder.
README.md says how to run it.
"""

import json
import logging

import fnwire

app = fnwire.App()


def _sale_message(sale):
    if not isinstance(sale, dict) or not isinstance(sale.get("id"), str):
        raise ValueError('send e.g. {"id": "o-1", "type": "order", "total": 150}')
    if sale.get("type") not in ("order", "quote"):
        raise ValueError(f'`type` is `{sale.get("type")}`; use "order" or "quote"')
    total = sale.get("total", 0)
    if isinstance(total, bool) or not isinstance(total, (int, float)):
        raise ValueError(f"`total` is {json.dumps(total)}; send a number")
    # `type` and `total` are application properties: the subscriptions' filters read them.
    return fnwire.service_bus_message(
        json.dumps(sale),
        properties={"type": sale["type"], "total": float(total), "id": sale["id"]},
        message_id=sale["id"],
        content_type="application/json",
    )


@app.http_trigger(route="publish", methods=["POST"], auth_level="anonymous")
@app.service_bus_output(name="sales", topic="sales", connection="ServiceBusConnection")
def publish(req: fnwire.HttpRequest, sales: fnwire.Out[list]) -> fnwire.HttpResponse:
    """Publishes one sale, or an array of them, to the topic `sales`."""
    try:
        body = req.get_json()
    except ValueError as err:
        return fnwire.HttpResponse(f"the body is not JSON: {err}", status_code=400)
    items = body if isinstance(body, list) else [body]
    messages = []
    for i, sale in enumerate(items):
        try:
            messages.append(_sale_message(sale))
        except ValueError as err:
            return fnwire.HttpResponse(f"sale {i}: {err}", status_code=400)
    sales.set(messages)
    return fnwire.HttpResponse.json({"published": len(messages)}, status_code=202)


@app.rabbitmq_trigger(queue="%OrdersInboxQueue%", connection_string_setting="RabbitMQConnection")
@app.service_bus_output(topic="sales", connection="ServiceBusConnection")
def forward(msg: str) -> dict:
    """Forwards each sale from a RabbitMQ queue into the topic, as `publish` sends one. A message
    that is not a sale fails; the host redelivers it and, after `maxDeliveryCount` attempts,
    moves it to the queue `<OrdersInboxQueue>-poison`."""
    try:
        sale = json.loads(msg)
        message = _sale_message(sale)
    except ValueError as err:
        raise ValueError(f"RabbitMQ message {msg!r} is not a sale: {err}") from None
    logging.info("forwarding sale %s from RabbitMQ", sale["id"])
    return message


@app.service_bus_trigger(topic="sales", subscription="orders", connection="ServiceBusConnection")
@app.blob_output(path="processed/{id}")
def handle_order(msg: fnwire.ServiceBusMessage) -> str:
    """Big orders only: the subscription's filter chose them, its action marked them."""
    sale = msg.get_json()
    priority = msg.application_properties.get("priority", "normal")
    logging.info("order %s for %s (%s priority)", sale["id"], sale["total"], priority)
    return json.dumps(
        {"handledBy": "orders", "sale": sale, "priority": priority, "deliveryCount": msg.delivery_count}
    )


@app.service_bus_trigger(topic="sales", subscription="quotes", connection="ServiceBusConnection")
@app.blob_output(path="processed/{id}")
def handle_quote(msg: fnwire.ServiceBusMessage) -> str:
    sale = msg.get_json()
    logging.info("quote %s requested", sale["id"])
    return json.dumps({"handledBy": "quotes", "sale": sale, "deliveryCount": msg.delivery_count})


@app.http_trigger(route="processed/{id}", methods=["GET"], auth_level="anonymous")
@app.blob_input(name="record", path="processed/{id}")
def processed(req: fnwire.HttpRequest, record: str = None) -> fnwire.HttpResponse:
    """What happened to a sale: 404 until a subscription's function handled it."""
    if record is None:
        sale = req.route_params.get("id")
        return fnwire.HttpResponse(
            f"sale `{sale}` was not handled (yet): no subscription took it, or it is on its way", status_code=404
        )
    return fnwire.HttpResponse(record, headers={"content-type": "application/json"})
