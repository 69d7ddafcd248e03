"""`fnwire.App` and its decorators.

Decorators only collect binding options; the Rust core checks them and resolves every binding
name with the same front end as the Rust attribute macros (`_native.declare`,
`_native.define_function`). This module adds what only Python can know: how parameters are
annotated, and so how each one is filled.
"""

from __future__ import annotations

import inspect
import json
import os
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from . import _native
from ._types import (
    Blob,
    Context,
    HttpRequest,
    Out,
    QueueMessage,
    ServiceBusMessage,
    TimerInfo,
)

F = TypeVar("F", bound=Callable[..., Any])

RETURN = "$return"


FunctionDefinitionError = _native.FunctionDefinitionError


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return f"`{getattr(func, '__qualname__', func)}`"
    return f"`{func.__qualname__}` ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"


class FunctionInfo:
    """A validated function: its metadata and how to call it. Built by `App.functions()`."""

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        raw_bindings: List[str],
        is_async: bool,
        inputs: List[Tuple[str, str, str, Any]],
        outputs: List[Tuple[str, str]],
        context_params: List[str],
        return_binding: Optional[str],
    ) -> None:
        self.name = name
        self.func = func
        self.raw_bindings = raw_bindings
        self.is_async = is_async
        # (parameter, binding, kind, annotation)
        self.inputs = inputs
        # (parameter, binding)
        self.outputs = outputs
        self.context_params = context_params
        # Type of the `$return` binding, if any.
        self.return_binding = return_binding
        # Set by the loader: the file the app was loaded from.
        self.script_file = ""

    # Read by the core (`_native.serve`) when the worker starts.
    @property
    def entry_point(self) -> str:
        return self.func.__name__

    @property
    def bindings(self) -> List[Dict[str, Any]]:
        return [json.loads(text) for text in self.raw_bindings]

    @property
    def function_id(self) -> str:
        return _native.function_id(self.name)

    def __repr__(self) -> str:
        return f"<FunctionInfo {self.name}>"


_KIND_FOR_TYPE = {
    "httpTrigger": "http",
    "timerTrigger": "timer",
    "queueTrigger": "queue",
    "blobTrigger": "blob",
    "serviceBusTrigger": "service_bus",
}
_TYPE_FOR_CLASS = {
    HttpRequest: "httpTrigger",
    TimerInfo: "timerTrigger",
    QueueMessage: "queueTrigger",
    Blob: "blobTrigger",
    ServiceBusMessage: "serviceBusTrigger",
}


