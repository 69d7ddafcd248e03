import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("fnwire conformance: deliberate failure")
