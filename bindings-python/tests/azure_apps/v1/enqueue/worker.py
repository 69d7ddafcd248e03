import logging

import azure.functions as func


def handle(req: func.HttpRequest, msg: func.Out[str], context: func.Context) -> func.HttpResponse:
    job = req.get_json()
    logging.info("enqueueing job %s", job["jobId"])
    msg.set(req.get_body().decode("utf-8"))
    return func.HttpResponse(f"queued {job['jobId']} by {context.function_name}", status_code=202)