class App:
    """A function app: decorate functions with its trigger and binding decorators.

    `http_auth_level` applies to HTTP triggers that do not set `auth_level`. `sync_threads` caps
    how many `def` functions run at once (default: `PYTHON_THREADPOOL_THREAD_COUNT`, else
    `min(32, cpu count + 4)`).
    """

    def __init__(self, *, http_auth_level: Optional[str] = None, sync_threads: Optional[int] = None) -> None:
        self.http_auth_level = http_auth_level
        self.sync_threads = sync_threads
        self._pending: Dict[int, Tuple[Callable[..., Any], List[Any]]] = {}
        self._order: List[int] = []

    # -- decorators ---------------------------------------------------------------------------

    def http_trigger(
        self,
        route: Optional[str] = None,
        methods: Union[Sequence[str], str, None] = None,
        auth_level: Optional[str] = None,
        *,
        name: Optional[str] = None,
        function_name: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Runs the function for HTTP requests to `/api/<route>`; it returns the response."""
        if auth_level is None:
            auth_level = self.http_auth_level
        return self._decorator(
            "http_trigger",
            route=route,
            methods=list(methods) if isinstance(methods, (list, tuple)) else methods,
            auth_level=auth_level,
            name=name,
            function_name=function_name,
            data_type=data_type,
            **extra,
        )

    route = http_trigger

    def timer_trigger(
        self,
        schedule: Optional[str] = None,
        *,
        run_on_startup: Optional[bool] = None,
        use_monitor: Optional[bool] = None,
        name: Optional[str] = None,
        function_name: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Runs the function on an NCRONTAB schedule (six fields, seconds first)."""
        return self._decorator(
            "timer_trigger",
            schedule=schedule,
            run_on_startup=run_on_startup,
            use_monitor=use_monitor,
            name=name,
            function_name=function_name,
            **extra,
        )

    def queue_trigger(
        self,
        queue: Optional[str] = None,
        *,
        connection: Optional[str] = None,
        name: Optional[str] = None,
        function_name: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Runs the function for each message on a queue."""
        return self._decorator(
            "queue_trigger",
            queue=queue,
            connection=connection,
            name=name,
            function_name=function_name,
            data_type=data_type,
            **extra,
        )

    def blob_trigger(
        self,
        path: Optional[str] = None,
        *,
        connection: Optional[str] = None,
        source: Optional[str] = None,
        name: Optional[str] = None,
        function_name: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Runs the function once for each new or changed blob whose path fits `path` (`uploads/{name}`)."""
        return self._decorator(
            "blob_trigger",
            path=path,
            connection=connection,
            source=source,
            name=name,
            function_name=function_name,
            data_type=data_type,
            **extra,
        )

    def queue_output(
        self,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        *,
        connection: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Puts a message on a queue: set the `Out` parameter `name`, or return it (no `name`)."""
        return self._decorator(
            "queue_output", name=name, queue=queue, connection=connection, data_type=data_type, **extra
        )

    def service_bus_trigger(
        self,
        queue: Optional[str] = None,
        *,
        topic: Optional[str] = None,
        subscription: Optional[str] = None,
        connection: Optional[str] = None,
        is_sessions_enabled: Optional[bool] = None,
        name: Optional[str] = None,
        function_name: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Runs the function for each message on a Service Bus queue, or on a topic's
        subscription (`topic=` and `subscription=`)."""
        return self._decorator(
            "service_bus_trigger",
            queue=queue,
            topic=topic,
            subscription=subscription,
            connection=connection,
            is_sessions_enabled=is_sessions_enabled,
            name=name,
            function_name=function_name,
            data_type=data_type,
            **extra,
        )


    def service_bus_output(
        self,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        *,
        topic: Optional[str] = None,
        connection: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Sends a message to a Service Bus queue or topic: set the `Out` parameter `name`, or
        return it (no `name`). A `service_bus_message(...)` value also sets its properties."""
        return self._decorator(
            "service_bus_output", name=name, queue=queue, topic=topic, connection=connection, data_type=data_type, **extra
        )


    def rabbitmq_trigger(
        self,
        queue: Optional[str] = None,
        *,
        connection_string_setting: Optional[str] = None,
        disable_certificate_validation: Optional[bool] = None,
        name: Optional[str] = None,
        function_name: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Runs the function for each message on a RabbitMQ queue (Azure's `rabbitMQTrigger`).

        `connection_string_setting` names the setting that holds the `amqp://` URI. The parameter
        receives the body as `str` (`bytes` with `data_type="binary"`).
        """
        return self._decorator(
            "rabbitmq_trigger",
            queue=queue,
            connection_string_setting=connection_string_setting,
            disable_certificate_validation=disable_certificate_validation,
            name=name,
            function_name=function_name,
            data_type=data_type,
            **extra,
        )

    def rabbitmq_output(
        self,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        *,
        connection_string_setting: Optional[str] = None,
        disable_certificate_validation: Optional[bool] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Publishes a message to a RabbitMQ queue when the function succeeds (Azure's `rabbitMQ`
        output): set the `Out` parameter `name`, or return it (no `name`); a list is one message
        per item."""
        return self._decorator(
            "rabbitmq_output",
            name=name,
            queue=queue,
            connection_string_setting=connection_string_setting,
            disable_certificate_validation=disable_certificate_validation,
            data_type=data_type,
            **extra,
        )

    def blob_input(
        self,
        name: Optional[str] = None,
        path: Optional[str] = None,
        *,
        connection: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Reads a blob into the parameter `name` before the function runs."""
        return self._decorator("blob_input", name=name, path=path, connection=connection, data_type=data_type, **extra)

    def blob_output(
        self,
        name: Optional[str] = None,
        path: Optional[str] = None,
        *,
        connection: Optional[str] = None,
        data_type: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Writes a blob: set the `Out` parameter `name`, or return it (no `name`)."""
        return self._decorator(
            "blob_output", name=name, path=path, connection=connection, data_type=data_type, **extra
        )

    def table_input(
        self,
        name: Optional[str] = None,
        table_name: Optional[str] = None,
        *,
        partition_key: Optional[str] = None,
        row_key: Optional[str] = None,
        filter: Optional[str] = None,
        take: Optional[int] = None,
        connection: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Reads table entities into the parameter `name` before the function runs: with both keys
        the one entity (a JSON object, or None), else the query's entities (a JSON array)."""
        return self._decorator(
            "table_input",
            name=name,
            table_name=table_name,
            partition_key=partition_key,
            row_key=row_key,
            filter=filter,
            take=take,
            connection=connection,
            **extra,
        )

    def table_output(
        self,
        name: Optional[str] = None,
        table_name: Optional[str] = None,
        *,
        partition_key: Optional[str] = None,
        row_key: Optional[str] = None,
        connection: Optional[str] = None,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Writes table entities (a JSON object or a list of them) as Azure's table output does, by
        each entity's `ETag`: none inserts (an existing entity fails the function), `"*"` inserts
        or replaces, any other replaces only that version. Set the `Out` parameter `name`, or
        return them (no `name`)."""
        return self._decorator(
            "table_output",
            name=name,
            table_name=table_name,
            partition_key=partition_key,
            row_key=row_key,
            connection=connection,
            **extra,
        )

    def http_output(self, name: Optional[str] = None) -> Callable[[F], F]:
        """Moves an HTTP function's response to the `Out[HttpResponse]` parameter `name`."""
        return self._decorator("http_output", name=name)

    def binding(
        self, *, type: Optional[str] = None, direction: Optional[str] = None, name: Optional[str] = None, **options: Any
    ) -> Callable[[F], F]:
        """Any Azure binding: option names are rendered in camelCase, values as written."""
        return self._decorator("binding", type=type, direction=direction, name=name, **options)

    def _decorator(self, decorator: str, **options: Any) -> Callable[[F], F]:
        given = {k: v for k, v in options.items() if v is not None}

        def apply(func: F) -> F:
            if not callable(func):
                raise FunctionDefinitionError(f"`@app.{decorator}` decorates a function, not a {type(func).__name__}")
            declaration = _native.declare(decorator, given, f"function {_where(func)}")
            key = id(func)
            if key not in self._pending:
                self._pending[key] = (func, [])
                self._order.append(key)
            self._pending[key][1].insert(0, declaration)  # decorators apply bottom-up; keep reading order
            return func

        return apply

    # -- indexing -----------------------------------------------------------------------------

    def functions(self) -> List[FunctionInfo]:
        """Every decorated function, validated. Raises `FunctionDefinitionError` listing every
        problem (each names the function, and the parameter or binding)."""
        infos: List[FunctionInfo] = []
        problems: List[str] = []
        details: List[Any] = []
        seen: Dict[str, str] = {}
        for key in self._order:
            func, declarations = self._pending[key]
            try:
                info = _build_function(func, declarations)
            except FunctionDefinitionError as e:
                problems.append(str(e))
                details.extend(e.problems)
                continue
            first = seen.get(info.name.lower())
            if first is not None:
                problems.append(f"function {_where(func)}: {_native.duplicate_function(info.name, first)}")
                continue
            seen[info.name.lower()] = _where(func)
            infos.append(info)
        if problems:
            error = FunctionDefinitionError("\n".join(problems))
            error.problems = tuple(details)
            raise error
        return infos


def _hints(func: Callable[..., Any]) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:
        # Unresolvable forward references: annotations are then not checked.
        return {}


def _is_out(annotation: Any) -> bool:
    return annotation is Out or typing.get_origin(annotation) is Out


def _build_function(func: Callable[..., Any], declarations: List[Any]) -> FunctionInfo:
    where = _where(func)

    def fail(message: str) -> FunctionDefinitionError:
        return FunctionDefinitionError(f"function {where}: {message}")

    signature = inspect.signature(func)
    hints = _hints(func)
    params = list(signature.parameters.values())
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise fail(
                f"parameter `{p.name}`: fnwire passes bindings by name, so `*args`, `**kwargs` and positional-only "
                "parameters cannot receive them; name each binding's parameter"
            )
    annotation = {p.name: hints.get(p.name, inspect.Parameter.empty) for p in params}
    is_context = {name: ann is Context for name, ann in annotation.items()}
    defined = _native.define_function(
        f"function {where}",
        func.__name__,
        declarations,
        [
            {
                "name": p.name,
                "can_take_trigger": not is_context[p.name] and not _is_out(annotation[p.name]),
                "is_output_slot": _is_out(annotation[p.name]),
            }
            for p in params
        ],
    )

    by_name = {b.name: b for b in defined.bindings}
    inputs: List[Tuple[str, str, str, Any]] = []
    outputs: List[Tuple[str, str]] = []
    context_params: List[str] = []
    for p in params:
        ann = annotation[p.name]
        binding = by_name.get(p.name)
        if binding is None:
            if is_context[p.name] or (ann is inspect.Parameter.empty and p.name in ("context", "ctx")):
                context_params.append(p.name)
                continue
            if p.default is not inspect.Parameter.empty:
                continue
            raise fail(
                f"parameter `{p.name}` matches no binding: parameters bind by name, so name a binding "
                f"`{p.name}` (e.g. `name=\"{p.name}\"`), annotate it `fnwire.Context`, or give it a default"
            )
        if is_context[p.name]:
            raise fail(f"parameter `{p.name}` is annotated `fnwire.Context`, but a binding is also named `{p.name}`")
        if binding.direction == "out":
            if ann is not inspect.Parameter.empty and not _is_out(ann):
                raise fail(
                    f"parameter `{p.name}` receives the output binding `{p.name}`, so annotate it "
                    f"`fnwire.Out[...]`, not `{_type_name(ann)}`"
                )
            outputs.append((p.name, p.name))
            continue
        expected = _TYPE_FOR_CLASS.get(ann)
        if expected is not None and expected != binding.type:
            raise fail(
                f"parameter `{p.name}` is annotated `{_type_name(ann)}`, which only a `{expected}` binding "
                f"provides, but `{p.name}` is a `{binding.type}` binding"
            )
        kind = _KIND_FOR_TYPE.get(binding.type, "raw")
        if kind == "queue" and ann in (str, bytes, dict, list):
            kind = "raw"
        elif kind == "blob" and ann is not Blob:
            # The content alone (bytes, str, or parsed JSON), as before `fnwire.Blob` existed.
            kind = "raw"
        elif kind == "service_bus" and ann is not ServiceBusMessage:
            # The body alone (bytes, str, or parsed JSON).
            kind = "raw"
        elif kind in ("http", "timer") and ann not in (inspect.Parameter.empty, Any, _CLASS_FOR_KIND[kind]):
            raise fail(
                f"parameter `{p.name}` receives the `{binding.type}` binding, so annotate it "
                f"`fnwire.{_CLASS_FOR_KIND[kind].__name__}`, not `{_type_name(ann)}`"
            )
        inputs.append((p.name, p.name, kind, ann))

    return_binding = by_name.get(RETURN)
    return FunctionInfo(
        name=defined.name,
        func=func,
        raw_bindings=list(defined.raw_bindings),
        is_async=inspect.iscoroutinefunction(func),
        inputs=inputs,
        outputs=outputs,
        context_params=context_params,
        return_binding=return_binding.type if return_binding is not None else None,
    )


_CLASS_FOR_KIND = {"http": HttpRequest, "timer": TimerInfo, "queue": QueueMessage}


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__qualname__", None) or repr(annotation)
