"""Writes golden.json: orchestration histories replayed by the official Python library.

Each case is an orchestrator (written here with `azure-functions-durable`, and again in Rust in
`sdk-rust/tests/it/durable_golden.rs` under the same case name) and the trigger input the host
sends. The recorded answer is what the library hands back to the host: the OrchestratorState JSON,
or the failure message with its `$OutOfProcData$` state. The Rust replay engine must give the
same answer for the same input.

Run with a virtualenv holding `azure-functions-durable==1.7.*` (see `generate.sh`).
"""

import datetime
import json
import pathlib
import sys

import azure.durable_functions as df
from azure.durable_functions.models.utils.entity_utils import EntityId

START = datetime.datetime(2026, 11, 30, 8, 0, 0, 123456)


def ts(seconds):
    return (START + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class History:
    """Builds a history the way the durable extension writes one, episode by episode."""

    def __init__(self, input_=None, version=""):
        self.events = []
        self.clock = 0
        self.next_event_id = -1
        self.episode()
        self.add(0, Name="orchestrator", Input=json.dumps(input_) if input_ is not None else None,
                 Version=version)

    def add(self, event_type, event_id=None, **fields):
        event = {"EventType": event_type, "EventId": -1 if event_id is None else event_id,
                 "IsPlayed": False, "Timestamp": ts(self.clock)}
        event.update({k: v for k, v in fields.items() if v is not None or k == "Input"})
        self.events.append(event)
        return event

    def episode(self):
        """Ends the running episode (if any) and starts the next one, a second later."""
        if self.events:
            self.add(13)
            for event in self.events:
                event["IsPlayed"] = True
        self.clock += 1
        self.add(12)

    def scheduled(self, task_id, name, input_=None):
        self.add(4, task_id, Name=name, Input=json.dumps(input_))

    def completed(self, task_id, result):
        self.add(5, TaskScheduledId=task_id, Result=json.dumps(result))

    def failed(self, task_id, reason, details):
        self.add(6, TaskScheduledId=task_id, Reason=reason, Details=details)

    def timer_created(self, task_id, fire_at):
        self.add(10, task_id, FireAt=fire_at)

    def timer_fired(self, task_id, fire_at):
        self.add(11, TimerId=task_id, FireAt=fire_at)

    def event_raised(self, name, value):
        self.add(15, Name=name, Input=json.dumps(value))

    def sub_created(self, task_id, name, instance_id):
        self.add(7, task_id, Name=name, InstanceId=instance_id)

    def sub_completed(self, task_id, result):
        self.add(8, TaskScheduledId=task_id, Result=json.dumps(result))

    def event_sent(self, task_id, instance_id, name, request_id):
        self.add(14, task_id, InstanceId=instance_id, Name=name,
                 Input=json.dumps({"id": request_id, "op": name}))

    def trigger(self, input_=None, schema=1, schema_new=None, instance="golden-1", timers=None):
        # The extension sends the input as JSON text; each case keeps its own copy of the history.
        body = {"history": json.loads(json.dumps(self.events)),
                "input": None if input_ is None else json.dumps(input_), "instanceId": instance,
                "isReplaying": any(e["IsPlayed"] for e in self.events),
                "parentInstanceId": None, "upperSchemaVersion": schema}
        if schema_new is not None:
            body["upperSchemaVersionNew"] = schema_new
        if timers is not None:
            body["maximumShortTimerDuration"], body["longRunningTimerIntervalDuration"] = timers
        return body


# Orchestrators: one per scenario; the Rust test writes each again under the same name.

def chain(context):
    x = yield context.call_activity("Hello", "Tokyo")
    y = yield context.call_activity("Hello", "Seattle")
    z = yield context.call_activity("Hello", "London")
    return [x, y, z]


def fan_out(context):
    count = context.get_input()
    tasks = [context.call_activity("Work", i) for i in range(count)]
    results = yield context.task_all(tasks)
    total = yield context.call_activity("Sum", results)
    return total


def approval(context):
    deadline = context.current_utc_datetime + datetime.timedelta(hours=1)
    timer = context.create_timer(deadline)
    decision = context.wait_for_external_event("Approval")
    winner = yield context.task_any([decision, timer])
    if winner == decision:
        timer.cancel()
        return {"approved": decision.result}
    return "timed out"


def retries(context):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    result = yield context.call_activity_with_retry("Flaky", options, "job")
    return result


def sub_orchestration(context):
    a = yield context.call_sub_orchestrator("Child", {"n": 1}, "child-1")
    b = yield context.call_sub_orchestrator("Child", {"n": 2})
    return [a, b]


def continue_as_new(context):
    n = context.get_input()
    yield context.call_activity("Tick", n)
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


def custom_status(context):
    context.set_custom_status({"stage": "started"})
    a = yield context.call_activity("Step", 1)
    context.set_custom_status({"stage": "halfway", "after": a})
    b = yield context.call_activity("Step", 2)
    return a + b


def failure(context):
    yield context.call_activity("Step", 1)
    raise ValueError("order 42 has no items")


def activity_failure(context):
    result = yield context.call_activity("Charge", {"amount": 10})
    return result


def entity(context):
    counter = EntityId("Counter", "mine")
    context.signal_entity(counter, "add", 5)
    value = yield context.call_entity(counter, "get")
    return value


def guids_and_time(context):
    first = context.new_uuid()
    second = context.new_uuid()
    now = context.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    yield context.call_activity("Record", [first, second, now])
    third = context.new_uuid()
    later = context.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [first, second, now, third, later]


def timer_then_activity(context):
    yield context.create_timer(context.current_utc_datetime + datetime.timedelta(minutes=5))
    return (yield context.call_activity("After", None))


def replaying(context):
    seen = [context.is_replaying]
    yield context.call_activity("A", 1)
    seen.append(context.is_replaying)
    yield context.call_activity("A", 2)
    seen.append(context.is_replaying)
    return seen


def early_event(context):
    first = yield context.call_activity("A", 1)
    value = yield context.wait_for_external_event("Go")
    return [first, value]


def sub_with_retry(context):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
    return (yield context.call_sub_orchestrator_with_retry("Child", options, [1, 2], "child-r"))


def long_timer(context):
    yield context.create_timer(context.current_utc_datetime + datetime.timedelta(days=2, hours=12))
    return "woke"


def cases():
    out = []

    def case(name, fn, body):
        out.append((name, fn, body))

    # Sequential chain: first episode, after one completion, all done.
    h = History()
    case("chain/start", chain, h.trigger())
    h.episode(); h.scheduled(0, "Hello", "Tokyo"); h.episode(); h.completed(0, "Hello Tokyo!")
    case("chain/one-done", chain, h.trigger())
    h.episode(); h.scheduled(1, "Hello", "Seattle"); h.episode(); h.completed(1, "Hello Seattle!")
    h.episode(); h.scheduled(2, "Hello", "London"); h.episode(); h.completed(2, "Hello London!")
    case("chain/done", chain, h.trigger())
    case("chain/done-v1-schema", chain, h.trigger(schema=0))

    # Fan-out / fan-in.
    h = History(3)
    case("fan-out/start", fan_out, h.trigger(3))
    h.episode()
    for i in range(3):
        h.scheduled(i, "Work", i)
    h.episode(); h.completed(1, 10); h.completed(0, 0)
    case("fan-out/partial", fan_out, h.trigger(3))
    h.episode(); h.completed(2, 20)
    case("fan-out/all-done", fan_out, h.trigger(3))
    h.episode(); h.scheduled(3, "Sum", [0, 10, 20]); h.episode(); h.completed(3, 30)
    case("fan-out/done", fan_out, h.trigger(3))

    # task_any over an external event and a timer.
    h = History()
    case("approval/start", approval, h.trigger())
    fire_at = (START + datetime.timedelta(seconds=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    h.episode(); h.timer_created(0, fire_at); h.episode(); h.event_raised("Approval", "yes")
    case("approval/approved", approval, h.trigger())
    h = History()
    h.episode(); h.timer_created(0, fire_at); h.episode(); h.timer_fired(0, fire_at)
    case("approval/timed-out", approval, h.trigger())

    # Retries: first attempt fails, the retry timer fires, the second attempt succeeds / fails.
    h = History()
    case("retries/start", retries, h.trigger())
    h.episode(); h.scheduled(0, "Flaky", "job"); h.episode(); h.failed(0, "boom", "trace")
    h.episode(); h.timer_created(1, ts(h.clock + 1)); h.episode(); h.timer_fired(1, ts(h.clock))
    case("retries/after-first-failure", retries, h.trigger())
    ok = json.loads(json.dumps(h.events))
    h.episode(); h.scheduled(2, "Flaky", "job"); h.episode(); h.completed(2, "done")
    case("retries/second-attempt-ok", retries, h.trigger())
    h.events = ok
    h.episode(); h.scheduled(2, "Flaky", "job"); h.episode(); h.failed(2, "boom again", "trace 2")
    h.episode(); h.timer_created(3, ts(h.clock + 1)); h.episode(); h.timer_fired(3, ts(h.clock))
    case("retries/exhausted", retries, h.trigger())

    # Sub-orchestrations.
    h = History()
    case("sub-orchestration/start", sub_orchestration, h.trigger())
    h.episode(); h.sub_created(0, "Child", "child-1"); h.episode(); h.sub_completed(0, {"n": 1})
    h.episode(); h.sub_created(1, "Child", "golden-1:1"); h.episode(); h.sub_completed(1, {"n": 2})
    case("sub-orchestration/done", sub_orchestration, h.trigger())

    h = History()
    h.episode(); h.sub_created(0, "Child", "child-1"); h.episode()
    h.add(9, TaskScheduledId=0, Reason="child failed", Details="ValueError: bad")
    case("sub-orchestration/failed", sub_orchestration, h.trigger())
    h = History()
    case("sub-retry/start", sub_with_retry, h.trigger())

    # Continue-as-new.
    h = History(1)
    h.episode(); h.scheduled(0, "Tick", 1); h.episode(); h.completed(0, None)
    case("continue-as-new/again", continue_as_new, h.trigger(1))
    h = History(3)
    h.episode(); h.scheduled(0, "Tick", 3); h.episode(); h.completed(0, None)
    case("continue-as-new/last", continue_as_new, h.trigger(3))

    # Custom status.
    h = History()
    case("custom-status/start", custom_status, h.trigger())
    h.episode(); h.scheduled(0, "Step", 1); h.episode(); h.completed(0, 1)
    case("custom-status/halfway", custom_status, h.trigger())

    # Failures: the orchestrator raises; an activity fails and is not caught.
    h = History()
    h.episode(); h.scheduled(0, "Step", 1); h.episode(); h.completed(0, 1)
    case("failure/raises", failure, h.trigger())
    h = History()
    h.episode(); h.scheduled(0, "Charge", {"amount": 10}); h.episode()
    h.failed(0, "card declined", "Traceback: ...")
    case("failure/activity-failed", activity_failure, h.trigger())

    # Entities: a signal then a call.
    h = History()
    case("entity/start", entity, h.trigger())
    h.episode()
    h.event_sent(0, "@counter@mine", "add", "11111111-1111-4111-8111-111111111111")
    h.event_sent(1, "@counter@mine", "get", "22222222-2222-4222-8222-222222222222")
    h.episode()
    h.event_raised("22222222-2222-4222-8222-222222222222",
                   {"result": json.dumps(5)})
    case("entity/called", entity, h.trigger())
    h = History()
    h.episode()
    h.event_sent(0, "@counter@mine", "add", "11111111-1111-4111-8111-111111111111")
    h.event_sent(1, "@counter@mine", "get", "22222222-2222-4222-8222-222222222222")
    h.episode()
    h.event_raised("22222222-2222-4222-8222-222222222222",
                   {"result": json.dumps("no such counter"), "exceptionType": "System.Exception"})
    case("entity/call-failed", entity, h.trigger())

    # Deterministic GUIDs and the orchestration's clock across episodes.
    h = History()
    case("guids/start", guids_and_time, h.trigger(instance="guid-instance"))
    h.episode(); h.scheduled(0, "Record", None); h.episode(); h.completed(0, None)
    case("guids/done", guids_and_time, h.trigger(instance="guid-instance"))

    # Timers, with the V3 schema.
    h = History()
    case("timer/start-v3", timer_then_activity, h.trigger(schema=1, schema_new=2))
    fire_at = (START + datetime.timedelta(seconds=1, minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    h.episode(); h.timer_created(0, fire_at); h.episode(); h.timer_fired(0, fire_at)
    case("timer/fired", timer_then_activity, h.trigger())
    # Schema V3 with timer limits: a timer longer than the short-timer maximum is split into
    # intervals, each scheduled when the previous one fires.
    limits = ("1.00:00:00", "1.00:00:00")
    h = History()
    case("long-timer/start", long_timer, h.trigger(schema=1, schema_new=2, timers=limits))
    final = 1 + 60 * 60 * 60
    fires = [1 + 86400, 1 + 86400 + 1 + 86400, final]
    for task_id, fire in enumerate(fires):
        h.episode(); h.timer_created(task_id, ts(fire))
        h.clock = fire - 1
        h.episode(); h.timer_fired(task_id, ts(fire))
        case(f"long-timer/fired-{task_id}", long_timer, h.trigger(schema=1, schema_new=2, timers=limits))
    case("long-timer/without-limits", long_timer, History().trigger(schema=1, schema_new=2))

    # is_replaying as the orchestrator sees it at each step, over three episodes.
    h = History()
    h.episode(); h.scheduled(0, "A", 1); h.episode(); h.completed(0, "one")
    h.episode(); h.scheduled(1, "A", 2); h.episode(); h.completed(1, "two")
    case("replaying/done", replaying, h.trigger())

    # An event raised before the orchestrator waits for it is kept until it does.
    h = History()
    h.episode(); h.scheduled(0, "A", 1); h.event_raised("Go", "early"); h.episode(); h.completed(0, "one")
    case("early-event/done", early_event, h.trigger())

    # Schema V1 (no upperSchemaVersion): fan-out and task_any as lists of actions.
    h = History(2)
    case("fan-out/start-v1", fan_out, h.trigger(2, schema=0))
    h.episode(); h.scheduled(0, "Work", 0); h.scheduled(1, "Work", 1)
    h.episode(); h.completed(0, 0); h.completed(1, 10)
    case("fan-out/all-done-v1", fan_out, h.trigger(2, schema=0))
    h = History()
    case("approval/start-v1", approval, h.trigger(schema=0))
    return out


def counter(context):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    elif operation == "fail":
        raise ValueError("counter cannot " + str(context.get_input()))
    context.set_state(value)
    context.set_result(value)


def entity_cases():
    """Entity batches as the extension sends them (operation inputs are JSON text of JSON text,
    the state is JSON text), answered by the library's `Entity`."""
    def op(name, value=None, signal=True):
        return {"name": name, "input": None if value is None else json.dumps(json.dumps(value)),
                "isSignal": signal}

    batches = [
        ("counter/existing", {"self": {"name": "counter", "key": "k"}, "exists": True, "state": "40",
                              "batch": [op("add", 2), op("get", signal=False)]}),
        ("counter/new", {"self": {"name": "counter", "key": "n"}, "exists": False, "state": None,
                         "batch": [op("add", 5), op("add", 6)]}),
        ("counter/failing-operation", {"self": {"name": "counter", "key": "f"}, "exists": True, "state": "7",
                                       "batch": [op("fail", "fly"), op("add", 1), op("reset")]}),
    ]
    out = []
    for name, body in batches:
        answer = json.loads(df.Entity.create(counter)(json.dumps(body)))
        for result in answer["results"]:
            # Clock readings: kept as zero so the fixture does not change from run to run.
            result["duration"] = result["startTime"] = 0
        out.append({"case": name, "input": body, "output": answer})
    return out


def main():
    results = []
    for name, fn, body in cases():
        handle = df.Orchestrator.create(fn)
        record = {"case": name, "input": body}
        try:
            record["state"] = json.loads(handle(json.dumps(body)))
        except Exception as error:  # the library fails the invocation with this message
            message = str(error)
            text, _, state = message.partition("\n\n$OutOfProcData$:")
            record["error"] = text
            record["state"] = json.loads(state)
        results.append(record)
    target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "golden.json")
    document = {"generatedBy": "azure-functions-durable " + version(), "cases": results,
                "entities": entity_cases()}
    target.write_text(json.dumps(document, indent=1) + "\n")


def version():
    from importlib.metadata import version as dist_version
    return dist_version("azure-functions-durable")


if __name__ == "__main__":
    main()
