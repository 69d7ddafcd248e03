"""The values functions receive and return: requests, responses, context, messages, outputs."""

from __future__ import annotations

import datetime
import json
from typing import (
    Any,
    Dict,
    Generic,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    TypeVar,
    Union,
)

from . import _native

T = TypeVar("T")


class HttpHeaders(Mapping[str, str]):
    """Read-only HTTP headers; names compare case-insensitively."""

    __slots__ = ("_items",)

    def __init__(self, items: Union[Mapping[str, str], List[Tuple[str, str]], None] = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or [])
        self._items: Dict[str, Tuple[str, str]] = {k.lower(): (k, v) for k, v in pairs}

    @classmethod
    def _of_lower_case(cls, pairs: List[Tuple[str, str]]) -> HttpHeaders:
        """Headers from the core, whose names are lower-case already: no `Mapping` check (an ABC
        check per request) and no `lower()` per name."""
        headers = cls.__new__(cls)
        headers._items = {k: (k, v) for k, v in pairs}
        return headers

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"HttpHeaders({dict(self.items())!r})"


class HttpRequest:
    """An HTTP request, as the trigger of an HTTP function receives it."""

    __slots__ = ("method", "url", "headers", "query", "route_params", "_body")

    def __init__(
        self,
        method: str,
        url: str,
        *,
        headers: Union[Mapping[str, str], List[Tuple[str, str]], None] = None,
        query: Optional[Mapping[str, str]] = None,
        route_params: Optional[Mapping[str, str]] = None,
        body: bytes = b"",
    ) -> None:
        self.method: str = method
        self.url: str = url
        self.headers: HttpHeaders = HttpHeaders(headers)
        self.query: Dict[str, str] = dict(query or {})
        self.route_params: Dict[str, str] = dict(route_params or {})
        self._body = body

    @classmethod
    def _of_core(cls, data: Any) -> HttpRequest:
        """The request of a `_native.HttpRequestData`. Its `query` and `params` are new dicts at
        each read, so they are kept as they are instead of copied again as `__init__` would."""
        request = cls.__new__(cls)
        request.method = data.method
        request.url = data.url
        request.headers = HttpHeaders._of_lower_case(data.headers)
        request.query = data.query
        request.route_params = data.params
        request._body = data.body
        return request

    @property
    def params(self) -> Dict[str, str]:
        """The query parameters (the name `azure.functions` uses)."""
        return self.query

    def get_body(self) -> bytes:
        return self._body

    def get_json(self) -> Any:
        """The body parsed as JSON; raises ValueError saying where it is not valid."""
        return _native.parse_json(self._body, "the request body")

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.url}>"


# Status codes the core has accepted (`_native.check_status`), so that each response does not ask
# again: at most the 900 codes from 100 to 999.
_ACCEPTED_STATUS: Set[int] = set()


