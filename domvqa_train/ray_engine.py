"""Run a per-record stage on Ray Data: a pool of actors, each holding what it needs once, results in order.

``prepare --engine ray`` fits prompts this way. The driver reads the records (ids, duplicates and
load rejects are decided there, exactly as with the local engine), Ray Data spreads the records over
``workers`` actors (:class:`ray.data.ActorPoolStrategy`), each of which builds its tokenizer once, and
the results come back in input order (``preserve_order``), so the driver writes the same files as the
local engine, resumable the same way. A record whose processing fails becomes a reject inside the
actor; an actor that dies is restarted by Ray and its batch retried, and since only the driver writes,
no record is written twice.

Ray is started locally (``num_cpus=workers``) when no address is given; ``auto`` or ``ray://host:port``
joins a cluster. A Ray already initialised by the caller is used as it is and left running.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import DomVQAError

BATCH_SIZE = 8
"""Records per actor call: small enough that a retried batch costs little, big enough to amortise a call."""


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
) -> Iterator[str]:
    """``actor(**constructor_kwargs)`` applied to every item on Ray, results in input order.

    ``items`` are JSON strings (one record each); the actor's ``__call__`` takes a batch
    ``{"item": [...]}`` and returns ``{"result": [...]}`` of JSON strings, one per item.
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
            batch_size=BATCH_SIZE,
            batch_format="numpy",
        )
        for row in results.iter_rows():
            yield str(row["result"])
    finally:
        if started:
            ray.shutdown()


class JsonBatchActor:
    """Base of the actors :func:`ordered_map` runs: decode each item, apply :meth:`one`, encode the result."""

    def one(self, item: Any) -> Any:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        return {
            "result": [
                json.dumps(self.one(json.loads(str(text))), ensure_ascii=False) for text in batch["item"]
            ]
        }


def decode_all(results: Iterator[str], decode: Callable[[Any], Any]) -> Iterator[Any]:
    """``decode(json.loads(line))`` for each result line, lazily."""
    for line in results:
        yield decode(json.loads(line))
