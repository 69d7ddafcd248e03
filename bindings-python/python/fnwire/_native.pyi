# The native part of fnwire (Rust, PyO3). Internal: its API changes with the package.
# What crosses per invocation is typed: see BRIDGE.md, "What crosses".
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

CORE_VERSION: str

def build_binding(decorator: str, options: dict[str, Any]) -> Tuple[str, Optional[str], Optional[str]]: ...
def validate_function(name: str, bindings: List[str]) -> List[str]: ...
def function_id(name: str) -> str: ...
def parse_json(data: bytes, what: str) -> Any: ...
def check_status(code: int) -> int: ...
def async_wakeup_fd() -> int: ...
def take_async_calls() -> List[Tuple[Any, List[Any], ContextData, LogSink, Completion]]: ...
def serve(functions: Sequence[Tuple[Any, ...]], argv: List[str], runner: Any, sync_threads: int, reload: Optional[Callable[[str, dict[str, str]], List[Tuple[Any, ...]]]] = None) -> int: ...
def host_main(argv: List[str]) -> int: ...

class LogSink:
    def emit(self, records: List[Tuple[int, str]]) -> None: ...

class Completion:
    def __call__(self, outcome: Union[Success, Failure]) -> None: ...

# Rust -> Python, per invocation.
class HttpRequestData:
    method: str
    url: str
    headers: List[Tuple[str, str]]
    query: Dict[str, str]
    params: Dict[str, str]
    body: bytes

class ScheduleStatusData:
    last: str
    next: str
    last_updated: str

class TimerData:
    is_past_due: bool
    schedule: str
    schedule_status: Optional[ScheduleStatusData]

class TriggerData:
    value: Any
    metadata: List[Tuple[str, Any]]

class QueueMessageData:
    id: str
    body: bytes
    dequeue_count: int
    insertion_time: Optional[str]
    expiration_time: Optional[str]
    next_visible_time: Optional[str]
    pop_receipt: Optional[str]

class BlobData:
    path: str
    content: bytes
    uri: Optional[str]
    etag: Optional[str]
    content_type: Optional[str]
    last_modified: Optional[str]
    metadata: Dict[str, str]
    parameters: Dict[str, str]

class ServiceBusMessageData:
    body: bytes
    application_properties: str
    message_id: Optional[str]
    content_type: Optional[str]
    correlation_id: Optional[str]
    subject: Optional[str]
    to: Optional[str]
    reply_to: Optional[str]
    session_id: Optional[str]
    partition_key: Optional[str]
    delivery_count: int
    sequence_number: int
    enqueued_time_utc: Optional[str]
    expires_at_utc: Optional[str]
    lock_token: Optional[str]

class JsonText:
    text: str
    def __init__(self, text: str) -> None: ...

class UnsupportedData:
    kind: str

class RetryData:
    retry_count: int
    max_retry_count: int
    exception_message: Optional[str]

class ContextData:
    invocation_id: str
    function_name: str
    function_id: str
    trace_parent: str
    trace_state: str
    attributes: Dict[str, str]
    retry: Optional[RetryData]

# Python -> Rust, per invocation.
class Cookie:
    name: str
    value: str
    def __init__(
        self,
        name: str,
        value: str,
        *,
        domain: Optional[str] = None,
        path: Optional[str] = None,
        expires: Optional[float] = None,
        secure: Optional[bool] = None,
        http_only: Optional[bool] = None,
        same_site: Optional[str] = None,
        max_age: Optional[float] = None,
    ) -> None: ...

class HttpResponseData:
    def __init__(self, status: int, headers: List[Tuple[str, str]], cookies: List[Cookie], body: bytes) -> None: ...

# A `fnwire.HttpResponse` is read by the core as it is (BRIDGE.md).
OutputValue = Union[HttpResponseData, JsonText, str, bytes, Any]

class Success:
    def __init__(self, return_value: Optional[OutputValue], outputs: Dict[str, OutputValue]) -> None: ...

class Failure:
    error_type: str
    message: str
    traceback: str
    def __init__(self, error_type: str, message: str, traceback: str) -> None: ...
