"""A thin gRPC shell around Microsoft's `azure-functions-runtime` library.

The library holds all of the official Python worker's logic but no transport.
This shell connects to the host with the standard worker command line, sends
StartStream, and hands each message to the library's entry points. It adds no
behaviour of its own beyond what a transport must do: it answers
WorkerStatusRequest (the library leaves that to its shell), forwards Python
logging as RpcLog, and exits when the host closes the stream.
Anything the library does not handle is logged as unknown, like the official shell.

The azure-python-v1 peer runs this same shell around `azure-functions-runtime-v1`: its own
`worker_shell.py` runs this file with `PEER_DIR`, `PEER_NAME`, `RUNTIME_MODULE` and
`APP_DIR_ON_PATH` set in its globals.
"""

import argparse
import asyncio
import dataclasses
import importlib
import logging
import os
import queue
import sys
import threading
from urllib.parse import urlparse

# Which peer this shell serves: set by a peer that runs this file (see above), else this folder's.
PEER_DIR = globals().get("PEER_DIR") or os.path.dirname(os.path.abspath(__file__))
PEER_NAME = globals().get("PEER_NAME") or "azure-python"
RUNTIME_MODULE = globals().get("RUNTIME_MODULE") or "azure_functions_runtime"
# The v2 runtime imports `function_app.py` by name; the v1 runtime imports functions through its
# own `__app__` package and needs nothing on the path.
APP_DIR_ON_PATH = globals().get("APP_DIR_ON_PATH", True)
sys.path.insert(0, os.path.join(PEER_DIR, "_generated"))
try:
    import grpc
    import FunctionRpc_pb2 as protos
    import FunctionRpc_pb2_grpc as protos_grpc
    runtime = importlib.import_module(RUNTIME_MODULE)
except ImportError as err:
    sys.stderr.write(f"fnwire {PEER_NAME} peer: cannot import {err.name!r} ({err}). "
                     f"Run {os.path.join(PEER_DIR, 'setup.sh')} first.\n")
    sys.exit(3)

# Loggers whose records are the worker's own (RpcLog category System).
SYSTEM_LOGGERS = (RUNTIME_MODULE, "azure.functions", "fnwire_shell", "grpc")
LEVELS = [(logging.CRITICAL, protos.RpcLog.Critical), (logging.ERROR, protos.RpcLog.Error),
          (logging.WARNING, protos.RpcLog.Warning), (logging.INFO, protos.RpcLog.Information),
          (logging.DEBUG, protos.RpcLog.Debug)]
# Library entry point and response field for each request it handles.
FORWARDED = {
    "worker_init_request": (runtime.worker_init_request, "worker_init_response"),
    "functions_metadata_request": (runtime.functions_metadata_request, "function_metadata_response"),
    "function_load_request": (runtime.function_load_request, "function_load_response"),
    "invocation_request": (runtime.invocation_request, "invocation_response"),
    "function_environment_reload_request": (runtime.function_environment_reload_request,
                                            "function_environment_reload_response"),
}
# Responses that echo the request's request_id (the host matches status replies by it).
ECHO_REQUEST_ID = {"worker_status_request", "functions_metadata_request"}

shell_log = logging.getLogger("fnwire_shell")


@dataclasses.dataclass
class WorkerRequest:
    """The request object the library's entry points expect."""
    name: str
    request: object
    properties: dict = dataclasses.field(default_factory=dict)


