"""The runner the Rust core calls for each invocation, the asyncio loop, and log capture.

The core calls `run_sync` (on one of its blocking threads, GIL taken there) for `def` functions
and `submit_async` for `async def` ones; both hand back an outcome tuple (BRIDGE.md). Log
records made inside an invocation are buffered per invocation and handed to the core in
batches through the invocation's `LogSink`, always before the outcome.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import traceback
from typing import Any, Dict, List, Optional, Tuple

from ._app import FunctionInfo

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


def _error(e: BaseException) -> Tuple[str, str, str, str]:
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return ("error", type(e).__name__, str(e), tb)


def run_sync(entry: FunctionInfo, inputs: List[Any], context: Tuple[Any, ...], sink: Any) -> Tuple[Any, ...]:
    state = _InvocationLogs(sink)
    token = _current.set(state)
    try:
        kwargs, outs = entry.build_kwargs(inputs, context)
        return entry.finish(entry.func(**kwargs), outs)
    except BaseException as e:  # SystemExit in a function fails that invocation, not the worker
        return _error(e)
    finally:
        _current.reset(token)
        state.flush()


# -- async ------------------------------------------------------------------------------------

_loop: Optional[asyncio.AbstractEventLoop] = None
_loop_thread: Optional[threading.Thread] = None
_tasks: Dict[str, "asyncio.Task[None]"] = {}


def start_loop() -> asyncio.AbstractEventLoop:
    """Starts the one event loop `async def` functions run on, in its own thread."""
    global _loop, _loop_thread
    if _loop is not None:
        return _loop
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    _loop_thread = threading.Thread(target=run, name="fnwire-asyncio", daemon=True)
    _loop_thread.start()
    ready.wait()
    _loop = loop
    return loop


def stop_loop() -> None:
    global _loop
    loop = _loop
    if loop is None:
        return
    _loop = None
    loop.call_soon_threadsafe(loop.stop)
    if _loop_thread is not None:
        _loop_thread.join(timeout=2)


def submit_async(entry: FunctionInfo, inputs: List[Any], context: Tuple[Any, ...], sink: Any, completion: Any) -> None:
    loop = _loop
    if loop is None:
        raise RuntimeError("fnwire: the asyncio loop is not running")
    loop.call_soon_threadsafe(_start, loop, entry, inputs, context, sink, completion)


def _start(
    loop: asyncio.AbstractEventLoop,
    entry: FunctionInfo,
    inputs: List[Any],
    context: Tuple[Any, ...],
    sink: Any,
    completion: Any,
) -> None:
    invocation_id = context[0]
    task = loop.create_task(_run_async(entry, inputs, context, sink, completion))
    _tasks[invocation_id] = task
    task.add_done_callback(lambda _t: _tasks.pop(invocation_id, None))


async def _run_async(
    entry: FunctionInfo, inputs: List[Any], context: Tuple[Any, ...], sink: Any, completion: Any
) -> None:
    state = _InvocationLogs(sink)
    _current.set(state)  # the task runs in its own copy of the context
    try:
        kwargs, outs = entry.build_kwargs(inputs, context)
        outcome: Tuple[Any, ...] = entry.finish(await entry.func(**kwargs), outs)
    except asyncio.CancelledError:
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
