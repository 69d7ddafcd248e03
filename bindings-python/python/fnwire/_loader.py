"""Loads the function app and hands its functions to the Rust core."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, Dict, List, Optional

from . import _azure, _native, _worker
from ._app import App, FunctionDefinitionError, FunctionInfo

DEFAULT_SCRIPT = "function_app.py"


class AppLoadError(Exception):
    """The app could not be loaded; the message says why and what to do."""


def app_directory() -> str:
    return os.environ.get("FUNCTIONS_APPLICATION_DIRECTORY") or os.getcwd()


def load_app(directory: str, script: Optional[str] = None) -> Any:
    """Imports the app's script (`PYTHON_SCRIPT_FILE_NAME`, default function_app.py) and returns its
    one `fnwire.App`, or the `azure.functions` app it builds. Without the script, a folder of
    `function.json` functions is an azure.functions v1 app."""
    script = script or os.environ.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_SCRIPT
    path = os.path.join(directory, script)
    if not os.path.isfile(path) and _azure.v1_function_dirs(directory):
        return _azure.load_v1_app(directory)
    if not os.path.isfile(path):
        raise AppLoadError(
            f"no `{script}` in {directory}: a Python function app defines its functions there "
            "(or set PYTHON_SCRIPT_FILE_NAME to the script's name)"
        )
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = os.path.splitext(os.path.basename(script))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"`{path}` cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    apps = [(name, value) for name, value in vars(module).items() if isinstance(value, App)]
    if not apps:
        azure_app = _azure.find_v2_app(module, directory, script)
        if azure_app is not None:
            return azure_app
    if len(apps) != 1:
        found = ", ".join(name for name, _ in apps) or "none"
        raise AppLoadError(
            f"`{script}` must define exactly one `fnwire.App` at module level (found: {found}); "
            "e.g. `app = fnwire.App()` (an azure.functions app builds one `func.FunctionApp` instead)"
        )
    return apps[0][1]


def sync_threads(app: Optional[App]) -> int:
    if app is not None and app.sync_threads:
        return app.sync_threads
    text = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "")
    if text.strip():
        try:
            count = int(text)
            if count > 0:
                return count
        except ValueError:
            pass
        print(f"fnwire: ignoring PYTHON_THREADPOOL_THREAD_COUNT={text!r}: expected a positive integer", file=sys.stderr)
    return min(32, (os.cpu_count() or 1) + 4)


def _entries(functions: List[Any], script: str) -> List[Any]:
    if any(f.is_async for f in functions):
        _worker.start_loop()
    for f in functions:
        # An `azure.functions` app's functions know their own file; fnwire's take the app's.
        if isinstance(f, FunctionInfo):
            f.script_file = script
    return functions


def serve(functions: List[FunctionInfo], argv: List[str], threads: int, script: str, placeholder: bool = False) -> int:
    def reload(directory: str, environment: Dict[str, str]) -> List[Any]:
        # The core replaced the process environment; make os.environ agree.
        os.environ.clear()
        os.environ.update(environment)
        app = load_app(directory, os.environ.get("PYTHON_SCRIPT_FILE_NAME") or script)
        return _entries(app.functions(), script)

    try:
        return _native.serve(_entries(functions, script), argv, _worker, threads, reload if placeholder else None)
    finally:
        _worker.stop_loop()


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    directory = app_directory()
    script = os.environ.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_SCRIPT
    _worker.install_logging()
    # Placeholder mode: a host may start the worker before the app exists, and name the app's
    # directory later (FunctionEnvironmentReloadRequest); the app is loaded then.
    placeholder = not os.path.isfile(os.path.join(directory, script)) and not _azure.v1_function_dirs(directory)
    functions: List[FunctionInfo] = []
    threads = sync_threads(None)
    if not placeholder:
        try:
            app = load_app(directory, script)
            functions = app.functions()
            if not functions:
                raise AppLoadError(f"`{script}` declares no functions: decorate one with e.g. `@app.http_trigger(...)`")
        except (AppLoadError, FunctionDefinitionError, _azure.AzureAppError) as e:
            print(f"fnwire: {e}", file=sys.stderr)
            sys.exit(3)
        threads = sync_threads(app)
    try:
        code = serve(functions, argv, threads, script, placeholder)
    except ValueError as e:
        print(f"fnwire: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalization: function threads that outlived the grace period may still
    # hold Python objects, and the worker has nothing left to clean up (BRIDGE.md).
    os._exit(code)
