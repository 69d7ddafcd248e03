import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        b"",
        status_code=200,
        headers={"X-Request-Body-Length": str(len(req.get_body()))},
    )
