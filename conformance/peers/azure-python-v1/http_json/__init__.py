import json

import azure.functions as func

from ..shared_code.contract import json_kind, json_response, text


def main(req: func.HttpRequest) -> func.HttpResponse:
    try:
        value = json.loads(req.get_body().decode("utf-8"))
    except ValueError:
        # UnicodeDecodeError is a ValueError too.
        return text("invalid JSON", 400)
    return json_response({"received": value, "kind": json_kind(value)})
