"""Loads `azure.functions` apps unchanged: the v2 decorator model (`function_app.py` building a
`func.FunctionApp`, with blueprints, `AsgiFunctionApp`/`WsgiFunctionApp`) and the v1 model
(folders with `function.json` and a script with `main`).

Functions are indexed from the app object itself (`get_functions()`, `get_raw_bindings()`) or
from `function.json`, and each parameter is matched to its binding by the rules of Microsoft's
Python worker (by name; `context`; `func.Out[T]`; the annotation checked by the binding's
converter). Anything fnwire's worker cannot run is refused here, at start, naming the function,
the binding and what to do. Calling is `_azure_invoke`'s.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import types
import typing
from typing import Any, Dict, List, Optional, Tuple

# Microsoft's worker imports v1 scripts as submodules of this package rooted at the app folder,
# so that relative imports between function folders work; apps rely on the name.
APP_PACKAGE = "__app__"
DEFAULT_V1_SCRIPT = "__init__.py"
DEFAULT_V1_ENTRY_POINT = "main"


class AzureAppError(Exception):
    """The azure.functions app cannot run on fnwire's worker; the message says why and what to do."""


class AzureApp:
    """The functions of an azure.functions app, in the form `fnwire._loader` serves."""

    sync_threads = None  # PYTHON_THREADPOOL_THREAD_COUNT, as for Microsoft's worker

    def __init__(self, functions: List[Any]) -> None:
        self._functions = functions

    def functions(self) -> List[Any]:
        return self._functions


def find_v2_app(module: types.ModuleType, directory: str, script: str) -> Optional[AzureApp]:
    """The app of a script that builds a `func.FunctionApp` (or another `FunctionRegister`), or
    None when the script does not use azure.functions."""
    library = sys.modules.get("azure.functions")
    if library is None:
        return None
    registers = [name for name, value in vars(module).items() if isinstance(value, library.FunctionRegister)]
    if not registers:
        return None
    if len(registers) > 1:
        raise AzureAppError(
            f"`{script}` defines {len(registers)} function apps ({', '.join(registers)}); azure.functions "
            "apps have exactly one at module level: register the others' functions as blueprints "
            "(`app.register_functions(bp)`)"
        )
    app = getattr(module, registers[0])
    try:
        functions = app.get_functions()
    except (ValueError, TypeError) as e:
        raise AzureAppError(f"`{script}`: azure.functions rejected the app: {e}") from None
    script_file = os.path.join(directory, script)
    indexed, problems = [], []
    for function in functions:
        try:
            indexed.append(_index_v2(function, directory, script_file))
        except AzureAppError as e:
            problems.append(str(e))
    if problems:
        raise AzureAppError("\n".join(problems))
    if not indexed:
        raise AzureAppError(f"`{script}` builds a function app with no functions: decorate one, e.g. `@app.route()`")
    return AzureApp(indexed)


def _index_v2(function: Any, directory: str, script_file: str) -> Any:
    name = function.get_function_name()
    user_function = function.get_user_function()
    http_type = getattr(function, "http_type", "function")
    if http_type not in ("function", "asgi", "wsgi"):
        raise AzureAppError(
            f"function `{name}`: `@app.http_type({http_type!r})` is not supported by fnwire's worker "
            "(it runs `function`, `asgi` and `wsgi` functions): remove the decorator"
        )
    if function.get_setting("retry_policy") is not None:
        raise AzureAppError(
            f"function `{name}`: `@app.retry(...)` is not supported by fnwire's worker yet (the retry policy "
            "would be ignored): remove the decorator to run the function without retries"
        )
    raw_bindings = function.get_raw_bindings()
    bindings = [json.loads(text) for text in raw_bindings]
    return bind(name, user_function, raw_bindings, bindings, directory, script_file, user_function.__name__)


# -- v1: function.json folders ------------------------------------------------------------------


