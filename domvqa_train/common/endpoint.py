"""A client for any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, llama.cpp, ``transformers serve``).

It wraps the ``openai`` package's client (the reference implementation of the protocol: request
shapes, error types, structured output) and adds what a dataset run needs: a check that the endpoint
answers before any work starts, retries with exponential backoff on 429, 5xx, timeouts, dropped
connections and replies that are not a completion (an empty, cut-off or non-JSON body, no choices, an
empty message), honouring ``Retry-After``, counted per kind for the run's report (the client's own
retries are switched off because it neither exposes their count nor lets the backoff be set), token
usage and cost, and the number of requests in flight. One :class:`ChatClient` is shared by threads;
it pickles as its settings (a Ray actor builds its own client), and the statistics of several
clients add up with :func:`combined_summary`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import DomVQAError
from .images import image_format

Message = dict[str, Any]


class EndpointError(DomVQAError, RuntimeError):
    """The endpoint cannot be used at all (unreachable, key refused, model not served); the run stops."""


class RequestFailed(Exception):
    """One request failed for good (after its retries); ``kind`` names the failure for rejects, ``raw`` is the last body."""

    def __init__(self, kind: str, message: str, raw: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.raw = raw


class EndpointSettings(BaseModel):
    """Where to send chat requests and how hard to try."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Base URL of the OpenAI-compatible API; '/v1' is added when it has no path.")
    model: str = Field(min_length=1, description="Model name the endpoint serves.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable that holds the API key.")
    timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds to wait for the server's next bytes (connecting, or between two reads) before the request is retried; a reply that keeps trickling in may take longer in all.",
    )
    retries: int = Field(
        4,
        ge=0,
        description="Retries of a request after a 429, a 5xx, a timeout, a dropped connection or a reply "
        "that is not a completion (empty, cut off, not JSON, no choices, empty message); the caller's "
        "retries of a reply it cannot use (e.g. generate's content that is not JSON) count against it too.",
    )
    backoff: float = Field(
        1.0, ge=0, description="Seconds before the first retry; doubles each retry (with jitter)."
    )
    max_backoff: float = Field(
        30.0, ge=0, description="Longest wait between two tries, Retry-After included."
    )
    concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    structured: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Send a JSON schema (response_format): 'auto' drops it for the run when the endpoint "
        "refuses it; 'off' never sends it (the tolerant parser reads the text either way).",
    )
    price_input: float | None = Field(
        None, ge=0, description="USD per million prompt tokens, for the cost in the report."
    )
    price_output: float | None = Field(
        None, ge=0, description="USD per million completion tokens, for the cost."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"endpoint URL {value!r} must look like http://HOST:PORT/v1")
        return value if parsed.path.strip("/") else value.rstrip("/") + "/v1"

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for these tokens at the set prices; None when a price is not set.

        >>> EndpointSettings(url="http://127.0.0.1:8000", model="m", price_input=0.5, price_output=2).cost_usd(
        ...     2_000_000, 1_000_000)
        3.0
        """
        if self.price_input is None or self.price_output is None:
            return None
        return (prompt_tokens * self.price_input + completion_tokens * self.price_output) / 1e6


@dataclass
class ChatReply:
    """The text of one completion and what came with it."""

    text: str
    reasoning: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    structured: bool
    tries: int = 1  # requests made for it, retries included


@dataclass
class RequestStats:
    """What the requests of a run did; safe to update from several threads."""

    requests: int = 0
    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    max_in_flight: int = 0
    _in_flight: int = 0
    _area: float = 0.0  # integral of in-flight requests over time
    _busy: float = 0.0  # seconds with at least one request in flight
    _since: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _advance(self, now: float) -> None:
        if self._in_flight:
            self._area += self._in_flight * (now - self._since)
            self._busy += now - self._since
        self._since = now

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count one request as in flight while the block runs."""
        with self._lock:
            self._advance(time.perf_counter())
            self._in_flight += 1
            self.requests += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._advance(time.perf_counter())
                self._in_flight -= 1

    def add(
        self,
        *,
        retry: str | None = None,
        failed: str | None = None,
        reply: ChatReply | None = None,
        spent: ChatReply | None = None,
    ) -> None:
        """Count a retry, a final failure, a reply (and its tokens), or the tokens of a reply that is retried."""
        with self._lock:
            if retry:
                self.retries[retry] += 1
            if failed:
                self.failed[failed] += 1
            if reply is not None:
                self.succeeded += 1
            for counted in (reply, spent):
                if counted is not None:
                    self.prompt_tokens += counted.prompt_tokens
                    self.completion_tokens += counted.completion_tokens

    def summary(self, settings: EndpointSettings | None = None) -> dict[str, Any]:
        """Counts, tokens, cost (when prices are set) and requests in flight (max, and mean while busy)."""
        with self._lock:
            cost = None if settings is None else settings.cost_usd(self.prompt_tokens, self.completion_tokens)
            return {
                "requests": self.requests,
                "succeeded": self.succeeded,
                "failed": dict(self.failed),
                "retries": dict(self.retries),
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": cost,
                "max_in_flight": self.max_in_flight,
                "mean_in_flight": self._area / self._busy if self._busy else 0.0,
                "busy_seconds": self._busy,
            }


