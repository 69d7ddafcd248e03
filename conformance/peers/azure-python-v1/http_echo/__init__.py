# function.json names no scriptFile: the host picks this file, the folder's only one.
import azure.functions as func

from ..shared_code.contract import json_response


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return json_response({
        "method": req.method,
        "url": req.url,
        "headers": {k.lower(): v for k, v in req.headers.items()},
        "query": dict(req.params.items()),
        "params": dict(req.route_params.items()),
        "bodyLength": len(req.get_body()),
        "invocationId": context.invocation_id,
        "functionName": context.function_name,
    })
