"""A fault-injecting OpenAI-compatible server on 127.0.0.1 for the retry tests.

Each chat request belongs to a key (a page, a record: ``key(request)``); the key's :class:`Script`
says which fault each of its requests gets, in order, and then the real answer (``answer(request)``,
the completion's content). The faults are what endpoints and the proxies in front of them do:

- ``rate_limited`` (429), ``rate_limited_retry_after`` (429 with ``Retry-After``),
  ``http_500``, ``http_502``, ``http_503``;
- ``hang``: no answer for ``hang`` seconds (longer than the client's timeout), then the socket closes;
- ``drop``: the socket closes without a response; ``drop_mid_body``: the status, headers and half of
  the body, then the socket closes;
- ``truncated_json``: a complete 200 response whose JSON body is cut in half (its Content-Length says so);
- ``empty_body``: a 200 with an empty JSON body; ``not_json``: a 200 labelled JSON holding an HTML page;
  ``not_json_html``: the same labelled ``text/html``; ``no_choices``: a completion with ``choices: []``;
  ``empty_message``: a completion whose message is empty (finish_reason "stop");
- ``bad_content``: a valid completion whose content is prose, not the JSON asked for;
- ``cut_at_max_tokens`` (not in :data:`FAULTS`: not retried): the answer cut in half, finish_reason "length".

Keys count their requests across the server's life, so a run killed and resumed against the same
server continues each key's script where it stopped. :func:`seeded_plan` draws a mixed script per key:
at most ``retries`` faults (every request then succeeds within its retries, wherever a kill splits
them) or, for a few keys, one fault for ever. The server stops cleanly (a hanging answer is woken).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openai_stub import completion, error_body

FAULTS = (
    "rate_limited",
    "rate_limited_retry_after",
    "http_500",
    "http_502",
    "http_503",
    "hang",
    "drop",
    "drop_mid_body",
    "truncated_json",
    "empty_body",
    "not_json",
    "not_json_html",
    "no_choices",
    "empty_message",
    "bad_content",
)

#: The retry kind each fault is counted under by the client (``bad_content``: by generate).
RETRY_KIND = {
    "rate_limited": "rate_limited",
    "rate_limited_retry_after": "rate_limited",
    "http_500": "server_error",
    "http_502": "server_error",
    "http_503": "server_error",
    "hang": "timeout",
    "drop": "connection_error",
    "drop_mid_body": "connection_error",
    "truncated_json": "malformed_reply",
    "empty_body": "empty_reply",
    "not_json": "malformed_reply",
    "not_json_html": "malformed_reply",
    "no_choices": "empty_reply",
    "empty_message": "empty_reply",
    "bad_content": "content_not_json",
}

#: The faults of a request that fail at the transport or the body, whatever the caller asked for.
ENDPOINT_FAULTS = tuple(f for f in FAULTS if f != "bad_content")

HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1><p>upstream went away</p></body></html>"
PROSE = "Sorry, I cannot write JSON today. The page is about a shop."


@dataclass(frozen=True)
class Script:
    """The faults of one key's requests, in order, then answers; or one fault for every request (``forever``)."""

    faults: tuple[str, ...] = ()
    forever: str | None = None

    def fault(self, n: int) -> str | None:
        """The fault of the key's ``n``-th request (0-based); None: the real answer."""
        if self.forever is not None:
            return self.forever
        return self.faults[n] if n < len(self.faults) else None


def seeded_plan(
    keys: Sequence[str],
    seed: int,
    *,
    retries: int,
    faults: Sequence[str] = FAULTS,
    persistent: Sequence[str] = (),
    persistent_share: float = 0.0,
) -> dict[str, Script]:
    """A script per key drawn from ``seed``: up to ``retries`` faults each, or (``persistent_share`` of the keys) one for ever."""
    rng = random.Random(seed)
    plan = {}
    for key in keys:
        if persistent and rng.random() < persistent_share:
            plan[key] = Script(forever=rng.choice(list(persistent)))
        else:
            plan[key] = Script(tuple(rng.choice(list(faults)) for _ in range(rng.randint(0, retries))))
    return plan