def combined_summary(
    summaries: Sequence[dict[str, Any]], settings: EndpointSettings | None = None
) -> dict[str, Any]:
    """The :meth:`RequestStats.summary` of several clients (one per Ray actor) as one.

    Counts, retries, failures and tokens are summed (and the cost recomputed from them); the
    requests in flight are per client: ``max_in_flight`` is the most any one client had,
    ``mean_in_flight`` the mean of one client while it was busy (weighted by ``busy_seconds``, which
    is summed); ``clients`` says how many there were, so all of them together had up to
    ``clients * max_in_flight`` requests in flight at once.

    >>> one = {"requests": 2, "succeeded": 2, "failed": {}, "retries": {"timeout": 1}, "prompt_tokens": 10,
    ...        "completion_tokens": 4, "max_in_flight": 2, "mean_in_flight": 1.5, "busy_seconds": 2.0}
    >>> both = combined_summary([one, {**one, "max_in_flight": 1, "mean_in_flight": 1.0}])
    >>> both["requests"], both["retries"], both["max_in_flight"], both["mean_in_flight"], both["clients"]
    (4, {'timeout': 2}, 2, 1.25, 2)
    """
    stats = RequestStats()
    area = 0.0
    for summary in summaries:
        stats.requests += int(summary["requests"])
        stats.succeeded += int(summary["succeeded"])
        stats.failed.update(summary["failed"])
        stats.retries.update(summary["retries"])
        stats.prompt_tokens += int(summary["prompt_tokens"])
        stats.completion_tokens += int(summary["completion_tokens"])
        stats.max_in_flight = max(stats.max_in_flight, int(summary["max_in_flight"]))
        stats._busy += float(summary["busy_seconds"])
        area += float(summary["mean_in_flight"]) * float(summary["busy_seconds"])
    stats._area = area
    return {**stats.summary(settings), "clients": len(summaries)}


