import json
import os

import azure.functions as func


async def run(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({
            "function": context.function_name,
            "directory": os.path.basename(context.function_directory),
            "module": __name__,
            "invocation": context.invocation_id == context.thread_local_storage.invocation_id,
        }),
        mimetype="application/json",
    )
