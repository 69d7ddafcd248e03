import azure.functions as func

from ..shared_code.contract import TEXT_TEMPLATE, text


def main(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() == "POST":
        try:
            name = req.get_body().decode("utf-8")
        except UnicodeDecodeError:
            return text("invalid UTF-8", 400)
    else:
        name = req.params.get("name") or "Welt"
    return text(TEXT_TEMPLATE.format(name=name))
