"""Run a per-record stage on Ray Data: a pool of actors, each holding what it needs once, results in order.

``prepare --engine ray`` fits prompts this way. The driver reads the records (ids, duplicates and
load rejects are decided there, exactly as with the local engine), Ray Data spreads the records over
``workers`` actors (:class:`ray.data.ActorPoolStrategy`), each of which builds its tokenizer once, and
the results come back in input order (``preserve_order``), so the driver writes the same files as the
local engine, resumable the same way. A record whose processing fails becomes a reject inside the
actor; an actor that dies is restarted by Ray and its batch retried, and since only the driver writes,
no record is written twice.

``generate --engine ray`` and ``label --engine ray`` run the same way: each actor builds its
generator or labeller once from what the driver pickled (an endpoint client pickles as its settings,
a local policy as its model path and load settings), an error that must stop the run (401, model
gone) comes back as a :func:`fatal_result` that the driver raises again (:func:`raise_fatal`), and
each actor's cumulative counters (requests, tokens) come back with its results as a
:meth:`JsonBatchActor.snapshot`, which the driver adds up with :class:`ActorSnapshots`.

Ray is started locally (``num_cpus=workers``) when no address is given; ``auto`` or ``ray://host:port``
joins a cluster. A Ray already initialised by the caller is used as it is and left running.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from pydantic import Field

from ..errors import DomVQAError

BATCH_SIZE = 8
"""Records per actor call: small enough that a retried batch costs little, big enough to amortise a call."""

ENGINE_FIELDS = frozenset({"engine", "workers", "ray_address"})
"""Settings that say where the work runs, not what it writes: kept out of a run's fingerprint, so a
folder resumes under either engine."""

RayAddress = Annotated[
    str | None,
    Field(description="Ray cluster to join ('auto', 'ray://host:10001'); None starts Ray on this machine."),
]
"""The ``ray_address`` setting of every stage that runs on Ray (prepare, generate, label)."""


class RayEngineError(DomVQAError, RuntimeError):
    """Ray is not installed or the cluster cannot be reached."""


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayEngineError(
            f"--engine ray needs Ray Data ({exc}): pip install 'domprune[scale]' (or 'ray[data]')"
        ) from None
    return ray


def start_ray(address: str | None, workers: int) -> bool:
    """Connect to (or start) Ray; returns whether this call started it (and should shut it down)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(
                num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
            )
    except Exception as exc:  # ConnectionError, RuntimeError, ... depending on the address form
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise RayEngineError(
            f"cannot start or reach {where} ({type(exc).__name__}: {exc}); check --ray-address "
            "(auto, ray://host:10001) or use --engine local"
        ) from None
    return True


def ordered_map(
    items: Sequence[str],
    actor: type,
    constructor_kwargs: dict[str, Any],
    *,
    workers: int,
    address: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[str]:
    """``actor(**constructor_kwargs)`` applied to every item on Ray, results in input order.

    ``items`` are JSON strings (one record each); the actor's ``__call__`` takes a batch
    ``{"item": [...]}`` of up to ``batch_size`` items and returns ``{"result": [...]}`` of JSON
    strings, one per item.
    """
    if not items:
        return
    ray = import_ray()
    started = start_ray(address, workers)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # the caller shows one progress bar for the whole run
        dataset = ray.data.from_items([{"item": item} for item in items])
        results = dataset.map_batches(
            actor,
            fn_constructor_kwargs=constructor_kwargs,
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_size=batch_size,
            batch_format="numpy",
        )
        for row in results.iter_rows():
            yield str(row["result"])
    finally:
        if started:
            ray.shutdown()


class JsonBatchActor:
    """Base of the actors :func:`ordered_map` runs: decode the items, apply :meth:`many`, encode the results."""

    def one(self, item: Any) -> Any:  # pragma: no cover - subclasses define it (or many)
        raise NotImplementedError

    def many(self, items: list[Any]) -> list[Any]:
        """The results of a batch's items, in order; :meth:`one` on each unless overridden."""
        return [self.one(item) for item in items]

    def snapshot(self, counters: Any) -> dict[str, Any]:
        """``counters`` (cumulative over this actor's life) tagged with the actor and a sequence number."""
        if not hasattr(self, "_actor_id"):
            self._actor_id, self._sequence = uuid.uuid4().hex, 0
        self._sequence += 1
        return {"actor": self._actor_id, "seq": self._sequence, "counters": counters}

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        results = self.many([json.loads(str(text)) for text in batch["item"]])
        return {"result": [json.dumps(result, ensure_ascii=False) for result in results]}


class ActorSnapshots:
    """The latest :meth:`JsonBatchActor.snapshot` of each actor, kept by the driver.

    Counters are cumulative per actor, so the newest snapshot of each (highest ``seq``) holds all it
    did; an actor that Ray restarted is a new actor, and the dead one's last snapshot still counts.
    """

    def __init__(self) -> None:
        self._latest: dict[str, tuple[int, Any]] = {}

    def add(self, snapshot: dict[str, Any] | None) -> None:
        if not snapshot:
            return
        actor, seq = str(snapshot["actor"]), int(snapshot["seq"])
        if actor not in self._latest or self._latest[actor][0] < seq:
            self._latest[actor] = (seq, snapshot["counters"])

    def counters(self) -> list[Any]:
        """The latest counters of every actor that reported."""
        return [counters for _, counters in self._latest.values()]


def fatal_result(exc: DomVQAError) -> dict[str, Any]:
    """A result that stops the run: the error's class name and message, raised again by :func:`raise_fatal`."""
    return {"fatal": {"type": type(exc).__name__, "message": str(exc)}}


def raise_fatal(result: dict[str, Any]) -> None:
    """Raise the error a :func:`fatal_result` carries (its own :class:`DomVQAError` subclass), if any."""
    fatal = result.get("fatal")
    if fatal is None:
        return
    classes = {cls.__name__: cls for cls in _subclasses(DomVQAError)}
    message = str(fatal["message"])
    try:
        error = classes.get(str(fatal["type"]), DomVQAError)(message)
    except TypeError:  # a subclass whose constructor takes other arguments
        error = DomVQAError(message)
    raise error


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def check_picklable(value: Any, what: str) -> None:
    """Refuse, with a clear error, a ``value`` that cannot be sent to Ray actors."""
    ray = import_ray()
    try:
        ray.cloudpickle.dumps(value)
    except Exception as exc:
        raise RayEngineError(f"the {what} cannot be sent to Ray actors ({exc}); use --engine local") from None


def decode_all(results: Iterator[str], decode: Callable[[Any], Any]) -> Iterator[Any]:
    """``decode(json.loads(line))`` for each result line, lazily."""
    for line in results:
        yield decode(json.loads(line))
