"""A durable orchestration, written with the official libraries (`azure-functions` and
`azure-functions-durable`). `fnwire start --watch`, then
`curl -X POST -d '"Tokyo"' localhost:7071/api/orchestrators/hello_cities` and open the
`statusQueryGetUri` it answers with."""

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    """Starts orchestrator `name` with the request body (JSON) as input; answers 202 with the URLs that follow it."""
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None, json.loads(body) if body else "Seattle")
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def hello_cities(context: df.DurableOrchestrationContext):
    """Says hello three times, one activity after the other."""
    city = context.get_input()
    greetings = []
    for place in [city, "London", "Lima"]:
        greetings.append((yield context.call_activity("say_hello", place)))
    return greetings


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}!"
