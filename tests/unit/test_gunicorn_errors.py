"""Gunicorn's own error pages become the API's JSON errors (the status gunicorn chose)."""

from __future__ import annotations

import json

from gunicorn import util

from app.api.gunicorn_worker import _Captured, json_error_page


def test_the_status_gunicorn_writes_is_kept_and_the_page_is_json() -> None:
    captured = _Captured()
    util.write_error(captured, 431, "Request Header Fields Too Large", "<script>x</script>")
    assert captured.status() == (431, "Request Header Fields Too Large")
    page = json_error_page(*captured.status())
    head, body = page.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    error = json.loads(body)["error"]
    assert error["code"] == "request_header_fields_too_large" and error["details"] is None
    assert "script" not in error["message"]  # gunicorn's text, which may quote input, is dropped


def test_an_unreadable_page_is_a_quiet_500() -> None:
    captured = _Captured()
    captured.sendall(b"garbage")
    status, reason = captured.status()
    error = json.loads(json_error_page(status, reason).split(b"\r\n\r\n", 1)[1])["error"]
    assert status == 500 and error == {
        "code": "internal_error", "message": "internal server error", "details": None,
    }  # fmt: skip
