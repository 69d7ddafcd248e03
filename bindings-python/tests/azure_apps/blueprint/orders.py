import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="orders/{id:int}", methods=["GET", "PUT"])
def order(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_json() if req.method == "PUT" else None
    return func.HttpResponse(
        json.dumps({"id": int(req.route_params["id"]), "method": req.method, "body": body}),
        status_code=201 if req.method == "PUT" else 200,
        mimetype="application/json",
    )
