"""The value types and the conversions the runner applies."""

import pytest

import fnwire
from fnwire._app import _encode


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
    with pytest.raises(ValueError, match="status_code"):
        fnwire.HttpResponse("x", status_code=42)
    with pytest.raises(TypeError, match="HttpResponse.json"):
        fnwire.HttpResponse({"a": 1})


def test_encoding_of_outputs():
    response = fnwire.HttpResponse("ok", status_code=201)
    response.set_cookie("s", "v", path="/", http_only=True)
    tag, status, headers, body, cookies = _encode(response, "http", "$return")
    assert (tag, status, body) == ("http", 201, b"ok")
    assert cookies == [("s", "v", None, "/", None, False, True, None, None)]
    assert _encode("text", None, "out") == ("string", "text")
    assert _encode(b"\x01", None, "out") == ("bytes", b"\x01")
    assert _encode({"a": 1}, None, "out") == ("json", '{"a":1}')
    assert _encode("plain", "http", "$return")[0] == "http"
    with pytest.raises(TypeError, match="cannot send a object to binding `out`"):
        _encode(object(), None, "out")


def test_out_and_queue_message():
    out = fnwire.Out()
    assert out.get() is None
    out.set("x")
    assert out.get() == "x"
    msg = fnwire.QueueMessage("hé", id="1", dequeue_count=2)
    assert (msg.get_body(), msg.get_text(), msg.id, msg.dequeue_count) == ("hé".encode(), "hé", "1", 2)
