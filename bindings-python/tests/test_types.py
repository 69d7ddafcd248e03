"""The value types and the conversions the runner applies."""

import datetime
import json
import pathlib

import pytest

import fnwire
from fnwire import _native
from fnwire._worker import _encode

RULES = json.loads(
    (pathlib.Path(__file__).resolve().parents[2] / "sdk-rust" / "tests" / "data" / "response-rules.json").read_text()
)


def test_headers_are_case_insensitive():
    req = fnwire.HttpRequest("GET", "http://x/api/a", headers=[("Content-Type", "text/plain")], body=b"{}")
    assert req.headers["content-type"] == "text/plain"
    assert "CONTENT-TYPE" in req.headers
    assert req.headers.get("missing") is None


def test_get_json_uses_the_core_parser_and_says_where():
    assert fnwire.HttpRequest("POST", "u", body=b'{"a":[1,2.5,null,true]}').get_json() == {"a": [1, 2.5, None, True]}
    with pytest.raises(ValueError, match="the request body is not valid JSON: .*line 1 column"):
        fnwire.HttpRequest("POST", "u", body=b"{nope").get_json()


def test_response_content_types():
    assert fnwire.HttpResponse("hi").headers["Content-Type"] == "text/plain; charset=utf-8"
    assert fnwire.HttpResponse(b"\x00").headers["Content-Type"] == "application/octet-stream"
    assert "Content-Type" not in fnwire.HttpResponse().headers
    assert fnwire.HttpResponse("x", mimetype="text/html").headers["Content-Type"] == "text/html; charset=utf-8"
    own = fnwire.HttpResponse("x", headers={"content-type": "application/xml"})
    assert own.mimetype == "application/xml"
    data = fnwire.HttpResponse.json({"é": [1]}, status_code=201)
    assert (data.status_code, data.get_body()) == (201, '{"é":[1]}'.encode())
    with pytest.raises(ValueError, match="status code 42 is not an HTTP status code"):
        fnwire.HttpResponse("x", status_code=42)
    with pytest.raises(TypeError, match="status_code must be an int"):
        fnwire.HttpResponse("x", status_code="200")
    with pytest.raises(TypeError, match="HttpResponse.json"):
        fnwire.HttpResponse({"a": 1})


def test_encoding_of_outputs():
    response = fnwire.HttpResponse("ok", status_code=201)
    response.set_cookie("s", "v", path="/", http_only=True)
    # A response crosses as it is: the core reads its fields (and checks them) in one conversion.
    assert _encode(response, "http", "$return") is response
    assert [c.name for c in response.cookies] == ["s"]
    assert _encode("text", None, "out") == "text"
    assert _encode(b"\x01", None, "out") == b"\x01"
    json_value = _encode({"a": 1}, None, "out")
    assert isinstance(json_value, _native.JsonText) and json_value.text == '{"a":1}'
    plain = _encode("plain", "http", "$return")
    assert isinstance(plain, fnwire.HttpResponse) and plain.get_body() == b"plain"
    with pytest.raises(TypeError, match="cannot send a object to binding `out`"):
        _encode(object(), None, "out")


def _verdict(action):
    try:
        action()
    except ValueError as e:
        return str(e)
    return None


@pytest.mark.parametrize("case", RULES["status"], ids=lambda c: str(c["value"]))
def test_status_codes_follow_the_shared_rules(case):
    assert _verdict(lambda: fnwire.HttpResponse("x", status_code=case["value"])) == case["error"]


@pytest.mark.parametrize(
    "key,option",
    [("same_site", "same_site"), ("expires_seconds", "expires"), ("max_age_seconds", "max_age")],
)
def test_cookies_follow_the_shared_rules(key, option):
    for case in RULES[key]:
        response = fnwire.HttpResponse("x")
        assert _verdict(lambda: response.set_cookie("c", "v", **{option: case["value"]})) == case["error"], case


def test_cookie_expires_takes_a_datetime():
    at = datetime.datetime(2030, 1, 2, tzinfo=datetime.timezone.utc)
    response = fnwire.HttpResponse("x")
    response.set_cookie("c", "v", expires=at, same_site="strict")
    assert response.cookies[0].name == "c"


def test_out_and_queue_message():
    out = fnwire.Out()
    assert out.get() is None
    out.set("x")
    assert out.get() == "x"
    msg = fnwire.QueueMessage("hé", id="1", dequeue_count=2)
    assert (msg.get_body(), msg.get_text(), msg.id, msg.dequeue_count) == ("hé".encode(), "hé", "1", 2)