def image_part(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An ``image_url`` content part holding the file as a base64 data URL."""
    data = Path(path).read_bytes()
    mime = image_mime(data)
    return {
        "type": "image_url",
        "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"},
    }


def image_mime(data: bytes) -> str:
    """The MIME type of PNG, JPEG, GIF or WebP bytes (``application/octet-stream`` otherwise).

    >>> image_mime(b"\\x89PNG\\r\\n\\x1a\\n...")
    'image/png'
    """
    kind = image_format(data)
    return kind[1] if kind else "application/octet-stream"


class ChatClient:
    """Chat completions against one endpoint with retries, statistics and a pre-flight check."""

    def __init__(self, settings: EndpointSettings, *, seed: int | None = None) -> None:
        try:
            import openai
        except ImportError as exc:
            raise EndpointError("endpoints need the 'openai' package: pip install 'domprune[train]'") from exc
        self.settings = settings
        self.stats = RequestStats()
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=settings.url,
            api_key=os.environ.get(settings.api_key_env) or "not-set",
            timeout=settings.timeout,
            max_retries=0,  # retried here, counted and with the configured backoff
        )
        self._structured = settings.structured != "off"
        self._adapted: dict[str, str] = {}  # parameters changed for this endpoint after a 400 (see _adapt)
        self._seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the settings: the copy (e.g. in a Ray actor) opens its own connection, with empty statistics."""
        return (type(self), (self.settings,), {"_seed": self._seed, "_random": random.Random(self._seed)})

    def check(self) -> list[str]:
        """Fail with :class:`EndpointError` unless the endpoint answers and serves the model; returns its models.

        An endpoint without a model list (404/405) passes; one that lists models must list ours.
        """
        openai, url = self._openai, self.settings.url
        client = self._client.with_options(timeout=min(10.0, self.settings.timeout))
        try:
            ids = [m.id for m in client.models.list().data]
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise self._auth_error(exc) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise EndpointError(
                f"cannot reach the endpoint {url} ({type(exc).__name__}: {exc}); start the server or fix --endpoint"
            ) from None
        except openai.APIStatusError as exc:
            if exc.status_code in (404, 405, 501):
                return []
            raise EndpointError(
                f"the endpoint {url} answered {exc.status_code} to GET /models: {exc}"
            ) from None
        if ids and self.settings.model not in ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            raise EndpointError(
                f"the endpoint {url} does not serve model {self.settings.model!r}; it serves: {shown}"
            )
        return ids

    def _auth_error(self, exc: Any) -> EndpointError:
        return EndpointError(
            f"the endpoint {self.settings.url} refused the API key ({exc.status_code}); put a valid key in the "
            f"{self.settings.api_key_env} environment variable"
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float | None = None,
        response_format: dict[str, Any] | None = None,
        usable: Callable[[ChatReply], str | None] | None = None,
        empty_ok: bool = False,
    ) -> ChatReply:
        """One chat completion; raises :class:`RequestFailed` when it fails for good, :class:`EndpointError` on 401/403/404.

        Retried (``settings.retries`` times, with the backoff, counted in ``stats.retries`` by kind):
        429 (``rate_limited``), 5xx (``server_error``), 409, timeouts, dropped connections, and a reply
        that is not a completion: an empty body or one without ``choices`` or with an empty message
        (``empty_reply``); a body cut off, not JSON, or JSON of another shape (``malformed_reply``).
        An empty message is a reply when it stopped at ``max_tokens`` (``finish_reason`` "length"),
        was filtered or refused (retrying would give the same), or when ``empty_ok`` (a policy's empty
        answer is an attempt like any other).

        ``usable(reply)`` says why the caller cannot use a reply (a retry kind, e.g. ``content_not_json``),
        None when it can; such a reply is asked again within the same budget of retries (counted under
        that kind) unless it stopped at ``max_tokens``, and the last one is returned as it is, for the
        caller to reject. The tokens of the returned reply include those of the replies asked again.
        """
        openai = self._openai
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": list(messages)}
        kwargs[self._adapted.get("max_tokens", "max_tokens")] = max_tokens
        if temperature is not None and "temperature" not in self._adapted:
            kwargs["temperature"] = temperature
        if response_format is not None and self._structured:
            kwargs["response_format"] = response_format
        attempt = 0
        spent = (0, 0)  # tokens of the replies asked again because the caller could not use them
        while True:
            try:
                with self.stats.in_flight():
                    response = self._client.chat.completions.create(**kwargs)
                reply = _reply(response, "response_format" in kwargs, empty_ok=empty_ok)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise self._auth_error(exc) from None
            except openai.NotFoundError as exc:
                raise EndpointError(
                    f"the endpoint {self.settings.url} answered 404 for model {self.settings.model!r}: {exc}"
                ) from None
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if self._adapt(kwargs, str(exc)):
                    continue  # the same request in a form this endpoint takes
                self.stats.add(failed="bad_request")
                raise RequestFailed(
                    "bad_request", f"the endpoint refused the request: {exc}", _body(exc)
                ) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError, openai.ConflictError) as exc:  # fmt: skip
                self._retry_or_fail(
                    attempt, _retry_kind(exc), f"{type(exc).__name__}: {exc}", _body(exc), exc
                )
                attempt += 1
                continue
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a 200 body the client cannot decode
                bad = _undecodable(exc)
                self._retry_or_fail(attempt, bad.kind, str(bad), bad.raw)
                attempt += 1
                continue
            except BadReply as exc:
                self._retry_or_fail(attempt, exc.kind, str(exc), exc.raw)
                attempt += 1
                continue
            except openai.APIStatusError as exc:
                self.stats.add(failed=f"http_{exc.status_code}")
                raise RequestFailed(f"http_{exc.status_code}", str(exc), _body(exc)) from None
            unusable = usable(reply) if usable is not None and reply.finish_reason != "length" else None
            if unusable is None or attempt >= self.settings.retries:
                self.stats.add(reply=reply)
                return dataclasses.replace(
                    reply,
                    prompt_tokens=reply.prompt_tokens + spent[0],
                    completion_tokens=reply.completion_tokens + spent[1],
                    tries=attempt + 1,
                )
            self.stats.add(retry=unusable, spent=reply)
            spent = (spent[0] + reply.prompt_tokens, spent[1] + reply.completion_tokens)
            time.sleep(self._wait(attempt, None))
            attempt += 1

    def _retry_or_fail(
        self, attempt: int, kind: str, detail: str, raw: Any, exc: Exception | None = None
    ) -> None:
        """Count a retry of ``kind`` and wait before it; after the last try, count the failure and raise it."""
        if attempt >= self.settings.retries:
            self.stats.add(failed=kind)
            raise RequestFailed(kind, f"{kind} after {attempt + 1} tries ({detail})", raw) from None
        self.stats.add(retry=kind)
        time.sleep(self._wait(attempt, exc))

    def _adapt(self, kwargs: dict[str, Any], message: str) -> bool:
        """Change ``kwargs`` after a 400 that names a parameter this endpoint does not take; False when none does.

        Reasoning models (o1, o3, ...) want ``max_completion_tokens`` instead of ``max_tokens`` and only
        their default temperature; endpoints without structured output refuse ``response_format``.
        Each change is made once and kept for the rest of the run.
        """
        text = message.lower()
        with self._lock:
            if "max_completion_tokens" in text and "max_tokens" in kwargs:
                self._adapted["max_tokens"] = "max_completion_tokens"
                kwargs["max_completion_tokens"] = kwargs.pop("max_tokens")
                return True
            if "temperature" in text and "temperature" in kwargs:
                self._adapted["temperature"] = "default"
                del kwargs["temperature"]
                return True
            schema_words = ("response_format", "json_schema", "structured", "schema")
            if (
                "response_format" in kwargs
                and self.settings.structured == "auto"
                and any(w in text for w in schema_words)
            ):
                self._structured = False
                del kwargs["response_format"]
                return True
        return False

    def _wait(self, attempt: int, exc: Exception | None) -> float:
        """Seconds before the next try: the server's Retry-After, else exponential backoff with jitter."""
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
            try:
                value = float(headers.get(name)) * scale
            except (TypeError, ValueError):
                continue
            if value >= 0:
                return min(value, self.settings.max_backoff)
        with self._lock:
            jitter = 0.5 + self._random.random() / 2
        return min(self.settings.backoff * 2**attempt, self.settings.max_backoff) * jitter


