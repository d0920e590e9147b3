"""The teacher probe reads a bounded answer in bounded time."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from harness import raftrun
from raft_operator.run import Run
from raft_operator.probes import teacher_completion
from raft_operator.settings import Settings

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Settings]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Handler) -> Settings:
        class Teacher(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                answer(self)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Teacher)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return Settings(endpoint_url_template=f"http://127.0.0.1:{server.server_address[1]}", probe_timeout=1.0)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run() -> Run:
    return Run.from_body(raftrun())


def reply(handler: http.server.BaseHTTPRequestHandler, body: bytes, *, length: int | None = None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_completion_passes_and_carries_the_key(serve: Callable[[Handler], Settings]) -> None:
    seen: list[str | None] = []

    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(h.headers.get("Authorization"))
        reply(h, json.dumps({"choices": [{"text": "Hi"}]}).encode())

    assert teacher_completion(run(), serve(answer), api_key="k-123") == (True, "ok")
    assert seen == ["Bearer k-123"]


def streaming(length: int, chunk: bytes, pause: float) -> Handler:
    """A teacher that announces ``length`` bytes and sends ``chunk`` every ``pause`` seconds, forever."""
    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        try:
            while True:
                h.wfile.write(chunk)
                h.wfile.flush()
                time.sleep(pause)
        except OSError:
            pass

    return answer


@pytest.mark.parametrize(("answer", "message", "bound"), [
    (streaming(2**40, b"x" * 65536, 0), "larger than", 5),
    (streaming(1000, b" ", 0.1), "within 1s", 3),  # each byte well within the socket timeout
], ids=["endless", "dripping"])
def test_a_hostile_answer_is_cut(serve: Callable[[Handler], Settings], answer: Handler, message: str,
                                 bound: float) -> None:
    started = time.monotonic()
    ok, detail = teacher_completion(run(), serve(answer))
    assert not ok and message in detail
    assert time.monotonic() - started < bound


def test_http_errors_are_reported(serve: Callable[[Handler], Settings]) -> None:
    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(401)
        h.send_header("Content-Length", "12")
        h.end_headers()
        h.wfile.write(b"unauthorized")

    ok, detail = teacher_completion(run(), serve(answer))
    assert not ok and detail.startswith("HTTP 401") and "unauthorized" in detail
