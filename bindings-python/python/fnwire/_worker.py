"""The runner the Rust core calls for each invocation, the asyncio loop, and log capture.

The core calls `run_sync` (on one of its blocking threads, GIL taken there) for `def` functions;
`async def` calls wait in a Rust queue that the event loop drains (`_take_calls`) when the core
wakes it. Inputs and context arrive as typed `_native` objects
(`HttpRequestData`, `TimerData`, `QueueMessageData`, `ContextData`, ...) and the outcome goes
back as `_native.Success` or `_native.Failure` (BRIDGE.md). Log records made inside an
invocation are buffered per invocation and handed to the core in batches through the
invocation's `LogSink`, always before the outcome.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import logging
import sys
import threading
import traceback
import typing
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _native
from ._app import FunctionInfo
from ._types import (
    Blob,
    Context,
    HttpRequest,
    HttpResponse,
    Out,
    QueueMessage,
    RetryContext,
    ScheduleStatus,
    ServiceBusMessage,
    TimerInfo,
    TraceContext,
)

if TYPE_CHECKING:
    # Imported by the loop's own thread when the first `async def` call comes (see start_loop).
    import asyncio

RETURN = "$return"
Outcome = Union[_native.Success, _native.Failure]

# Records are handed over when this many are buffered, and always when the function returns.
LOG_BATCH = 256


class _InvocationLogs:
    __slots__ = ("sink", "records")

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.records: List[Tuple[int, str]] = []

    def flush(self) -> None:
        if self.records:
            records, self.records = self.records, []
            self.sink.emit(records)


_current: contextvars.ContextVar[Optional[_InvocationLogs]] = contextvars.ContextVar("fnwire_invocation", default=None)


class HostLogHandler(logging.Handler):
    """Sends records logged inside an invocation to the host (as RpcLog with its invocation id);
    records outside invocations go to stderr, which the host shows in its log."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
        self._stderr = logging.StreamHandler(sys.stderr)
        self._stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        state = _current.get()
        if state is None:
            self._stderr.emit(record)
            return
        try:
            state.records.append((record.levelno, self.format(record)))
            if len(state.records) >= LOG_BATCH:
                state.flush()
        except Exception:
            self.handleError(record)

    # The handler is called with its lock held; batching needs no more than the GIL.
    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if self.filter(record):
            self.emit(record)
        return True


def install_logging() -> None:
    """Routes `logging` to the host: root at INFO (DEBUG with PYTHON_ENABLE_DEBUG_LOGGING=1)."""
    import os

    root = logging.getLogger()
    if not any(isinstance(h, HostLogHandler) for h in root.handlers):
        root.addHandler(HostLogHandler())
    debug = os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING", "").lower() in ("1", "true")
    root.setLevel(logging.DEBUG if debug else logging.INFO)


# -- values crossing per invocation ----------------------------------------------------------


def _context(data: _native.ContextData) -> Context:
    retry = data.retry
    retry_context = (
        RetryContext(retry.retry_count, retry.max_retry_count, retry.exception_message) if retry is not None else None
    )
    trace = TraceContext(data.trace_parent, data.trace_state, data.attributes)
    return Context(data.invocation_id, data.function_name, data.function_id, trace, retry_context)


