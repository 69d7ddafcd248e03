"""http_multi's code, in a subfolder of the function's folder: function.json says
`"scriptFile": "impl/multi.py"` and no entryPoint, so `main` is called."""

import azure.functions as func

from ...shared_code.contract import text


def main(req: func.HttpRequest, outqueue: func.Out[str], outblob: func.Out[str]) -> func.HttpResponse:
    body = req.get_body().decode("utf-8")
    outqueue.set("queue:" + body)
    outblob.set("blob:" + body)
    return text("multi:" + body)
