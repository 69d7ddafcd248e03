import azure.functions as func

from ..shared import texts


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(texts.greeting(req.route_params["name"]))
