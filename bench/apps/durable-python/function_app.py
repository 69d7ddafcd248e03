"""The app behind `fnwire-bench durable-python`: a 5-activity chain written for Azure with the
official libraries (`azure-functions` and `azure-functions-durable`); nothing in it is written
for fnwire. The bench starts `chain5` over the host's durable HTTP API, so the app needs no
client function; `ready` tells the bench that the worker has loaded the app."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ready", methods=["GET"])
def ready(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ready")


@app.orchestration_trigger(context_name="context")
def chain5(context: df.DurableOrchestrationContext):
    value = context.get_input()
    for _ in range(5):
        value = yield context.call_activity("step", value)
    return value


@app.activity_trigger(input_name="text")
def step(text: str) -> str:
    return f"{text}."
