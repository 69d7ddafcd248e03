"""A WSGI application (a bare one, no framework needed) served through func.WsgiFunctionApp."""

import json

import azure.functions as func


def wsgi_app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    answer = json.dumps({
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ.get("QUERY_STRING", ""),
        "body": body.decode(),
    }).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Wsgi", "yes")])
    return [answer]


app = func.WsgiFunctionApp(app=wsgi_app, http_auth_level=func.AuthLevel.ANONYMOUS)
