"""End to end: examples/orders-python under `fnwire start`, driven as its README says: orders and
quotes published to the topic reach the function of the subscription whose filter takes them, and
only those; sales published to a RabbitMQ queue (the broker of `FNWIRE_TEST_AMQP`, set by
scripts/rabbitmq.sh; else guest@127.0.0.1:5672) are forwarded into the topic the same way. The
queues are the test's own and are deleted afterwards. The test's side of the broker is pika."""

import json
import os
import subprocess
import time
import uuid

import pika
import pytest

from test_azure_end_to_end import FNWIRE, ROOT, Host

AMQP_URL = os.environ.get("FNWIRE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2f")


class Broker:
    """The test's side of the broker, on pika (declare, publish, get, delete on one channel)."""

    def __init__(self, url):
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        # Publishes wait for the broker's confirmation: the message is routed when it returns.
        self.channel.confirm_delivery()

    def declare(self, queue, passive=False):
        """Declares a durable queue; returns its ready count. Passive: None when it does not exist."""
        try:
            return self.channel.queue_declare(queue, passive=passive, durable=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            self.channel = self.connection.channel()
            self.channel.confirm_delivery()
            if passive:
                return None
            raise

    def publish(self, queue, body):
        self.channel.basic_publish(exchange="", routing_key=queue, body=body.encode())

    def get(self, queue):
        """The body of one ready message of `queue`, acknowledged; None when it has none."""
        _, _, body = self.channel.basic_get(queue, auto_ack=True)
        return None if body is None else body.decode()

    def delete(self, queue):
        self.channel.queue_delete(queue)

    def close(self):
        self.connection.close()


def until(probe, what, seconds=120):
    """Polls `probe` until it returns something other than None; the first start of a worker and
    redeliveries take a while on a loaded machine, hence the generous bound."""
    deadline = time.monotonic() + seconds
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def processed(host, sale_id):
    status, body, _ = host.get(f"/api/processed/{sale_id}")
    return json.loads(body) if status == 200 else None


def test_orders_python_routes_sales_by_subscription_and_forwards_from_rabbitmq(tmp_path, monkeypatch):
    inbox = f"fnwire-orders-python-test-{uuid.uuid4().hex[:12]}"
    poison = f"{inbox}-poison"
    try:
        broker = Broker(AMQP_URL)
    except pika.exceptions.AMQPError as err:
        pytest.fail(f"no RabbitMQ broker answers at {AMQP_URL} ({err}); run scripts/rabbitmq.sh")
    broker.declare(inbox)
    monkeypatch.setenv("RabbitMQConnection", AMQP_URL)
    monkeypatch.setenv("OrdersInboxQueue", inbox)
    host = None
    try:
        host = Host(ROOT / "examples" / "orders-python", tmp_path)
        sales = [
            {"id": "o-1", "type": "order", "total": 150},
            {"id": "o-2", "type": "order", "total": 50},
            {"id": "q-1", "type": "quote"},
            {"id": "o-3", "type": "order", "total": 101.5},
        ]
        status, body, _ = host.get("/api/publish", data=json.dumps(sales).encode())
        assert (status, json.loads(body)) == (202, {"published": 4})

        handled = {}
        for sale_id in ["o-1", "q-1", "o-3"]:
            handled[sale_id] = until(lambda: processed(host, sale_id), f"sale {sale_id}")
        assert all(handled.values()), f"not every sale was handled: {handled}\n{host.stop()}"
        # The subscription's action marked the orders it took; each went through on its first delivery.
        assert handled["o-1"] == {"handledBy": "orders", "sale": sales[0], "priority": "high", "deliveryCount": 1}
        assert handled["o-3"] == {"handledBy": "orders", "sale": sales[3], "priority": "high", "deliveryCount": 1}
        assert handled["q-1"] == {"handledBy": "quotes", "sale": sales[2], "deliveryCount": 1}

        # The small order was sent in the same transaction as the others, but no subscription
        # took it: nothing of it waits anywhere.
        assert host.get("/api/processed/o-2")[0] == 404
        listed = subprocess.run(
            [str(FNWIRE), "topic", "list", "--app", str(host.dir)], capture_output=True, check=True
        ).stdout.decode()
        assert "orders: 0 active, 0 dead-lettered" in listed, listed
        assert "quotes: 0 active, 0 dead-lettered" in listed, listed

        # Bad input names the sale and what to send.
        status, body, _ = host.get("/api/publish", data=b'[{"id":"x","type":"thing"}]')
        assert status == 400 and b"sale 0" in body and b'"order" or "quote"' in body, body

        # Sales from the RabbitMQ queue take the same way through the topic.
        for sale in ['{"id":"r-1","type":"order","total":250}', '{"id":"r-2","type":"quote"}',
                     '{"id":"r-3","type":"order","total":20}']:
            broker.publish(inbox, sale)
        forwarded = {sale_id: until(lambda: processed(host, sale_id), sale_id) for sale_id in ["r-1", "r-2"]}
        assert all(forwarded.values()), f"not every forwarded sale was handled: {forwarded}\n{host.stop()}"
        assert forwarded["r-1"] == {
            "handledBy": "orders",
            "sale": {"id": "r-1", "type": "order", "total": 250},
            "priority": "high",
            "deliveryCount": 1,
        }
        assert forwarded["r-2"] == {"handledBy": "quotes", "sale": {"id": "r-2", "type": "quote"}, "deliveryCount": 1}

        # A message that is not a sale fails each attempt and ends on the inbox's poison queue.
        broker.publish(inbox, '{"id":"r-4","type":"refund"}')
        poisoned = until(lambda: True if broker.declare(poison, passive=True) == 1 else None, "the poison message")
        assert poisoned, f"nothing reached {poison}:\n{host.stop()}"
        assert json.loads(broker.get(poison)) == {"id": "r-4", "type": "refund"}
        # Everything the broker delivered was acknowledged, and the small order went nowhere.
        assert broker.declare(inbox, passive=True) == 0
        assert host.get("/api/processed/r-3")[0] == 404
        log = host.stop()
        assert "is not a sale: `type` is `refund`" in log, log
    finally:
        if host is not None and host.proc.poll() is None:
            host.proc.kill()
            host.proc.wait()
        for queue in (inbox, poison):
            try:
                broker.delete(queue)
            except pika.exceptions.AMQPError:
                pass  # never made (the test failed before); the original failure is what counts
        broker.close()
