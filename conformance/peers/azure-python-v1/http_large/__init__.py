import hashlib

import azure.functions as func

from ..shared_code.contract import LARGE_DEFAULT, LARGE_MAX, json_response, large_pattern, text


def main(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() == "POST":
        body = req.get_body()
        return json_response({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})
    raw = req.params.get("size")
    if raw is None or raw == "":
        size = LARGE_DEFAULT
    elif raw.isascii() and raw.isdigit() and int(raw) <= LARGE_MAX:
        size = int(raw)
    else:
        return text("invalid size", 400)
    return func.HttpResponse(large_pattern(size), mimetype="application/octet-stream")
