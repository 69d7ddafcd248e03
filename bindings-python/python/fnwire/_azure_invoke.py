"""Calls functions of `azure.functions` apps the way Microsoft's Python worker does.

The Rust core decodes the wire data (BRIDGE.md: `http`, `queue` and `raw` inputs, as typed
`_native` objects); this module only wraps those values in the library's own `meta.Datum`, lets
the library's binding converters (`get_binding_registry()`) build the parameter values and encode
the results, and turns the encoded `Datum`s into the `_native` values the core sends back. Bindings the library has no
converter for go through `GenericBinding`, as in Microsoft's worker.
"""

from __future__ import annotations

import email.utils
import inspect
import json
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import azure.functions as func
from azure.functions import meta

from . import _native

RETURN = "$return"

# `context.thread_local_storage`: one `threading.local` for the process, as in Microsoft's worker;
# its `invocation_id` is set on the thread (or event-loop thread) that runs each invocation.
_thread_local = threading.local()


class GenericBinding:
    """Bindings the library has no converter for (and `str`/`bytes` parameters): the value passes
    through as the host sent it."""

    @classmethod
    def has_trigger_support(cls) -> bool:
        return False

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        return isinstance(pytype, type) and issubclass(pytype, (str, bytes, dict, list))

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        return isinstance(pytype, type) and issubclass(pytype, (str, bytes, bytearray, dict, list, int, float))

    @classmethod
    def decode(cls, data: Optional[meta.Datum], *, trigger_metadata: Any) -> Any:
        if data is None or data.type is None:
            return None
        if data.type in ("string", "bytes", "json", "int", "double"):
            return data.value
        raise ValueError(f"unexpected type of data received for the generic binding: {data.type!r}")

    @classmethod
    def encode(cls, obj: Any, *, expected_type: Optional[type]) -> meta.Datum:
        if isinstance(obj, str):
            return meta.Datum(type="string", value=obj)
        if isinstance(obj, (bytes, bytearray)):
            return meta.Datum(type="bytes", value=bytes(obj))
        if isinstance(obj, bool):
            return meta.Datum(type="json", value=json.dumps(obj))
        if isinstance(obj, int):
            return meta.Datum(type="int", value=obj)
        if isinstance(obj, float):
            return meta.Datum(type="double", value=obj)
        if isinstance(obj, (dict, list)):
            return meta.Datum(type="json", value=json.dumps(obj))
        raise NotImplementedError


def converter(binding_type: str) -> Any:
    """The library's converter for a binding type, else `GenericBinding`."""
    if binding_type == "generic":
        return GenericBinding
    return meta.get_binding_registry().get(binding_type) or GenericBinding


class TraceContext(func._abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str, attributes: Dict[str, str]) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = attributes

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> Dict[str, str]:
        return self._attributes


class RpcException(func._abc.RpcException):
    def __init__(self, message: str) -> None:
        self._message = message

    @property
    def source(self) -> str:
        return ""

    @property
    def stack_trace(self) -> str:
        return ""

    @property
    def message(self) -> str:
        return self._message


class RetryContext(func._abc.RetryContext):
    def __init__(self, retry_count: int, max_retry_count: int, message: Optional[str]) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count
        self._exception = RpcException(message or "")

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> RpcException:
        return self._exception


