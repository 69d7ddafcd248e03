"""The azure-python-v1 peer's worker: the azure-python peer's thin gRPC shell
(`../azure-python/worker_shell.py`) around Microsoft's `azure-functions-runtime-v1`, the
function.json (v1 model) runtime, with this folder's virtualenv and generated protos."""

import os
import runpy

HERE = os.path.dirname(os.path.abspath(__file__))
runpy.run_path(
    os.path.join(HERE, "..", "azure-python", "worker_shell.py"),
    init_globals={
        "PEER_DIR": HERE,
        "PEER_NAME": "azure-python-v1",
        "RUNTIME_MODULE": "azure_functions_runtime_v1",
        "APP_DIR_ON_PATH": False,
    },
    run_name="__main__",
)