def _retry_kind(exc: Exception) -> str:
    name = type(exc).__name__
    return {
        "RateLimitError": "rate_limited",
        "InternalServerError": "server_error",
        "APITimeoutError": "timeout",
        "APIConnectionError": "connection_error",
        "ConflictError": "conflict",
    }.get(name, name)


def _body(exc: Exception) -> Any:
    response = getattr(exc, "response", None)
    try:
        return response.text if response is not None else None
    except Exception:
        return None


class BadReply(Exception):
    """A 200 reply that is not a usable completion; ``kind`` is ``empty_reply`` or ``malformed_reply``."""

    def __init__(self, kind: str, message: str, raw: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.raw = raw


#: Finish reasons of an empty message that asking again would not change.
_FINAL_EMPTY = frozenset({"length", "content_filter"})


def _snippet(text: str, limit: int = 80) -> str:
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _undecodable(exc: json.JSONDecodeError | UnicodeDecodeError) -> BadReply:
    """What a 200 reply whose body the ``openai`` client could not decode as JSON was (it raises the decoder's error)."""
    if isinstance(exc, UnicodeDecodeError):
        raw = exc.object.decode("utf-8", "replace") if isinstance(exc.object, bytes) else str(exc.object)
        return BadReply("malformed_reply", f"the body of a 200 reply is not UTF-8 JSON: {exc}", raw)
    if not exc.doc.strip():
        return BadReply("empty_reply", "the endpoint answered 200 with an empty body", exc.doc)
    return BadReply(
        "malformed_reply",
        f"the body of a 200 reply is cut off or not JSON ({exc.msg} at character {exc.pos} of "
        f"{len(exc.doc)}): {_snippet(exc.doc)}",
        exc.doc,
    )


def _reply(response: Any, structured: bool, *, empty_ok: bool = False) -> ChatReply:
    """The completion in ``response`` (what ``chat.completions.create`` returned); :class:`BadReply` when there is none.

    For a 200 reply the ``openai`` client returns the body as a ``str`` when it is not labelled JSON,
    None for ``null``, a list for a JSON list, and a ``ChatCompletion`` built without validation
    from any JSON object (``choices`` may be missing, empty or of another type).
    """
    if response is None or isinstance(response, (str, bytes, list, int, float, bool)):
        raw = response.decode("utf-8", "replace") if isinstance(response, bytes) else response
        if isinstance(raw, str) and not raw.strip():
            raise BadReply("empty_reply", "the endpoint answered 200 with an empty body", raw)
        shown = _snippet(raw) if isinstance(raw, str) else json.dumps(raw)[:80]
        raise BadReply("malformed_reply", f"the body of a 200 reply is not a JSON completion: {shown}", raw)
    choices = getattr(response, "choices", None)
    if not choices:
        raise BadReply("empty_reply", "the reply has no choices", _dump(response))
    if not isinstance(choices, list) or not isinstance(choices[0], BaseModel):
        raise BadReply(
            "malformed_reply",
            f"the reply's choices are not a list of choices: {choices!r:.80}",
            _dump(response),
        )
    choice = choices[0]
    message = getattr(choice, "message", None)
    finish_reason = getattr(choice, "finish_reason", None)
    text = getattr(message, "content", None) or ""
    if not isinstance(text, str):
        text = str(text)
    final = empty_ok or finish_reason in _FINAL_EMPTY or bool(getattr(message, "refusal", None))
    if not text.strip() and not final:
        what = "no message" if message is None else "an empty message"
        raise BadReply(
            "empty_reply", f"the reply has {what} (finish_reason {finish_reason!r})", _dump(response)
        )
    extra = getattr(message, "model_extra", None) or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning")
    usage = getattr(response, "usage", None)
    return ChatReply(
        text=text,
        reasoning=reasoning if isinstance(reasoning, str) and reasoning.strip() else None,
        finish_reason=finish_reason,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        structured=structured,
    )


def _dump(response: Any) -> Any:
    """The reply as JSON text, for a reject's raw response."""
    try:
        return response.model_dump_json(exclude_unset=True)
    except Exception:
        return repr(response)
