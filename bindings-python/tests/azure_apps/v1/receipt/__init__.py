import azure.functions as func


def main(req, result: func.InputStream):
    if result is None:
        return func.HttpResponse("not yet", status_code=404)
    return func.HttpResponse(result.read(), mimetype="text/plain")
