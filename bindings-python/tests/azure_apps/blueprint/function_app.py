"""A v2 app whose functions live in a blueprint, with async and sync functions, logging, the
invocation context and plain str/bytes/dict parameters."""

import asyncio
import json
import logging

import azure.functions as func

from orders import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.function_name("whoami")
@app.route(route="whoami")
async def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    logging.info("whoami called")
    return func.HttpResponse(
        json.dumps({
            "invocationId": context.invocation_id,
            "functionName": context.function_name,
            "traceParent": context.trace_context.trace_parent,
            "retry": context.retry_context is not None,
        }),
        mimetype="application/json",
    )


@app.route(route="plain", methods=["POST"])
def plain(req: func.HttpRequest) -> str:
    return "plain:" + req.get_body().decode("utf-8")


@app.route(route="cookie")
def cookie(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "with cookie",
        status_code=200,
        headers={"Set-Cookie": "flavour=oat; Path=/; HttpOnly", "X-Custom": "yes"},
    )


@app.route(route="secured", auth_level=func.AuthLevel.FUNCTION)
def secured(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret")