class HttpResponse:
    """The response of an HTTP function.

    `body` may be str (sent as UTF-8, `text/plain; charset=utf-8` by default) or bytes
    (`application/octet-stream` by default). A `mimetype` of `text/*` gets `; charset=...`.
    A `Content-Type` header, if given, wins over both.

    A header with several values (two `Link`s, two `Set-Cookie`s) is a list of strings in
    `headers`, or is added value by value with `add_header`; the client receives every value, in
    order. `Set-Cookie` values become cookies, like those of `set_cookie`.
    """

    __slots__ = ("status_code", "headers", "cookies", "_body")

    def __init__(
        self,
        body: Union[str, bytes, bytearray, None] = None,
        *,
        status_code: int = 200,
        headers: Optional[Mapping[str, Union[str, List[str]]]] = None,
        mimetype: Optional[str] = None,
        charset: str = "utf-8",
    ) -> None:
        if status_code.__class__ is not int or status_code not in _ACCEPTED_STATUS:
            if not isinstance(status_code, int) or isinstance(status_code, bool):
                raise TypeError(f"status_code must be an int, not {type(status_code).__name__}")
            _native.check_status(status_code)  # the Rust SDK's rule: 100 to 999
            if status_code.__class__ is int:
                _ACCEPTED_STATUS.add(status_code)
        if isinstance(body, str):
            data = body.encode(charset)
            default_type = "text/plain"
        elif isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
            default_type = "application/octet-stream"
        elif body is None:
            data = b""
            default_type = None
        else:
            raise TypeError(
                f"HttpResponse body must be str or bytes, not {type(body).__name__}; "
                "use HttpResponse.json(value) for JSON"
            )
        self.status_code: int = status_code
        self.headers: Dict[str, Union[str, List[str]]] = dict(headers) if headers else {}
        self.cookies: List[_native.Cookie] = []
        self._body = data
        content_type = mimetype or default_type
        if content_type and not (headers and any(k.lower() == "content-type" for k in self.headers)):
            if content_type.startswith("text/"):
                content_type = f"{content_type}; charset={charset}"
            self.headers["Content-Type"] = content_type

    @classmethod
    def json(
        cls, value: Any, *, status_code: int = 200, headers: Optional[Mapping[str, Union[str, List[str]]]] = None
    ) -> HttpResponse:
        """A JSON body (compact, UTF-8) with `Content-Type: application/json`."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return cls(text.encode("utf-8"), status_code=status_code, headers=headers, mimetype="application/json")

    def add_header(self, name: str, value: str) -> None:
        """Adds a value to header `name`, keeping the values it has (names ignore case)."""
        for existing, values in self.headers.items():
            if existing.lower() == name.lower():
                if isinstance(values, list):
                    values.append(value)
                else:
                    self.headers[existing] = [values, value]
                return
        self.headers[name] = value

    @property
    def mimetype(self) -> Optional[str]:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                text = value[-1] if isinstance(value, list) and value else value
                return str(text).split(";", 1)[0].strip()
        return None

    def get_body(self) -> bytes:
        return self._body

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        path: Optional[str] = None,
        domain: Optional[str] = None,
        expires: Union[datetime.datetime, float, None] = None,
        max_age: Optional[float] = None,
        secure: bool = False,
        http_only: bool = False,
        same_site: Optional[str] = None,
    ) -> None:
        """Adds a cookie. `expires` is a `datetime` (naive means local time) or a Unix timestamp in
        seconds, `max_age` seconds, `same_site` one of "Strict", "Lax", "None" (any case). The Rust
        core checks them now and raises ValueError naming the value at fault."""
        if isinstance(expires, datetime.datetime):
            expires = expires.timestamp()
        self.cookies.append(
            _native.Cookie(
                name,
                value,
                domain=domain,
                path=path,
                expires=expires,
                secure=secure or None,
                http_only=http_only or None,
                same_site=same_site,
                max_age=max_age,
            )
        )

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status_code}, {len(self._body)} bytes>"


class TraceContext:
    """W3C trace context of the invocation."""

    __slots__ = ("trace_parent", "trace_state", "attributes")

    def __init__(self, trace_parent: str = "", trace_state: str = "", attributes: Optional[Dict[str, str]] = None):
        self.trace_parent = trace_parent
        self.trace_state = trace_state
        self.attributes: Dict[str, str] = dict(attributes or {})


class RetryContext:
    """Present when the host retries a failed invocation."""

    __slots__ = ("retry_count", "max_retry_count", "exception_message")

    def __init__(self, retry_count: int = 0, max_retry_count: int = 0, exception_message: Optional[str] = None):
        self.retry_count = retry_count
        self.max_retry_count = max_retry_count
        self.exception_message = exception_message


class Context:
    """Facts about the current invocation: add a parameter annotated `fnwire.Context` (or named
    `context`) to any function."""

    __slots__ = ("invocation_id", "function_name", "function_id", "trace_context", "retry_context")

    def __init__(
        self,
        invocation_id: str,
        function_name: str,
        function_id: str = "",
        trace_context: Optional[TraceContext] = None,
        retry_context: Optional[RetryContext] = None,
    ) -> None:
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_id = function_id
        self.trace_context = trace_context or TraceContext()
        self.retry_context = retry_context

    def __repr__(self) -> str:
        return f"<Context {self.function_name} {self.invocation_id}>"


class ScheduleStatus:
    __slots__ = ("last", "next", "last_updated")

    def __init__(self, last: str = "", next: str = "", last_updated: str = "") -> None:
        self.last = last
        self.next = next
        self.last_updated = last_updated


class TimerInfo:
    """What a timer trigger receives."""

    __slots__ = ("past_due", "schedule", "schedule_status")

    def __init__(self, past_due: bool = False, schedule: Any = None, schedule_status: Optional[ScheduleStatus] = None):
        self.past_due = past_due
        self.schedule = schedule
        self.schedule_status = schedule_status

    @property
    def is_past_due(self) -> bool:
        return self.past_due


class QueueMessage:
    """A queue message, with the metadata the queue trigger adds."""

    __slots__ = (
        "id",
        "_body",
        "dequeue_count",
        "insertion_time",
        "expiration_time",
        "time_next_visible",
        "pop_receipt",
    )

    def __init__(
        self,
        body: Union[str, bytes] = b"",
        *,
        id: str = "",
        dequeue_count: int = 1,
        insertion_time: Optional[str] = None,
        expiration_time: Optional[str] = None,
        time_next_visible: Optional[str] = None,
        pop_receipt: Optional[str] = None,
    ) -> None:
        self.id = id
        self._body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.dequeue_count = dequeue_count
        self.insertion_time = insertion_time
        self.expiration_time = expiration_time
        self.time_next_visible = time_next_visible
        self.pop_receipt = pop_receipt

    def get_body(self) -> bytes:
        return self._body

    def get_text(self) -> str:
        """The body as text (invalid UTF-8 replaced by U+FFFD)."""
        return self._body.decode("utf-8", errors="replace")

    def get_json(self) -> Any:
        return _native.parse_json(self._body, "the queue message")

    def __repr__(self) -> str:
        return f"<QueueMessage {self.id!r}, {len(self._body)} bytes>"


class Blob:
    """A blob that triggered the function, with the blob trigger's metadata: what the Rust SDK's
    `fnwire::Blob` gives (the core builds both from the same trigger metadata). Annotate a blob
    trigger's parameter `fnwire.Blob` to get it; `bytes` or `str` get the content alone."""

    __slots__ = (
        "path",
        "_content",
        "uri",
        "etag",
        "content_type",
        "last_modified",
        "metadata",
        "parameters",
    )

    def __init__(
        self,
        path: str,
        content: Union[str, bytes] = b"",
        *,
        uri: Optional[str] = None,
        etag: Optional[str] = None,
        content_type: Optional[str] = None,
        last_modified: Optional[str] = None,
        metadata: Optional[Mapping[str, str]] = None,
        parameters: Optional[Mapping[str, str]] = None,
    ) -> None:
        # `container/name` (`BlobTrigger`).
        self.path = path
        self._content = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        # Where the blob lives (`Uri`).
        self.uri = uri
        # The version that triggered (`Properties.ETag`).
        self.etag = etag
        # As the store gave it, e.g. `image/png` (`Properties.ContentType`).
        self.content_type = content_type
        # When this version was written (`Properties.LastModified`).
        self.last_modified = last_modified
        # User metadata (`Metadata`).
        self.metadata: Dict[str, str] = dict(metadata or {})
        # The values of the trigger path's `{parameters}`, e.g. `{"name": "cat.png"}`.
        self.parameters: Dict[str, str] = dict(parameters or {})

    @property
    def name(self) -> str:
        """The blob's name inside its container (`path` without the container)."""
        return self.path.partition("/")[2]

    @property
    def container(self) -> str:
        return self.path.partition("/")[0]

    @property
    def length(self) -> int:
        """The content's size in bytes."""
        return len(self._content)

    def read(self) -> bytes:
        return self._content

    def get_text(self) -> str:
        """The content as text (invalid UTF-8 replaced by U+FFFD)."""
        return self._content.decode("utf-8", errors="replace")

    def get_json(self) -> Any:
        return _native.parse_json(self._content, "the blob")

    def __repr__(self) -> str:
        return f"<Blob {self.path!r}, {len(self._content)} bytes>"