def _wrap_input(kind: str, value: Any, annotation: Any) -> Any:
    if kind == "http":
        return HttpRequest._of_core(value)
    if kind == "timer":
        status = value.schedule_status
        return TimerInfo(
            value.is_past_due,
            _native.parse_json(value.schedule.encode("utf-8"), "the timer schedule"),
            ScheduleStatus(status.last, status.next, status.last_updated) if status is not None else None,
        )
    if kind == "queue":
        return QueueMessage(
            value.body,
            id=value.id,
            dequeue_count=value.dequeue_count,
            insertion_time=value.insertion_time,
            expiration_time=value.expiration_time,
            time_next_visible=value.next_visible_time,
            pop_receipt=value.pop_receipt,
        )
    if kind == "blob":
        return Blob(
            value.path,
            value.content,
            uri=value.uri,
            etag=value.etag,
            content_type=value.content_type,
            last_modified=value.last_modified,
            metadata=value.metadata,
            parameters=value.parameters,
        )
    if kind == "service_bus":
        return ServiceBusMessage(
            value.body,
            application_properties=_native.parse_json(
                value.application_properties.encode("utf-8"), "the application properties"
            ),
            message_id=value.message_id,
            content_type=value.content_type,
            correlation_id=value.correlation_id,
            subject=value.subject,
            to=value.to,
            reply_to=value.reply_to,
            session_id=value.session_id,
            partition_key=value.partition_key,
            delivery_count=value.delivery_count,
            sequence_number=value.sequence_number,
            enqueued_time_utc=value.enqueued_time_utc,
            expires_at_utc=value.expires_at_utc,
            lock_token=value.lock_token,
        )
    if value is None:
        return None
    if isinstance(value, _native.UnsupportedData):
        raise TypeError(f"the host sent {value.kind}, which fnwire for Python cannot pass to a function")
    is_json = isinstance(value, _native.JsonText)
    raw = value.text if is_json else value
    if annotation is str:
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    if annotation is bytes:
        return raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
    if annotation in (dict, list) or typing.get_origin(annotation) in (dict, list):
        return _native.parse_json(raw if isinstance(raw, bytes) else str(raw).encode("utf-8"), "the input")
    if is_json and annotation not in (None, inspect.Parameter.empty, Any):
        return _native.parse_json(raw.encode("utf-8"), "the input")
    return raw


def _kwargs(entry: FunctionInfo, inputs: Sequence[Any], context: _native.ContextData) -> Tuple[Dict[str, Any], List[Tuple[str, Out[Any]]]]:
    if not isinstance(entry, FunctionInfo):
        return entry.build_kwargs(inputs, context)  # an azure.functions app's (fnwire._azure_invoke)
    kwargs: Dict[str, Any] = {}
    for (param, _binding, kind, annotation), value in zip(entry.inputs, inputs):
        kwargs[param] = _wrap_input(kind, value, annotation)
    outs: List[Tuple[str, Out[Any]]] = []
    for param, binding in entry.outputs:
        out: Out[Any] = Out()
        kwargs[param] = out
        outs.append((binding, out))
    if entry.context_params:
        ctx = _context(context)
        for param in entry.context_params:
            kwargs[param] = ctx
    return kwargs, outs


def _encode(value: Any, binding_type: Optional[str], binding: str) -> Any:
    """A value set on an output binding, as the `_native` value the core sends (see BRIDGE.md)."""
    if isinstance(value, HttpResponse):
        # The core reads the response's fields itself: one conversion, in Rust (BRIDGE.md).
        return value
    if binding_type == "http":
        # Plain values returned from an HTTP function become a 200 response.
        if isinstance(value, (str, bytes, bytearray)):
            return _encode(HttpResponse(value), None, binding)
        return _encode(HttpResponse.json(value), None, binding)
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    try:
        return _native.JsonText(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"cannot send a {type(value).__name__} to binding `{binding}`: use str, bytes, HttpResponse "
            f"or a JSON-serializable value ({e})"
        ) from None


def _finish(entry: FunctionInfo, returned: Any, outs: List[Tuple[str, Out[Any]]]) -> _native.Success:
    if not isinstance(entry, FunctionInfo):
        return entry.finish(returned, outs)
    encoded_return = None
    if returned is not None:
        if entry.return_binding is None:
            raise TypeError(
                f"function `{entry.name}` returned a {type(returned).__name__}, but it has no `$return` "
                "binding; return None, or declare an output without `name` to send the return value"
            )
        encoded_return = _encode(returned, entry.return_binding, RETURN)
    outputs: Dict[str, Any] = {}
    for binding, out in outs:
        value = out.get()
        if value is not None:
            outputs[binding] = _encode(value, None, binding)
    return _native.Success(encoded_return, outputs)


