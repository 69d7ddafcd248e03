"""Durable features beyond the six patterns, with the official library: sub-orchestrations,
retries, continue-as-new, suspend/resume, and an orchestrator whose answer is not a state."""

import json
import os

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
attempts = {}


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None, json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    n = context.get_input()
    doubled = yield context.call_sub_orchestrator("child", n, f"{context.instance_id}-child")
    return {"doubled": doubled}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    n = context.get_input()
    return (yield context.call_activity("double", n))


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return 2 * n


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=job["attempts"])
    return (yield context.call_activity_with_retry("flaky", options, job))


@app.activity_trigger(input_name="job")
def flaky(job: dict) -> str:
    count = attempts[job["key"]] = attempts.get(job["key"], 0) + 1
    if count <= job["failures"]:
        raise RuntimeError(f"attempt {count} of {job['key']} fails")
    return f"{job['key']} succeeded on attempt {count}"


@app.orchestration_trigger(context_name="context")
def counting(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n >= 3:
        return n
    yield context.call_activity("double", n)
    context.continue_as_new(n + 1)


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    return (yield context.wait_for_external_event("go"))


# Not written with the library: answers with something that is not an OrchestratorState.
@app.function_name("garbage")
@app.generic_trigger(arg_name="context", type="orchestrationTrigger")
def garbage(context) -> str:
    return "this is not an orchestrator state"


# Kills its worker process the first time it replays (a marker file remembers): the host must
# run the step again on the restarted worker.
@app.orchestration_trigger(context_name="context")
def crashy(context: df.DurableOrchestrationContext):
    marker = context.get_input()
    first = yield context.call_activity("double", 1)
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("crashed once")
        os._exit(3)
    second = yield context.call_activity("double", first)
    return second


# Fails until a file exists: rewinding the failed instance runs it again.
@app.orchestration_trigger(context_name="context")
def fragile_flow(context: df.DurableOrchestrationContext):
    marker = context.get_input()
    first = yield context.call_activity("double", 2)
    second = yield context.call_activity("fragile", marker)
    return first + second


@app.activity_trigger(input_name="marker")
def fragile(marker: str) -> int:
    if not os.path.exists(marker):
        raise RuntimeError("the file is not there yet")
    return 100
