import os

import azure.functions as func

from ..shared_code.contract import json_response, text


def main(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name")
    if not name:
        return text("missing name", 400)
    return json_response({"name": name, "value": os.environ.get(name)})
