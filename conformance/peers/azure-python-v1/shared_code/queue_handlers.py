"""queue_return's code: its function.json reaches it with
`"scriptFile": "../shared_code/queue_handlers.py"` and `"entryPoint": "queue_return"`, a script
outside the function's own folder."""

import azure.functions as func


def queue_return(msg: func.QueueMessage) -> str:
    return "returned:" + msg.get_body().decode("utf-8")