class FaultServer:
    """Serves ``/v1/models`` and ``/v1/chat/completions``, with the faults of ``plan``; use as a context manager.

    ``answer(request)`` is the content of a good reply, ``key(request)`` the key of a chat request;
    ``delay`` seconds pass before every good reply (to give a test time to kill a run).
    """

    def __init__(
        self,
        answer: Callable[[dict[str, Any]], str],
        key: Callable[[dict[str, Any]], str],
        plan: Mapping[str, Script],
        *,
        hang: float = 2.0,
        retry_after: str = "0",
        delay: float = 0.0,
    ) -> None:
        self.answer, self.key, self.plan = answer, key, dict(plan)
        self.hang, self.retry_after, self.delay = hang, retry_after, delay
        self.served: list[tuple[str, str]] = []  # (key, fault or "ok") of each chat request, in arrival order
        self._tries: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _raw(self, status: int, body: bytes, *, content_type: str = "application/json",
                     length: int | None = None, headers: Mapping[str, str] | None = None) -> None:  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
                self._raw(status, json.dumps(payload).encode(), headers=headers)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
                else:
                    self._json(404, error_body("not found"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "path": self.path,
                    "method": "POST",
                    "body": json.loads(self.rfile.read(length) or b"{}"),
                }
                key = server.key(request)
                with server._lock:
                    n = server._tries[key]
                    server._tries[key] += 1
                    script = server.plan.get(key, Script())
                    fault = script.fault(n)
                    server.served.append((key, fault or "ok"))
                with contextlib.suppress(OSError):  # the client gave up (a hang it timed out)
                    self._serve(request, fault)
                self.close_connection = True

            def _serve(self, request: dict[str, Any], fault: str | None) -> None:
                if fault is None:
                    if server.delay:
                        server._stop.wait(server.delay)
                    self._json(200, completion(server.answer(request)))
                elif fault == "bad_content":
                    self._json(200, completion(PROSE))
                elif fault == "rate_limited":
                    self._json(429, error_body("Rate limit reached, slow down", "rate_limit_error"))
                elif fault == "rate_limited_retry_after":
                    headers = {"Retry-After": server.retry_after}
                    self._json(
                        429, error_body("Rate limit reached, retry later", "rate_limit_error"), headers
                    )
                elif fault.startswith("http_"):
                    self._json(int(fault[5:]), error_body(f"upstream failed ({fault})", "server_error"))
                elif fault == "hang":
                    server._stop.wait(server.hang)  # then closes without an answer
                elif fault == "drop":
                    pass  # closes without an answer
                elif fault == "drop_mid_body":
                    body = json.dumps(completion(server.answer(request))).encode()
                    self._raw(200, body[: len(body) // 2], length=len(body))
                elif fault == "truncated_json":
                    body = json.dumps(completion(server.answer(request))).encode()
                    self._raw(200, body[: len(body) // 2])
                elif fault == "empty_body":
                    self._raw(200, b"")
                elif fault == "not_json":
                    self._raw(200, HTML_PAGE)
                elif fault == "not_json_html":
                    self._raw(200, HTML_PAGE, content_type="text/html; charset=utf-8")
                elif fault == "no_choices":
                    self._json(200, {**completion(""), "choices": []})
                elif fault == "empty_message":
                    self._json(200, completion(""))
                elif fault == "cut_at_max_tokens":
                    content = server.answer(request)
                    reply = completion(content[: len(content) // 2])
                    reply["choices"][0]["finish_reason"] = "length"
                    self._json(200, reply)
                else:
                    raise ValueError(f"unknown fault {fault!r}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()  # wakes hanging and delayed answers
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def faults_served(self) -> Counter[str]:
        """How many requests got each fault (``ok``: the real answer)."""
        with self._lock:
            return Counter(fault for _, fault in self.served)