def _error(e: BaseException) -> _native.Failure:
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return _native.Failure(type(e).__name__, str(e), tb)


# -- sync -------------------------------------------------------------------------------------


def run_sync(entry: FunctionInfo, inputs: List[Any], context: _native.ContextData, sink: Any) -> Outcome:
    state = _InvocationLogs(sink)
    token = _current.set(state)
    try:
        kwargs, outs = _kwargs(entry, inputs, context)
        return _finish(entry, entry.func(**kwargs), outs)
    except BaseException as e:  # SystemExit in a function fails that invocation, not the worker
        return _error(e)
    finally:
        _current.reset(token)
        state.flush()


# -- async ------------------------------------------------------------------------------------

_loop: Optional[asyncio.AbstractEventLoop] = None
_loop_thread: Optional[threading.Thread] = None
_tasks: Dict[str, "asyncio.Task[None]"] = {}
# asyncio.CancelledError, once the loop's thread has imported asyncio (before any task runs).
_CancelledError: Any = None


def start_loop() -> None:
    """Starts the thread of the one event loop `async def` functions run on, and returns at once.
    The thread imports asyncio and makes the loop only when the first call is queued: asyncio is
    the largest import a worker would make, and an app whose requests go to `def` functions
    never needs it (nor waits for the GIL while another thread imports it). The first call is
    taken as soon as the loop watches the wake-up descriptor, which is readable by then."""
    global _loop_thread
    if _loop_thread is not None:
        return

    def run() -> None:
        global _loop, _CancelledError
        import select

        wakeup = _native.async_wakeup_fd()
        select.select([wakeup], [], [])
        import asyncio

        _CancelledError = asyncio.CancelledError
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # The core queues calls in Rust and wakes the loop through this descriptor, so no other
        # thread takes the GIL to hand a call over.
        loop.add_reader(wakeup, _take_calls, loop)
        _loop = loop
        loop.run_forever()

    _loop_thread = threading.Thread(target=run, name="fnwire-asyncio", daemon=True)
    _loop_thread.start()


def stop_loop() -> None:
    global _loop_thread
    thread = _loop_thread
    if thread is None:
        return
    _loop_thread = None
    loop = _loop
    # Without a loop the thread still waits for a first call; it is a daemon thread.
    if loop is not None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2)


def _take_calls(loop: asyncio.AbstractEventLoop) -> None:
    """The core queued `async def` calls and woke the loop: start each as a task."""
    for entry, inputs, context, sink, completion in _native.take_async_calls():
        _start(loop, entry, inputs, context, sink, completion)


def _start(
    loop: asyncio.AbstractEventLoop,
    entry: FunctionInfo,
    inputs: List[Any],
    context: _native.ContextData,
    sink: Any,
    completion: Any,
) -> None:
    invocation_id = context.invocation_id
    task = loop.create_task(_run_async(entry, inputs, context, sink, completion))
    _tasks[invocation_id] = task
    task.add_done_callback(lambda _t: _tasks.pop(invocation_id, None))


async def _run_async(
    entry: FunctionInfo, inputs: List[Any], context: _native.ContextData, sink: Any, completion: Any
) -> None:
    state = _InvocationLogs(sink)
    _current.set(state)  # the task runs in its own copy of the context
    try:
        kwargs, outs = _kwargs(entry, inputs, context)
        outcome: Outcome = _finish(entry, await entry.func(**kwargs), outs)
    except _CancelledError:
        state.flush()
        raise
    except BaseException as e:
        outcome = _error(e)
    state.flush()
    completion(outcome)


def cancel_async(invocation_id: str) -> None:
    loop = _loop
    if loop is not None:
        loop.call_soon_threadsafe(_cancel, invocation_id)


def _cancel(invocation_id: str) -> None:
    task = _tasks.get(invocation_id)
    if task is not None:
        task.cancel()
