"""The six Durable Functions patterns, written for Azure with the official libraries
(`azure-functions` and `azure-functions-durable`); nothing in it is written for fnwire.

Start any orchestrator over HTTP, then poll the `statusQueryGetUri` it answers with
(README.md shows the whole round trip):

    curl -s -X POST localhost:7071/api/orchestrators/chain -d '"Tokyo"'
    curl -s -X POST localhost:7071/api/orchestrators/fan_out_fan_in -d '5'
    curl -s -X POST localhost:7071/api/orchestrators/monitor -d '{"doneAfter": 3}'
    curl -s -X POST localhost:7071/api/orchestrators/approval -d '{"timeoutSeconds": 30}'
    curl -s -X POST localhost:7071/api/orchestrators/count_with_entity -d '"c1"'
"""

import datetime
import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


# Async HTTP API: start any orchestrator, answer 202 with the management URLs.
@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], None, payload)
    return client.create_check_status_response(req, instance_id)


# Status through the client binding (the library calls the host's API at rpcBaseUrl).
@app.route(route="status/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client) -> func.HttpResponse:
    state = await client.get_status(req.route_params["instance_id"])
    return func.HttpResponse(json.dumps(state.to_json(), default=str), mimetype="application/json")


# Human interaction: raise the event the `approval` orchestrator waits for.
@app.route(route="approve/{instance_id}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def approve(req: func.HttpRequest, client) -> func.HttpResponse:
    await client.raise_event(req.route_params["instance_id"], "Approval", req.get_body().decode() or "yes")
    return func.HttpResponse(status_code=202)


# Aggregator: signal the counter entity from outside any orchestration.
@app.route(route="counter/{key}/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def signal_counter(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body()
    entity = df.EntityId("counter", req.route_params["key"])
    await client.signal_entity(entity, req.route_params["op"], json.loads(body) if body else None)
    return func.HttpResponse(status_code=202)


@app.route(route="counter/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def read_counter(req: func.HttpRequest, client) -> func.HttpResponse:
    state = await client.read_entity_state(df.EntityId("counter", req.route_params["key"]))
    if not state.entity_exists:
        return func.HttpResponse("no such counter", status_code=404)
    return func.HttpResponse(json.dumps(state.entity_state), mimetype="application/json")


# 1. Function chaining.
@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    city = context.get_input()
    first = yield context.call_activity("say_hello", city)
    second = yield context.call_activity("say_hello", first)
    third = yield context.call_activity("say_hello", second)
    return [first, second, third]


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}"


# 2. Fan-out / fan-in.
@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("square", n) for n in range(count)])
    return sum(results)


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


# 4. Monitor: check, sleep on a durable timer, check again.
@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext):
    done_after = context.get_input()["doneAfter"]
    checks = 0
    while True:
        checks += 1
        state = yield context.call_activity("check_job", {"check": checks, "doneAfter": done_after})
        context.set_custom_status({"checks": checks, "state": state})
        if state == "done":
            return {"checks": checks}
        yield context.create_timer(context.current_utc_datetime + datetime.timedelta(seconds=1))


@app.activity_trigger(input_name="job")
def check_job(job: dict) -> str:
    return "done" if job["check"] >= job["doneAfter"] else "running"


# 5. Human interaction: an event, or a timeout.
@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    timeout = context.get_input()["timeoutSeconds"]
    deadline = context.current_utc_datetime + datetime.timedelta(seconds=timeout)
    event = context.wait_for_external_event("Approval")
    timer = context.create_timer(deadline)
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return f"approved: {event.result}"
    return "timed out"


# 6. Aggregator: a counter entity, called from an orchestration.
@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    context.set_state(value)
    context.set_result(value)


@app.orchestration_trigger(context_name="context")
def count_with_entity(context: df.DurableOrchestrationContext):
    entity = df.EntityId("counter", context.get_input())
    context.signal_entity(entity, "add", 10)
    total = yield context.call_entity(entity, "add", 5)
    return total
