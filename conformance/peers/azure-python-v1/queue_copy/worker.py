"""queue_copy's code: function.json says `"scriptFile": "worker.py"` and `"entryPoint": "handle"`."""

import json

import azure.functions as func


def handle(msg: func.QueueMessage, outmsg: func.Out[str]) -> None:
    outmsg.set(json.dumps({
        "body": msg.get_body().decode("utf-8"),
        "id": msg.id,
        "dequeueCount": msg.dequeue_count,
    }))
