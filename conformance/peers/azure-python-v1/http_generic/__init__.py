import azure.functions as func

from ..shared_code.contract import text


def main(req: func.HttpRequest, probe: str = None) -> func.HttpResponse:
    if isinstance(probe, bytes):
        probe = probe.decode("utf-8")
    return text("probe:" + (probe if probe else "<none>"))