class ServiceBusMessage:
    """A Service Bus message that triggered the function, with what the host sends beside it:
    what the Rust SDK's `fnwire::ServiceBusMessage` gives (the core builds both from the same
    trigger metadata). Annotate a `service_bus_trigger`'s parameter `fnwire.ServiceBusMessage` to
    get it; `str`, `bytes`, `dict` or no annotation get the body alone."""

    __slots__ = (
        "_body",
        "application_properties",
        "message_id",
        "content_type",
        "correlation_id",
        "subject",
        "to",
        "reply_to",
        "session_id",
        "partition_key",
        "delivery_count",
        "sequence_number",
        "enqueued_time_utc",
        "expires_at_utc",
        "lock_token",
    )

    def __init__(
        self,
        body: Union[str, bytes] = b"",
        *,
        application_properties: Optional[Mapping[str, Any]] = None,
        message_id: Optional[str] = None,
        content_type: Optional[str] = None,
        correlation_id: Optional[str] = None,
        subject: Optional[str] = None,
        to: Optional[str] = None,
        reply_to: Optional[str] = None,
        session_id: Optional[str] = None,
        partition_key: Optional[str] = None,
        delivery_count: int = 0,
        sequence_number: int = 0,
        enqueued_time_utc: Optional[str] = None,
        expires_at_utc: Optional[str] = None,
        lock_token: Optional[str] = None,
    ) -> None:
        self._body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        # What the sender set, and what a subscription's action set or removed on this copy.
        self.application_properties: Dict[str, Any] = dict(application_properties or {})
        self.message_id = message_id
        self.content_type = content_type
        self.correlation_id = correlation_id
        # `Subject` (`Label` in older SDKs).
        self.subject = subject
        self.to = to
        self.reply_to = reply_to
        self.session_id = session_id
        self.partition_key = partition_key
        # Deliveries so far, this one included.
        self.delivery_count = delivery_count
        self.sequence_number = sequence_number
        # RFC 3339 times.
        self.enqueued_time_utc = enqueued_time_utc
        self.expires_at_utc = expires_at_utc
        self.lock_token = lock_token

    @property
    def user_properties(self) -> Dict[str, Any]:
        """`application_properties` under the name azure.functions gives them."""
        return self.application_properties

    @property
    def label(self) -> Optional[str]:
        """`subject` under its older name."""
        return self.subject

    def get_body(self) -> bytes:
        return self._body

    def get_text(self) -> str:
        """The body as text (invalid UTF-8 replaced by U+FFFD)."""
        return self._body.decode("utf-8", errors="replace")

    def get_json(self) -> Any:
        return _native.parse_json(self._body, "the Service Bus message")

    def __repr__(self) -> str:
        return f"<ServiceBusMessage {self.message_id!r}, delivery {self.delivery_count}, {len(self._body)} bytes>"


