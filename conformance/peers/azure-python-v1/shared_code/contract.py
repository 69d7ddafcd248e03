"""Helpers every function of the v1 contract app uses (conformance/CONTRACT.md)."""

import json

import azure.functions as func

LARGE_DEFAULT = 16 * 1024 * 1024
LARGE_MAX = 64 * 1024 * 1024
SLEEP_MAX_MS = 600_000
TEXT_TEMPLATE = "Grüße, {name}! ☃ 日本語 🚀"


def text(body: str, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype="text/plain", charset="utf-8")


def json_response(value) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), mimetype="application/json")


def json_kind(value) -> str:
    # bool before number: in Python a bool is an int.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def large_pattern(size: int) -> bytes:
    cycle = bytes(i % 251 for i in range(251))
    return (cycle * (size // 251 + 1))[:size]
