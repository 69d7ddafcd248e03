import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "created",
        status_code=201,
        mimetype="text/plain",
        charset="utf-8",
        headers={
            "X-Fnwire-Custom": "yes",
            "Cache-Control": "no-store",
            # The runtime turns Set-Cookie into RpcHttp.cookies.
            "Set-Cookie": "session=abc123; Path=/; HttpOnly",
        },
    )