def v1_function_dirs(directory: str) -> List[str]:
    """The folders of `directory` that hold a `function.json` (the v1 model), sorted."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [
        os.path.join(directory, entry)
        for entry in entries
        if os.path.isfile(os.path.join(directory, entry, "function.json"))
    ]


def load_v1_app(directory: str) -> AzureApp:
    """Loads every `<folder>/function.json` function of a v1 app, as Microsoft's worker does:
    `scriptFile` (default `__init__.py`) resolved against the folder, `entryPoint` (default `main`)."""
    folders = v1_function_dirs(directory)
    if not folders:
        raise AzureAppError(
            f"no function.json in the folders of {directory}: a v1 azure.functions app has one folder per "
            "function, each with function.json and __init__.py"
        )
    _install_app_package(directory)
    indexed, problems = [], []
    for folder in folders:
        try:
            function = _load_v1_function(directory, folder)
        except AzureAppError as e:
            problems.append(str(e))
            continue
        if function is not None:
            indexed.append(function)
    if problems:
        raise AzureAppError("\n".join(problems))
    return AzureApp(indexed)


def _install_app_package(directory: str) -> None:
    if directory not in sys.path:
        sys.path.insert(0, directory)
    package = sys.modules.get(APP_PACKAGE)
    if package is None:
        package = types.ModuleType(APP_PACKAGE)
        package.__path__ = []  # type: ignore[attr-defined]
        sys.modules[APP_PACKAGE] = package
    if directory not in package.__path__:  # type: ignore[attr-defined]
        package.__path__.append(directory)  # type: ignore[attr-defined]


def _load_v1_function(directory: str, folder: str) -> Optional[Any]:
    name = os.path.basename(folder)
    path = os.path.join(folder, "function.json")
    try:
        with open(path, encoding="utf-8-sig") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise AzureAppError(f"function `{name}`: cannot read {path}: {e}; fix the file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("bindings"), list):
        raise AzureAppError(f"function `{name}`: {path} has no `bindings` list; add the function's bindings")
    if doc.get("disabled") in (True, "true", "True"):
        return None
    script = doc.get("scriptFile") or DEFAULT_V1_SCRIPT
    entry_point = doc.get("entryPoint") or DEFAULT_V1_ENTRY_POINT
    script_path = os.path.normpath(os.path.join(folder, script))
    relative = os.path.relpath(script_path, directory)
    parts = relative.split(os.sep)
    if parts[0] == os.pardir:
        raise AzureAppError(
            f"function `{name}`: scriptFile `{script}` resolves to {script_path}, outside the app folder "
            f"{directory}; move the script into the app"
        )
    module_name, extension = os.path.splitext(parts[-1])
    if extension != ".py":
        raise AzureAppError(f"function `{name}`: scriptFile `{script}` is not a Python file (.py)")
    if not os.path.isfile(script_path):
        raise AzureAppError(f"function `{name}`: scriptFile `{script}` not found (tried {script_path})")
    dotted = [APP_PACKAGE, *parts[:-1]]
    if module_name != "__init__":
        dotted.append(module_name)
    try:
        module = importlib.import_module(".".join(dotted))
    except Exception as e:
        raise AzureAppError(f"function `{name}`: importing {script_path} failed: {type(e).__name__}: {e}") from e
    user_function = getattr(module, entry_point, None)
    if user_function is None or not callable(user_function):
        raise AzureAppError(
            f"function `{name}`: {relative} has no function `{entry_point}()`; define it, or set "
            "`entryPoint` in function.json to the function's name"
        )
    bindings = doc["bindings"]
    raw_bindings = [json.dumps(b, ensure_ascii=False) for b in bindings]
    return bind(name, user_function, raw_bindings, bindings, folder, script_path, entry_point)


# -- parameters ---------------------------------------------------------------------------------


def bind(
    name: str,
    user_function: Any,
    raw_bindings: List[str],
    bindings: List[Dict[str, Any]],
    directory: str,
    script_file: str,
    entry_point: str,
) -> Any:
    """Matches the function's parameters to its bindings as Microsoft's worker does."""
    from . import _azure_invoke as invoke

    def fail(message: str) -> AzureAppError:
        return AzureAppError(f"function `{name}`: {message}")

    params = dict(inspect.signature(user_function).parameters)
    try:
        hints = typing.get_type_hints(user_function)
    except Exception:
        hints = dict(getattr(user_function, "__annotations__", {}))

    bound: Dict[str, Tuple[str, str]] = {}
    return_type: Optional[str] = None
    for binding in bindings:
        binding_name = str(binding.get("name", ""))
        binding_type = str(binding.get("type", ""))
        direction = str(binding.get("direction", "")).lower()
        if direction == "inout":
            raise fail(f"binding `{binding_name}` ({binding_type}) has direction `inout`, which Azure's Python workers "
                       "do not support: split it into an input and an output binding")
        if binding_name == invoke.RETURN:
            if direction != "out":
                raise fail(f"the `$return` binding ({binding_type}) must have direction `out`")
            return_type = binding_type
        else:
            bound[binding_name] = (binding_type, direction)

    requires_context = "context" in params and "context" not in bound
    if requires_context:
        params.pop("context")
        annotation = hints.get("context")
        if annotation is not None and getattr(annotation, "__name__", None) != "Context":
            raise fail(f"the `context` parameter is annotated {annotation!r}; annotate it `func.Context` or not at all")

    unbound = [p for p in params if p not in bound]
    if unbound:
        raise fail(
            f"parameter(s) {', '.join(unbound)} match no binding: parameters bind by name, so name a binding "
            "after each (e.g. `arg_name=...`) or remove the parameter"
        )
    missing = [b for b in bound if b not in params]
    if missing:
        raise fail(f"binding(s) {', '.join(missing)} have no parameter of that name: add one per binding")

    inputs, outputs = [], []
    for param in params.values():
        binding_type, direction = bound[param.name]
        has_annotation = param.name in hints
        annotation = hints.get(param.name)
        is_out = _is_out(annotation)
        pytype = _out_arg(annotation) if is_out else annotation
        where = f"parameter `{param.name}` (binding `{binding_type}`)"
        if is_out and pytype is None:
            raise fail(f"{where}: `func.Out` needs the type it carries, e.g. `func.Out[str]`")
        if _is_sdk_type(pytype):
            raise fail(
                f"{where} is annotated `{_type_name(pytype)}`, an SDK-type binding of azurefunctions-extensions, "
                "which fnwire's worker does not support: use `bytes`, `str` or `func.InputStream` instead"
            )
        is_binding_out = direction == "out"
        if is_binding_out and has_annotation and not is_out:
            raise fail(f"{where} is an output binding, so annotate it `func.Out[...]`, not `{_type_name(annotation)}`")
        if not is_binding_out and is_out:
            raise fail(f"{where} is an input binding, but it is annotated `func.Out[...]`")
        # `str`/`bytes` take the raw data, except on triggers with an implicit output (the durable
        # ones), whose converter always decodes: an activity's `str` input is the value itself.
        as_generic = has_annotation and pytype in (str, bytes) and not _has_implicit_output(binding_type)
        bind_type = "generic" if as_generic else binding_type
        if has_annotation and pytype is not None:
            checker = invoke.converter(bind_type)
            accepted = _accepts(checker, pytype, output=is_binding_out)
            if not accepted and pytype in (dict, list) and not is_binding_out:
                bind_type, accepted = "generic", True
            if not accepted:
                raise fail(f"{where}: azure.functions' `{bind_type}` converter does not accept `{_type_name(pytype)}`; "
                           "use the type the binding gives (e.g. func.HttpRequest, func.QueueMessage, str, bytes)")
        has_default = param.default is not inspect.Parameter.empty
        if is_binding_out:
            outputs.append(invoke.Param(param.name, bind_type, pytype, "", has_default))
            continue
        if bind_type == "httpTrigger":
            kind = "http"
        elif bind_type == "queueTrigger":
            kind = "queue"
        elif bind_type == "blobTrigger":
            kind = "blob"
        elif bind_type == "serviceBusTrigger":
            kind = "with_metadata"  # the library's converter reads the message's properties from it
        else:
            kind = "raw"
        inputs.append(invoke.Param(param.name, bind_type, pytype, kind, has_default))

    return_param = None
    if return_type is not None:
        annotation = hints.get("return")
        if annotation is type(None):
            annotation = None
        if _is_out(annotation):
            raise fail("the return annotation must not be `func.Out[...]`: return the value itself")
        if annotation is not None and not _accepts(invoke.converter(return_type), annotation, output=True):
            raise fail(
                f"the return annotation `{_type_name(annotation)}` does not fit the `$return` binding "
                f"(`{return_type}`): return what that binding takes (e.g. func.HttpResponse or str)"
            )
        return_param = invoke.Param(invoke.RETURN, return_type, annotation, "", False)
    else:
        return_param = _implicit_return(bound)
    return invoke.AzureFunction(
        name=name,
        func=user_function,
        raw_bindings=raw_bindings,
        inputs=inputs,
        outputs=outputs,
        return_param=return_param,
        requires_context=requires_context,
        directory=directory,
        script_file=script_file,
        entry_point=entry_point,
    )


def _is_out(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and origin.__name__ == "Out"


def _out_arg(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return args[0] if len(args) == 1 else None


def _accepts(converter: Any, pytype: Any, *, output: bool) -> bool:
    check = converter.check_output_type_annotation if output else converter.check_input_type_annotation
    try:
        return bool(check(pytype))
    except TypeError:
        # Generic aliases (e.g. List[str]) make `issubclass` raise in some converters.
        return False


def _is_sdk_type(pytype: Any) -> bool:
    module = getattr(pytype, "__module__", "") or ""
    return module.startswith("azurefunctions.extensions") or module.startswith("azure.storage")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__qualname__", None) or repr(annotation)


def _has_implicit_output(binding_type: str) -> bool:
    from . import _azure_invoke as invoke

    implicit = getattr(invoke.converter(binding_type), "has_implicit_output", None)
    return bool(callable(implicit) and implicit())


def _implicit_return(bound: Dict[str, Tuple[str, str]]) -> Any:
    """The `$return` of a trigger whose converter says it has an implicit output (the durable
    triggers: orchestration, activity, entity): as Microsoft's worker does, the function's value
    goes back through that converter although the app declares no `$return` binding."""
    from . import _azure_invoke as invoke

    for binding_type, direction in bound.values():
        if direction == "in" and binding_type.endswith("Trigger") and _has_implicit_output(binding_type):
            return invoke.Param(invoke.RETURN, binding_type, None, "", False)
    return None
