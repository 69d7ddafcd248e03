# An app written for Azure with azure.functions' Service Bus decorators, unchanged: an HTTP
# function sends to a topic, a topic-subscription trigger reads the message through the
# library's own ServiceBusMessage and forwards it to a Service Bus queue, whose trigger writes a
# blob that an HTTP function reads back.
import json
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="send", methods=["POST"])
@app.service_bus_topic_output(arg_name="out", topic_name="sales", connection="ServiceBusConnection")
def send(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse("sent", status_code=202)


@app.service_bus_topic_trigger(arg_name="msg", topic_name="sales", subscription_name="everything",
                               connection="ServiceBusConnection")
@app.service_bus_queue_output(arg_name="forward", queue_name="seen", connection="ServiceBusConnection")
def on_sale(msg: func.ServiceBusMessage, forward: func.Out[str]) -> None:
    sale = json.loads(msg.get_body().decode())
    logging.info("sale %s, delivery %s", sale["id"], msg.delivery_count)
    forward.set(json.dumps({"id": sale["id"], "deliveryCount": msg.delivery_count,
                            "messageId": msg.message_id, "enqueued": msg.enqueued_time_utc is not None}))


@app.service_bus_queue_trigger(arg_name="seen", queue_name="seen", connection="ServiceBusConnection")
@app.blob_output(arg_name="record", path="seen/{id}", connection="AzureWebJobsStorage")
def on_seen(seen: func.ServiceBusMessage, record: func.Out[str]) -> None:
    record.set(seen.get_body().decode())


@app.route(route="seen/{id}", methods=["GET"])
@app.blob_input(arg_name="record", path="seen/{id}", connection="AzureWebJobsStorage")
def read_seen(req: func.HttpRequest, record: str) -> func.HttpResponse:
    if record is None:
        return func.HttpResponse("not yet", status_code=404)
    return func.HttpResponse(record, mimetype="application/json")
