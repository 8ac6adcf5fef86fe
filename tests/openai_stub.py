"""A small OpenAI-compatible HTTP server on 127.0.0.1 for the endpoint tests.

It speaks the real wire protocol (the ``openai`` client talks to it over HTTP), and produces what
``transformers serve`` does not: 401s, 429 storms, slow answers, refused ``response_format``, chosen
completions. Each test builds one with a ``behave(request) -> Reply`` function and reads back the
requests it received.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the stub answers: a status, a completion text (or a JSON body), headers and a delay."""

    content: str | None = None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def completion(
    content: str, model: str = "stub", prompt_tokens: int = 11, completion_tokens: int = 7
) -> dict:
    """A chat.completion object holding ``content``."""
    return {
        "id": "cmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "code": None}}


class StubServer:
    """Serves ``/v1/models`` and ``/v1/chat/completions`` with ``behave``; use as a context manager."""

    def __init__(self, behave: Callable[[dict[str, Any]], Reply], models: list[str] | None = None) -> None:
        self.behave = behave
        self.models = ["stub"] if models is None else models
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)  # fails when the client gave up (a timeout test)

            def do_GET(self) -> None:
                reply = stub.behave({"path": self.path, "method": "GET", "headers": dict(self.headers)})
                if reply.status != 200:
                    self._send(reply.status, reply.body or error_body("refused"), reply.headers)
                elif self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, {"object": "list", "data": [{"id": m, "object": "model"} for m in stub.models]}
                    )
                else:
                    self._send(404, error_body("not found"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                request = {"path": self.path, "method": "POST", "body": body, "headers": dict(self.headers)}
                with stub._lock:
                    stub.requests.append(request)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    reply = stub.behave(request)
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.status != 200:
                        self._send(
                            reply.status, reply.body or error_body(f"status {reply.status}"), reply.headers
                        )
                    else:
                        payload = reply.body if reply.body is not None else completion(reply.content or "")
                        self._send(200, payload, reply.headers)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def chat_requests(self) -> list[dict[str, Any]]:
        """The bodies of the chat requests received so far."""
        with self._lock:
            return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat request body."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if p.get("type") == "text")