class Context(func.Context):
    """`func.Context` for one invocation."""

    def __init__(
        self,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace_context: TraceContext,
        retry_context: Optional[RetryContext],
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._retry_context = retry_context

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return _thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> Optional[RetryContext]:
        return self._retry_context

    def __repr__(self) -> str:
        return f"<Context {self._function_name} {self._invocation_id}>"


class Out(func.Out):  # type: ignore[type-arg]
    """`func.Out[T]`: the value set is encoded by the binding's converter after the call."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class Param:
    """How one parameter is fed: the binding it reads or writes, the converter's binding type
    (`generic` for `str`/`bytes` annotations), the Python type handed to the converter, and the
    input kind the core decodes it as (BRIDGE.md)."""

    __slots__ = ("name", "binding_type", "pytype", "kind", "has_default", "converter")

    def __init__(self, name: str, binding_type: str, pytype: Optional[type], kind: str, has_default: bool) -> None:
        self.name = name
        self.binding_type = binding_type
        self.pytype = pytype
        self.kind = kind
        self.has_default = has_default
        self.converter = converter(binding_type)


class AzureFunction:
    """One function of an `azure.functions` app, ready for the core: its metadata (`name`,
    `raw_bindings`, `script_file`, `entry_point`) and how to call it (`build_kwargs`, `finish`,
    called by `fnwire._worker`)."""

    def __init__(
        self,
        name: str,
        func: Any,
        raw_bindings: List[str],
        inputs: List[Param],
        outputs: List[Param],
        return_param: Optional[Param],
        requires_context: bool,
        directory: str,
        script_file: str,
        entry_point: str,
    ) -> None:
        self.name = name
        self.func = func
        self.raw_bindings = raw_bindings
        self.is_async = inspect.iscoroutinefunction(func)
        self.params = inputs
        # (parameter, binding, kind, annotation), the shape `fnwire._loader` hands to the core.
        self.inputs = [(p.name, p.name, p.kind, p.pytype) for p in inputs]
        self.outputs = outputs
        self.return_param = return_param
        self.requires_context = requires_context
        self.directory = directory
        self.script_file = script_file
        self.entry_point = entry_point

    def __repr__(self) -> str:
        return f"<AzureFunction {self.name}>"

    def build_kwargs(self, inputs: Sequence[Any], context: Any) -> Tuple[Dict[str, Any], List[Tuple[Param, Out]]]:
        kwargs: Dict[str, Any] = {}
        for param, given in zip(self.params, inputs):
            datum, trigger_metadata = _datum(param, given)
            if datum is None and param.has_default:
                continue  # the host sent nothing: the parameter keeps its default, as in Azure
            try:
                value = param.converter.decode(datum, trigger_metadata=trigger_metadata)
            except NotImplementedError:
                raise TypeError(
                    f"unable to decode the input `{param.name}`: the `{param.binding_type}` converter of "
                    f"azure.functions does not accept {datum.type if datum is not None else 'no'} data"
                ) from None
            kwargs[param.name] = _coerce(value, param.pytype) if param.binding_type == "generic" else value
        outs = []
        for param in self.outputs:
            out = Out()
            kwargs[param.name] = out
            outs.append((param, out))
        _thread_local.invocation_id = context.invocation_id
        if self.requires_context:
            kwargs["context"] = _context(context, self.directory)
        return kwargs, outs

    def finish(self, returned: Any, outs: List[Tuple[Param, Out]]) -> Any:
        """The outcome for the core: `_native.Success` of what `encode` gives."""
        returned_value, outputs = self.encode(returned, outs)
        return _native.Success(
            _to_native(returned_value) if returned_value is not None else None,
            {name: _to_native(value) for name, value in outputs},
        )

    def encode(self, returned: Any, outs: List[Tuple[Param, Out]]) -> Tuple[Optional[Tuple[Any, ...]], List[Tuple[str, Tuple[Any, ...]]]]:
        """The return value and the outputs set, encoded by the bindings' converters, as tagged
        values: `("string", str)`, `("bytes", bytes)`, `("json", text)`, or
        `("http", status, [(name, value)], body, [cookie tuple])`."""
        encoded_return = None
        if returned is not None:
            if self.return_param is None:
                raise TypeError(
                    f"function `{self.name}` returned a {type(returned).__name__}, but it has no `$return` "
                    "binding: return None, or declare an output binding named `$return`"
                )
            encoded_return = _encode(self.return_param, returned)
        outputs = []
        for param, out in outs:
            value = out.get()
            if value is not None:
                encoded = _encode(param, value)
                if encoded is not None:
                    outputs.append((param.name, encoded))
        return encoded_return, outputs


def _context(data: Any, directory: str) -> Context:
    retry = data.retry
    return Context(
        data.invocation_id,
        data.function_name,
        directory,
        TraceContext(data.trace_parent, data.trace_state, dict(data.attributes)),
        RetryContext(retry.retry_count, retry.max_retry_count, retry.exception_message) if retry is not None else None,
    )


def _strings(pairs: Any) -> Dict[str, meta.Datum]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return {k: meta.Datum(v, "string") for k, v in items}


def _datum(param: Param, value: Any) -> Tuple[Optional[meta.Datum], Dict[str, meta.Datum]]:
    """The library's `Datum` (and trigger metadata) for an input the core decoded."""
    if param.kind == "http":
        return (
            meta.Datum(
                type="http",
                value={
                    "method": meta.Datum(value.method, "string"),
                    "url": meta.Datum(value.url, "string"),
                    "headers": _strings(value.headers),
                    "body": meta.Datum(value.body, "bytes"),
                    "params": _strings(value.params),
                    "query": _strings(value.query),
                },
            ),
            {},
        )
    if param.kind == "queue":
        metadata = {"Id": meta.Datum(value.id, "string"), "DequeueCount": meta.Datum(value.dequeue_count, "int")}
        for key, text in (
            ("InsertionTime", value.insertion_time),
            ("ExpirationTime", value.expiration_time),
            ("NextVisibleTime", value.next_visible_time),
            ("PopReceipt", value.pop_receipt),
        ):
            if text is not None:
                metadata[key] = meta.Datum(text, "string")
        return meta.Datum(value.body, "bytes"), metadata
    if param.kind == "blob":
        # The blob trigger's metadata as Azure's host sends it, for `func.InputStream`.
        properties = {"ContentLength": len(value.content), "Length": len(value.content)}
        for key, text in (("ContentType", value.content_type), ("ETag", value.etag), ("LastModified", value.last_modified)):
            if text is not None:
                properties[key] = text
        metadata = {
            "BlobTrigger": meta.Datum(value.path, "string"),
            "Properties": meta.Datum(json.dumps(properties), "json"),
            "Metadata": meta.Datum(json.dumps(dict(value.metadata)), "json"),
        }
        if value.uri is not None:
            metadata["Uri"] = meta.Datum(value.uri, "string")
        metadata.update(_strings(value.parameters))
        return meta.Datum(value.content, "bytes"), metadata
    if param.kind == "with_metadata":
        datum, _ = _datum(Param(param.name, param.binding_type, param.pytype, "raw", param.has_default), value.value)
        metadata = {}
        for key, item in value.metadata:
            item_datum, _ = _datum(Param(key, "generic", None, "raw", False), item)
            if item_datum is not None:
                metadata[key] = item_datum
        return datum, metadata
    if value is None:
        return None, {}
    if isinstance(value, _native.JsonText):
        return meta.Datum(value.text, "json"), {}
    if isinstance(value, str):
        return meta.Datum(value, "string"), {}
    if isinstance(value, bytes):
        return meta.Datum(value, "bytes"), {}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = getattr(value, "kind", type(value).__name__)
        raise TypeError(
            f"the input `{param.name}` arrived as {kind} data, which fnwire's worker does not hand to "
            "azure.functions converters; bind it as str or bytes"
        )
    return meta.Datum(value, "int" if isinstance(value, int) else "double"), {}


def _coerce(value: Any, pytype: Optional[type]) -> Any:
    """`str`/`bytes`/`dict`/`list` parameters get that type whatever form the host sent."""
    if pytype is str and isinstance(value, bytes):
        return value.decode("utf-8")
    if pytype is bytes and isinstance(value, str):
        return value.encode("utf-8")
    if pytype in (dict, list) and isinstance(value, (str, bytes)):
        return json.loads(value)
    return value


def _encode(param: Param, value: Any) -> Optional[Tuple[Any, ...]]:
    try:
        datum = param.converter.encode(value, expected_type=param.pytype)
    except NotImplementedError:
        raise TypeError(
            f"unable to encode the value of `{param.name}`: the `{param.binding_type}` binding does not take "
            f"a {type(value).__name__}"
        ) from None
    return _tagged(datum, param.name)


def _tagged(datum: Optional[meta.Datum], binding: str) -> Optional[Tuple[Any, ...]]:
    """An encoded `Datum` as the tagged value the core sends (BRIDGE.md)."""
    if datum is None or datum.type is None:
        return None
    kind, value = datum.type, datum.value
    if kind in ("string", "bytes", "json"):
        return (kind, bytes(value) if kind == "bytes" else value)
    if kind in ("int", "double"):
        return ("json", json.dumps(value))
    if kind == "http":
        status = int(value["status_code"].value)
        headers = [(str(k), str(v.value)) for k, v in value["headers"].items()]
        body = value["body"]
        data = body.value if body is not None else b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        cookies = [c for jar in (value.get("cookies") or []) for c in _cookies(jar)]
        return ("http", status, headers, bytes(data or b""), cookies)
    if kind.startswith("collection_") or kind in ("dict", "list"):
        return ("json", json.dumps(list(value) if not isinstance(value, dict) else value))
    raise TypeError(f"binding `{binding}`: azure.functions encoded a `{kind}` value, which fnwire cannot send")


def _to_native(tagged: Tuple[Any, ...]) -> Any:
    """A tagged value as the `_native` value the core reads (BRIDGE.md, `OutputValue`)."""
    kind = tagged[0]
    if kind == "json":
        return _native.JsonText(tagged[1])
    if kind == "http":
        _, status, headers, body, cookies = tagged
        return _native.HttpResponseData(status, headers, [_cookie(*c) for c in cookies], body)
    return tagged[1]


def _cookie(
    name: str,
    value: str,
    domain: Optional[str],
    path: Optional[str],
    expires: Optional[float],
    secure: bool,
    http_only: bool,
    same_site: Optional[str],
    max_age: Optional[float],
) -> Any:
    return _native.Cookie(
        name,
        value,
        domain=domain,
        path=path,
        expires=expires,
        secure=secure,
        http_only=http_only,
        same_site=same_site,
        max_age=max_age,
    )


def _cookies(jar: Any) -> List[Tuple[Any, ...]]:
    """`http.cookies.SimpleCookie` (what the library makes of `Set-Cookie` headers) as the core's
    cookie tuples."""
    result = []
    for name, morsel in jar.items():
        expires = None
        if morsel["expires"]:
            try:
                expires = email.utils.parsedate_to_datetime(morsel["expires"]).timestamp()
            except (TypeError, ValueError):
                # Browsers drop an unreadable Expires too: the cookie becomes a session cookie.
                expires = None
        max_age = float(morsel["max-age"]) if str(morsel["max-age"]).strip().isdigit() else None
        same_site = morsel["samesite"] or None
        result.append(
            (
                name,
                morsel.value,
                morsel["domain"] or None,
                morsel["path"] or None,
                expires,
                bool(morsel["secure"]),
                bool(morsel["httponly"]),
                same_site.lower() if same_site else None,
                max_age,
            )
        )
    return result