class RpcLogHandler(logging.Handler):
    """Turns Python log records into RpcLog messages on the outbound stream."""

    def __init__(self, send):
        super().__init__()
        self.send = send

    def emit(self, record):
        try:
            system = record.name.startswith(SYSTEM_LOGGERS)
            log = protos.RpcLog(
                level=next((lv for py, lv in LEVELS if record.levelno >= py), protos.RpcLog.Trace),
                message=record.getMessage(),
                category=record.name,
                log_category=protos.RpcLog.System if system else protos.RpcLog.User)
            invocation_id = runtime.invocation_id_cv.get()
            if invocation_id and not system:
                log.invocation_id = invocation_id
            if record.exc_info and record.exc_info[1] is not None:
                log.exception.message = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            self.send(protos.StreamingMessage(rpc_log=log))
        except Exception:  # a broken log record must never break the worker
            self.handleError(record)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=f"fnwire {PEER_NAME} conformance peer")
    for flag in ("--host", "--workerId", "--requestId", "--functions-uri",
                 "--functions-worker-id", "--functions-request-id"):
        parser.add_argument(flag)
    parser.add_argument("--port", type=int)
    args, _unknown = parser.parse_known_args(argv)  # unknown flags are ignored, as the protocol asks
    if args.functions_uri:
        uri = urlparse(args.functions_uri)
        host, port = uri.hostname, uri.port
    else:
        host, port = args.host, args.port
    worker_id = args.functions_worker_id or args.workerId
    request_id = args.functions_request_id or args.requestId or ""
    if not host or not port or not worker_id:
        parser.error("need --functions-uri and --functions-worker-id (or --host, --port and --workerId)")
    return host, port, worker_id, request_id


class Shell:
    def __init__(self, host, port, worker_id, request_id):
        self.host, self.port, self.worker_id, self.request_id = host, port, worker_id, request_id
        self.outbound = queue.Queue()
        self.loop = asyncio.new_event_loop()

    def send(self, message):
        if not message.request_id:
            message.request_id = self.request_id
        self.outbound.put(message)

    def outgoing(self):
        while (message := self.outbound.get()) is not None:
            yield message

    async def handle(self, message):
        kind = message.WhichOneof("content")
        request_id = message.request_id if kind in ECHO_REQUEST_ID else self.request_id
        if kind == "worker_status_request":
            self.send(protos.StreamingMessage(request_id=request_id,
                                              worker_status_response=protos.WorkerStatusResponse()))
            return
        if kind not in FORWARDED:
            shell_log.error("Unknown StreamingMessage content type: %s", kind)
            return
        entry_point, response_field = FORWARDED[kind]
        if kind == "invocation_request":
            runtime.invocation_id_cv.set(message.invocation_request.invocation_id)
        if APP_DIR_ON_PATH and kind in ("worker_init_request", "function_environment_reload_request"):
            app_dir = getattr(message, kind).function_app_directory
            if app_dir and app_dir not in sys.path:
                sys.path.insert(0, app_dir)
        request = WorkerRequest(kind, message, {"protos": protos, "host": self.host})
        try:
            response = await entry_point(request)
        except Exception:
            shell_log.exception("%s raised while handling %s", RUNTIME_MODULE, kind)
            return
        self.send(protos.StreamingMessage(request_id=request_id, **{response_field: response}))

    def read(self, responses):
        try:
            for message in responses:
                self.loop.call_soon_threadsafe(self.loop.create_task, self.handle(message))
        except grpc.RpcError as err:
            sys.stderr.write(f"fnwire {PEER_NAME} peer: stream to {self.host}:{self.port} ended: "
                             f"{err.code()} {err.details()}\n")
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)

    def run(self):
        target = f"{self.host}:{self.port}"
        channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)])
        try:
            grpc.channel_ready_future(channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            sys.stderr.write(f"fnwire {PEER_NAME} peer: no gRPC server at {target} after 10 s; "
                             "start the host first (the host passes --functions-uri).\n")
            return 2
        root = logging.getLogger()
        root.handlers[:] = [RpcLogHandler(self.send)]
        debug = os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING", "").lower() in ("1", "true")
        root.setLevel(logging.DEBUG if debug else logging.INFO)
        runtime.start_threadpool_executor()
        self.send(protos.StreamingMessage(start_stream=protos.StartStream(worker_id=self.worker_id)))
        responses = protos_grpc.FunctionRpcStub(channel).EventStream(self.outgoing())
        threading.Thread(target=self.read, args=(responses,), name="fnwire-shell-reader",
                         daemon=True).start()
        self.loop.run_forever()
        self.outbound.put(None)
        channel.close()
        return 0


def main():
    code = Shell(*parse_args(sys.argv[1:])).run()
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: sync functions still running in the library's thread pool must not hold the exit.
    os._exit(code)


if __name__ == "__main__":
    main()