class Out(Generic[T]):
    """An output binding: `set()` its value; it is sent when the function returns."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: Optional[T] = None

    def set(self, value: T) -> None:
        self._value = value

    def get(self) -> Optional[T]:
        return self._value


def service_bus_message(
    body: Any,
    *,
    properties: Optional[Mapping[str, Any]] = None,
    message_id: Optional[str] = None,
    correlation_id: Optional[str] = None,
    subject: Optional[str] = None,
    content_type: Optional[str] = None,
    session_id: Optional[str] = None,
    time_to_live_ms: Optional[int] = None,
    scheduled_enqueue_time_utc: Optional[str] = None,
) -> Dict[str, Any]:
    """A Service Bus message with properties, for a `service_bus_output`: the host reads this
    `{"$serviceBus": {...}}` envelope (and checks it); `body` is text, or any JSON value."""
    fields: Dict[str, Any] = {"body": body}
    optional = {
        "applicationProperties": dict(properties) if properties else None,
        "messageId": message_id,
        "correlationId": correlation_id,
        "subject": subject,
        "contentType": content_type,
        "sessionId": session_id,
        "timeToLive": time_to_live_ms,
        "scheduledEnqueueTimeUtc": scheduled_enqueue_time_utc,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    return {"$serviceBus": fields}
