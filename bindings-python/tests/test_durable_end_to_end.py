"""End to end: the official Durable Functions library (`azure-functions-durable`, unchanged) on
fnwire's worker under `fnwire start`, with examples/durable-python (the six patterns), driven over
HTTP exactly as a user does: start, poll `statusQueryGetUri`, read the output. Also the durable
API's refusals, and a host killed with SIGKILL in the middle of a fan-out."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from test_azure_end_to_end import FNWIRE, ROOT, eventually, free_port, request

pytest.importorskip("azure.durable_functions")

APP = ROOT / "examples" / "durable-python"
MORE = pathlib.Path(__file__).resolve().parent / "azure_apps" / "durable_more"


class DurableHost:
    """`fnwire start` on a copy of the app; `restart()` starts it again on the same folder."""

    def __init__(self, tmp: pathlib.Path, app: pathlib.Path = APP, starter: str = "/api/orchestrators") -> None:
        self.dir = tmp / app.name
        self.starter = starter
        shutil.copytree(app, self.dir, ignore=shutil.ignore_patterns(".fnwire", "__pycache__"))
        self.start()

    def start(self) -> None:
        port = free_port()
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("FNWIRE_PYTHON", None)
        self.log = open(self.dir / f"host-{port}.log", "wb")
        self.proc = subprocess.Popen(
            [str(FNWIRE), "start", str(self.dir), "--port", str(port)], stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"fnwire start exited early: {self.output()}")
            try:
                if request(f"{self.base}/api/fnwire-ready-probe")[0] != 503:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"fnwire start did not serve in time: {self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        self.log.flush()
        return pathlib.Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)
        return self.output()

    def post(self, path, body):
        status, data, headers = request(self.base + path, data=json.dumps(body).encode(), method="POST")
        return status, json.loads(data) if data else None, headers

    def start_orchestration(self, name, body):
        status, payload, headers = self.post(f"{self.starter}/{name}", body)
        assert status == 202, payload
        assert headers["location"] == payload["statusQueryGetUri"] and headers["retry-after"] == "10"
        return payload

    def status(self, payload, query=""):
        """GETs the statusQueryGetUri the start answered with (on this host's current port)."""
        url = payload["statusQueryGetUri"]
        url = self.base + url[url.index("/runtime/"):] + query
        status, body, _ = request(url)
        return status, json.loads(body)

    def api(self, payload, path, query=""):
        """A URL of the durable API for the instance, with the key its payload carries."""
        key = payload["statusQueryGetUri"].split("code=")[1]
        return f"{self.base}/runtime/webhooks/durabletask/{path}?code={key}{query}"

    def wait_done(self, payload, query=""):
        def done():
            status, body = self.status(payload, query)
            return body if status == 200 else None

        return eventually(done, f"instance {payload['id']} to finish")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = DurableHost(tmp_path_factory.mktemp("durable"))
    yield h
    if h.proc.poll() is None:
        h.proc.kill()
        h.proc.wait()


def test_chaining_runs_three_activities_in_order(host):
    done = host.wait_done(host.start_orchestration("chain", "Tokyo"))
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == ["Hello Tokyo", "Hello Hello Tokyo", "Hello Hello Hello Tokyo"]


def test_fan_out_fan_in_sums_every_activity(host):
    done = host.wait_done(host.start_orchestration("fan_out_fan_in", 30), "&showHistory=true")
    assert done["output"] == sum(n * n for n in range(30))
    completed = [e for e in done["historyEvents"] if e["EventType"] == "TaskCompleted"]
    assert len(completed) == 30 and all(e["FunctionName"] == "square" for e in completed)


def test_async_http_api_answers_202_while_running_then_200_with_the_output(host):
    payload = host.start_orchestration("monitor", {"doneAfter": 3})
    status, running = host.status(payload)
    assert status == 202 and running["runtimeStatus"] in ("Pending", "Running")
    done = host.wait_done(payload)
    assert done["output"] == {"checks": 3}
    assert done["customStatus"] == {"checks": 3, "state": "done"}  # the monitor's timers fired twice


def test_human_interaction_with_the_event_and_with_the_timeout(host):
    payload = host.start_orchestration("approval", {"timeoutSeconds": 60})
    # Through the client binding (the library calls the API at rpcBaseUrl) …
    eventually(lambda: host.status(payload)[1]["runtimeStatus"] == "Running" or None, "the approval to run")
    status, _, _ = request(f"{host.base}/api/approve/{payload['id']}", data=b"by Ada", method="POST")
    assert status == 202
    # The library's client encodes event data twice, so a string arrives quoted, as it does on
    # Azure (azure-functions-durable-python issue 295).
    assert host.wait_done(payload)["output"] == 'approved: "by Ada"'
    # … and with the sendEventPostUri a user gets from the start.
    payload = host.start_orchestration("approval", {"timeoutSeconds": 60})
    send = payload["sendEventPostUri"].replace("{eventName}", "Approval")
    send = host.base + send[send.index("/runtime/"):]
    assert request(send, data=b'"by Bo"', method="POST", headers={"content-type": "application/json"})[0] == 202
    assert host.wait_done(payload)["output"] == "approved: by Bo"
    timed_out = host.wait_done(host.start_orchestration("approval", {"timeoutSeconds": 1}))
    assert timed_out["output"] == "timed out"


def test_the_client_binding_reads_status_through_the_api(host):
    payload = host.start_orchestration("chain", "Osaka")
    host.wait_done(payload)
    status, body, _ = request(f"{host.base}/api/status/{payload['id']}")
    state = json.loads(body)
    assert status == 200 and state["runtimeStatus"] == "Completed" and state["name"] == "chain"
    assert state["output"][0] == "Hello Osaka"


def test_aggregator_entity_takes_signals_and_calls(host):
    assert host.post("/api/counter/e2e/add", 3)[0] == 202
    assert host.post("/api/counter/e2e/add", 4)[0] == 202

    def counter():
        status, body, _ = request(f"{host.base}/api/counter/e2e")
        return json.loads(body) if status == 200 and json.loads(body) == 7 else None

    assert eventually(counter, "the counter to reach 7") == 7
    # An orchestration signals (+10) then calls (+5): the call sees both, in order.
    done = host.wait_done(host.start_orchestration("count_with_entity", "e2e"))
    assert done["output"] == 22


def test_terminate_stops_a_waiting_instance(host):
    payload = host.start_orchestration("approval", {"timeoutSeconds": 300})
    eventually(lambda: host.status(payload)[1]["runtimeStatus"] == "Running" or None, "the approval to run")
    url = payload["terminatePostUri"].replace("{text}", "no%20longer%20needed")
    assert request(host.base + url[url.index("/runtime/"):], data=b"", method="POST")[0] == 202
    done = host.wait_done(payload)
    assert done["runtimeStatus"] == "Terminated" and done["output"] == "no longer needed"
    # A finished instance takes no more events.
    send = payload["sendEventPostUri"].replace("{eventName}", "Approval")
    assert request(host.base + send[send.index("/runtime/"):], data=b'"x"', method="POST")[0] == 410


def test_bad_requests_are_refused_with_what_to_do(host):
    payload = host.start_orchestration("chain", "Kyoto")
    key = payload["statusQueryGetUri"].split("code=")[1]
    api = f"{host.base}/runtime/webhooks/durabletask"
    status, body, _ = request(f"{api}/orchestrators/no_such_thing?code={key}", data=b"1", method="POST")
    assert status == 404 and "'no_such_thing'" in json.loads(body)["Message"]
    status, body, _ = request(f"{api}/orchestrators/chain?code={key}", data=b"{oops", method="POST")
    assert status == 400 and "not valid JSON" in json.loads(body)["Message"]
    assert request(f"{api}/orchestrators/chain", data=b"1", method="POST")[0] == 401
    assert request(f"{api}/instances/nobody?code={key}")[0] == 404


def test_a_host_killed_mid_fan_out_finishes_after_restart_with_each_result_once(tmp_path):
    host = DurableHost(tmp_path)
    try:
        payload = host.start_orchestration("fan_out_fan_in", 200)

        def some_progress():
            _, body = host.status(payload, "&showHistory=true")
            events = body.get("historyEvents") or []
            return body if any(e["EventType"] == "TaskCompleted" for e in events) else None

        at_kill = eventually(some_progress, "the first activities to finish")
        host.kill()
        # The kill must land mid fan-out, or this test would prove nothing.
        assert at_kill["runtimeStatus"] == "Running", at_kill["runtimeStatus"]
        host.start()
        done = host.wait_done(payload, "&showHistory=true")
        assert done["runtimeStatus"] == "Completed"
        assert done["output"] == sum(n * n for n in range(200))
        completed = [e for e in done["historyEvents"] if e["EventType"] == "TaskCompleted"]
        assert len(completed) == 200
    finally:
        host.stop()


def test_a_timer_pending_when_the_host_stops_fires_after_restart(tmp_path):
    host = DurableHost(tmp_path)
    try:
        payload = host.start_orchestration("approval", {"timeoutSeconds": 2})
        eventually(lambda: host.status(payload)[1]["runtimeStatus"] == "Running" or None, "the approval to run")
        host.kill()
        time.sleep(2.5)  # the timer is due while no host runs
        host.start()
        assert host.wait_done(payload)["output"] == "timed out"
    finally:
        host.stop()


@pytest.fixture(scope="module")
def more(tmp_path_factory):
    h = DurableHost(tmp_path_factory.mktemp("durable-more"), MORE, "/api/start")
    yield h
    if h.proc.poll() is None:
        h.proc.kill()
        h.proc.wait()


def test_a_sub_orchestration_reports_its_output_to_its_parent(more):
    payload = more.start_orchestration("parent", 21)
    done = more.wait_done(payload)
    assert done["runtimeStatus"] == "Completed" and done["output"] == {"doubled": 42}
    status, body, _ = request(more.api(payload, f"instances/{payload['id']}-child"))
    child = json.loads(body)
    assert status == 200 and child["name"] == "child" and child["output"] == 42


def test_a_retried_activity_succeeds_after_failures_with_timers_between(more):
    job = {"key": "r1", "failures": 2, "attempts": 3}
    done = more.wait_done(more.start_orchestration("retrying", job), "&showHistory=true")
    assert done["output"] == "r1 succeeded on attempt 3"
    kinds = [e["EventType"] for e in done["historyEvents"]]
    assert kinds.count("TaskFailed") == 2 and kinds.count("TimerFired") == 2 and kinds.count("TaskCompleted") == 1


def test_retries_that_run_out_fail_the_orchestration_with_the_activity_error(more):
    done = more.wait_done(more.start_orchestration("retrying", {"key": "r2", "failures": 9, "attempts": 2}))
    assert done["runtimeStatus"] == "Failed"
    assert "attempt 2 of r2 fails" in done["output"]


def test_continue_as_new_starts_over_with_the_new_input(more):
    done = more.wait_done(more.start_orchestration("counting", 0), "&showHistory=true")
    assert done["runtimeStatus"] == "Completed" and done["output"] == 3
    # Only the last execution's history remains.
    assert [e["EventType"] for e in done["historyEvents"]] == ["ExecutionStarted", "ExecutionCompleted"]


def test_a_suspended_instance_keeps_its_events_until_resumed(more):
    payload = more.start_orchestration("waiter", None)
    eventually(lambda: more.status(payload)[1]["runtimeStatus"] == "Running" or None, "the waiter to run")
    assert request(more.api(payload, f"instances/{payload['id']}/suspend", "&reason=hold"), data=b"", method="POST")[0] == 202
    eventually(lambda: more.status(payload)[1]["runtimeStatus"] == "Suspended" or None, "the suspension")
    raise_url = more.api(payload, f"instances/{payload['id']}/raiseEvent/go")
    assert request(raise_url, data=b'"went"', method="POST")[0] == 202
    assert more.status(payload)[1]["runtimeStatus"] == "Suspended"
    assert request(more.api(payload, f"instances/{payload['id']}/resume"), data=b"", method="POST")[0] == 202
    assert more.wait_done(payload)["output"] == "went"


def test_an_answer_that_is_not_a_state_fails_the_instance_and_the_host_goes_on(more):
    done = more.wait_done(more.start_orchestration("garbage", None))
    assert done["runtimeStatus"] == "Failed"
    assert "is not an OrchestratorState" in done["output"]
    assert more.wait_done(more.start_orchestration("parent", 1))["output"] == {"doubled": 2}


def test_list_pages_filters_restart_and_purge(more):
    first = more.start_orchestration("parent", 5)
    more.wait_done(first)
    url = more.api(first, "instances", "&runtimeStatus=Completed&top=2")
    status, body, headers = request(url)
    page = json.loads(body)
    assert status == 200 and len(page) == 2 and all(i["runtimeStatus"] == "Completed" for i in page)
    token = headers["x-ms-continuation-token"]
    _, body, _ = request(url, headers={"x-ms-continuation-token": token})
    assert {i["instanceId"] for i in json.loads(body)}.isdisjoint({i["instanceId"] for i in page})
    status, body, _ = request(more.api(first, f"instances/{first['id']}/restart"), data=b"", method="POST")
    restarted = json.loads(body)
    assert status == 202 and restarted["id"] != first["id"]
    assert more.wait_done(restarted)["output"] == {"doubled": 10}
    status, body, _ = request(more.api(first, f"instances/{first['id']}"), method="DELETE")
    assert (status, json.loads(body)) == (200, {"instancesDeleted": 1})
    assert request(more.api(first, f"instances/{first['id']}"))[0] == 404
    status, body, _ = request(more.api(first, "instances", "&runtimeStatus=Failed"), method="DELETE")
    assert status == 200 and json.loads(body)["instancesDeleted"] >= 1


def test_a_worker_killed_mid_replay_is_restarted_and_the_orchestration_goes_on(more, tmp_path):
    marker = tmp_path / "crashed"
    done = more.wait_done(more.start_orchestration("crashy", str(marker)))
    assert marker.read_text() == "crashed once"
    assert done["runtimeStatus"] == "Completed" and done["output"] == 4


def test_rewind_runs_the_failed_activity_again_and_the_instance_completes(more, tmp_path):
    marker = tmp_path / "ready"
    payload = more.start_orchestration("fragile_flow", str(marker))
    failed = more.wait_done(payload)
    assert failed["runtimeStatus"] == "Failed" and "the file is not there yet" in failed["output"]
    marker.write_text("now it is")
    url = payload["rewindPostUri"].replace("{text}", "fixed")
    assert request(more.base + url[url.index("/runtime/"):], data=b"", method="POST")[0] == 202
    done = more.wait_done(payload)
    assert done["runtimeStatus"] == "Completed" and done["output"] == 104
    # Only a failed instance can be rewound.
    assert request(more.base + url[url.index("/runtime/"):], data=b"", method="POST")[0] == 410
