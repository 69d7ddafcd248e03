"""Azure Functions in Python on fnwire's Rust worker core.

```python
import fnwire
app = fnwire.App()

@app.http_trigger(route="hello/{name?}", methods=["GET", "POST"], auth_level="anonymous")
def hello(req: fnwire.HttpRequest) -> fnwire.HttpResponse:
    return fnwire.HttpResponse(f"Hello, {req.route_params.get('name') or 'world'}!")
```

Run it with `fnwire start <app dir>`; a host starts the worker as `python -m fnwire`.
"""

from ._app import App, FunctionDefinitionError, FunctionInfo
from ._types import (
    Blob,
    Context,
    HttpHeaders,
    HttpRequest,
    HttpResponse,
    Out,
    QueueMessage,
    RetryContext,
    ScheduleStatus,
    ServiceBusMessage,
    TimerInfo,
    TraceContext,
    service_bus_message,
)

__version__ = "0.1.0"

__all__ = [
    "App",
    "Blob",
    "Context",
    "FunctionDefinitionError",
    "FunctionInfo",
    "HttpHeaders",
    "HttpRequest",
    "HttpResponse",
    "Out",
    "QueueMessage",
    "RetryContext",
    "ScheduleStatus",
    "ServiceBusMessage",
    "TimerInfo",
    "TraceContext",
    "service_bus_message",
]
