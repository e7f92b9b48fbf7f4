"""Hostile request bodies against a real scoring server on loopback: each is a 4xx, none a traceback."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from test_serving import SECRET, register_ready, serving, trained

from registry_core import Registry

BODY_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    root = tmp_path_factory.mktemp("served")
    with Registry(f"sqlite:///{root / 'catalog.db'}", root / "artifacts", actor="alice") as registry:
        register_ready(registry, trained(1))
        registry.promote("fraud", 1)
        with serving(registry, body_timeout=BODY_TIMEOUT) as (running, client):
            yield running.url, client


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or "Traceback" in r.getMessage()]


def test_a_lone_surrogate_in_a_record_is_a_400_not_a_model_failure(server, caplog):
    _url, client = server
    with caplog.at_level(logging.INFO):
        response = client.post("/predict", content=b'{"records": [{"amount": "\\ud800"}]}',
                               headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]
    assert not [r for r in caplog.records if "failed to score" in r.getMessage()]


@pytest.mark.parametrize("text", [b"\\udfff", b"\xed\xa0\x80"], ids=["escaped", "raw bytes"])
@pytest.mark.parametrize("path", ["/predict", "/v2/models/fraud/infer"])
def test_a_lone_surrogate_escaped_or_as_raw_bytes_is_refused_on_both_protocols(server, path, text):
    """A surrogate as a \\u escape or as UTF-8-like bytes (which json.loads lets through) is a 400, never scored."""
    _url, client = server
    body = (b'{"records": [{"amount": "' + text + b'"}]}' if path == "/predict" else
            b'{"inputs": [{"name": "amount", "shape": [1], "datatype": "BYTES", "data": ["' + text + b'"]}]}')
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]


@pytest.mark.parametrize("depth", [65, 10_000])
def test_predict_with_json_nested_past_the_limit_is_a_400(server, depth):
    """Nesting past 64 levels is refused before parsing, however few other brackets the body has."""
    _url, client = server
    body = b'{"records": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


def test_brackets_inside_strings_do_not_count_as_nesting(server):
    """Many brackets in a string value are text: the body is parsed and refused for its value, not its depth."""
    _url, client = server
    record = {"amount": "[" * 100, "hour": 3, "merchant_risk": 0.7, "distance": 12.0}
    response = client.post("/predict", json={"records": [record]})
    assert response.status_code == 422
    assert "nested" not in response.json()["error"]


def test_reload_with_deeply_nested_json_is_a_400(server, caplog):
    _url, client = server
    body = b"[" * 10_000 + b"]" * 10_000
    with caplog.at_level(logging.INFO):
        response = client.post("/reload", content=body, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 400
    assert "nest" in response.json()["error"]
    assert tracebacks(caplog.records) == []


def raw(url: str) -> socket.socket:
    parsed = urlparse(url)
    return socket.create_connection((parsed.hostname, parsed.port), timeout=10)


def test_a_client_leaving_mid_body_logs_no_traceback(server, caplog):
    url, client = server
    with caplog.at_level(logging.INFO):
        with raw(url) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"records\": [")
            time.sleep(0.2)
        time.sleep(0.5)
        assert client.get("/health").status_code == 200
    assert tracebacks(caplog.records) == []


def test_a_body_that_trickles_in_is_cut_off_at_the_deadline(server, caplog):
    """A client that sends a few bytes and then nothing gets a 408 once the body deadline passes."""
    url, _client = server
    started = time.monotonic()
    with caplog.at_level(logging.INFO), raw(url) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"rec")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < BODY_TIMEOUT + 3
    assert tracebacks(caplog.records) == []


def closed_within(sock: socket.socket, seconds: float, *, trickle: bytes = b"") -> bytes | None:
    """What the server sent before closing ``sock`` within ``seconds`` (sending ``trickle`` a byte at a time), else None."""
    deadline = time.monotonic() + seconds
    received = b""
    for byte in [trickle[i:i + 1] for i in range(len(trickle))] or [b""]:
        sock.settimeout(max(0.01, min(0.25, deadline - time.monotonic())))
        try:
            if byte:
                sock.sendall(byte)
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    return received
                received += chunk
        except TimeoutError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return received
        if time.monotonic() > deadline:
            return None
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_a_client_trickling_its_headers_is_cut_off_at_the_deadline(server):
    """Headers sent a byte every quarter second never reach the app: the connection still closes at the deadline."""
    url, client = server
    headers = b"POST /predict HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    with raw(url) as sock:
        assert closed_within(sock, BODY_TIMEOUT + 3, trickle=headers) is not None, "still open past the deadline"
    assert client.get("/health").status_code == 200


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(server):
    url, _client = server
    with raw(url) as sock:
        assert closed_within(sock, BODY_TIMEOUT + 3) is not None, "still open past the deadline"


def test_a_kept_alive_connection_trickling_its_next_request_is_cut_off(server):
    """After one answered request the next request's headers get the same deadline."""
    url, _client = server
    with raw(url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        trickle = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        assert closed_within(sock, BODY_TIMEOUT + 5 + 3, trickle=trickle) is not None, "still open past the deadline"
