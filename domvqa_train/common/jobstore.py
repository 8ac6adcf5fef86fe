"""Resumable, atomic JSON Lines outputs of a stage that works through keyed units (pages, records).

A run commits each finished unit: its rows are appended to ``<file>.partial`` and flushed, then one
line is appended to ``progress.jsonl.partial`` that names the unit, a summary of it, and the byte
range of its rows in each partial file. The progress line is the only record that a unit is done,
so a run killed at any moment loses at most the unit being written, and resuming never duplicates a
row (rows of a unit without a progress line are never read). :meth:`JobStore.finish` writes every
final file through a temporary file and ``os.replace``, in the order of the input, then removes the
partial files. A folder is resumed only with the settings it was started with.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DomVQAError

PROGRESS_FILE = "progress.jsonl"
PARTIAL_SUFFIX = ".partial"


class JobStoreError(DomVQAError, RuntimeError):
    """An output folder cannot be resumed or written."""


def atomic_write(path: Path, chunks: Iterable[str | bytes]) -> None:
    """Write ``chunks`` to a temporary file next to ``path`` and move it into place."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as handle:  # unlike mkstemp, honours the umask
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def check_fingerprint(
    path: Path, fingerprint: Mapping[str, Any], resume: bool, mismatch: Callable[[Any], Exception]
) -> None:
    """Record the settings that shape a run's outputs in ``path``; when resuming over a run recorded
    with others (or unreadable: ``None``), raise ``mismatch(found)`` instead."""
    wanted = json.loads(json.dumps(fingerprint))  # compare as stored (tuples become lists)
    if resume and path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != wanted:
            raise mismatch(found)
    atomic_write(path, [json.dumps(wanted, ensure_ascii=False, indent=2) + "\n"])


def json_line(row: Mapping[str, Any]) -> bytes:
    """``row`` as one UTF-8 JSON line."""
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Done:
    """A finished unit: its summary, and whether its rows are in the partial or the final files."""

    key: str
    summary: dict[str, Any]
    ranges: dict[str, tuple[int, int]]  # file name -> (offset, length) of its rows
    partial: bool


class JobStore:
    """The output folder of one stage run: ``files`` (JSON Lines) plus ``progress.jsonl``.

    ``fingerprint`` holds the settings that decide the outputs; it is written to ``settings_file``
    and a resumed run must match it. ``resume=False`` deletes earlier outputs of these files.
    Commit from one thread only.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        files: Sequence[str],
        *,
        settings_file: str,
        fingerprint: dict[str, Any],
        resume: bool = True,
    ) -> None:
        self.out = Path(out_dir)
        self.files = list(files)
        self.out.mkdir(parents=True, exist_ok=True)
        check_fingerprint(
            self.out / settings_file,
            fingerprint,
            resume,
            lambda found: JobStoreError(
                f"{os.fspath(self.out)!r} holds a run with other settings ({found}); pass --no-resume "
                "(resume=False) to start over there, or choose another output folder"
            ),
        )
        names = [*self.files, PROGRESS_FILE]
        if not resume:
            for name in names:
                (self.out / name).unlink(missing_ok=True)
                self._partial(name).unlink(missing_ok=True)
        for name in names:
            _cut_torn_tail(self._partial(name))
        self.done: dict[str, Done] = {}
        for partial in (True, False):  # partial files are newer than final ones
            for row in _rows(self._partial(PROGRESS_FILE) if partial else self.out / PROGRESS_FILE):
                key = row.get("key")
                if isinstance(key, str) and key not in self.done and isinstance(row.get("ranges"), dict):
                    ranges = {str(k): (int(v[0]), int(v[1])) for k, v in row["ranges"].items()}
                    self.done[key] = Done(key, dict(row.get("summary") or {}), ranges, partial)
        self._handles: dict[str, Any] = {}

    def _partial(self, name: str) -> Path:
        return self.out / (name + PARTIAL_SUFFIX)

    def commit(
        self, key: str, rows: Mapping[str, Sequence[Mapping[str, Any]]], summary: dict[str, Any]
    ) -> None:
        """Record unit ``key`` as done, with its ``rows`` per file and a JSON-able ``summary``."""
        if key in self.done:
            raise JobStoreError(f"internal error: unit {key!r} committed twice")
        ranges: dict[str, tuple[int, int]] = {}
        for name, items in rows.items():
            if name not in self.files:
                raise JobStoreError(f"internal error: {name!r} is not an output of this store")
            if not items:
                continue
            handle = self._handle(name)
            offset = handle.tell()
            data = b"".join(json_line(item) for item in items)
            handle.write(data)
            handle.flush()
            ranges[name] = (offset, len(data))
        progress = self._handle(PROGRESS_FILE)
        progress.write(json_line({"key": key, "summary": summary, "ranges": ranges}))
        progress.flush()
        self.done[key] = Done(key, summary, ranges, partial=True)

    def _handle(self, name: str) -> Any:
        if name not in self._handles:
            self._handles[name] = self._partial(name).open("ab")
        return self._handles[name]

    def close(self) -> None:
        """Close the partial files (a later :class:`JobStore` on the folder resumes from them)."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def finish(self, order: Iterable[str]) -> list[Done]:
        """Write the final files with the units of ``order`` that are done, in that order; remove the partials.

        Returns those units. Units done earlier but absent from ``order`` are left out.
        """
        self.close()
        units = [self.done[key] for key in dict.fromkeys(order) if key in self.done]
        readers = _Readers(self.out)
        try:
            new_ranges: dict[str, dict[str, tuple[int, int]]] = {u.key: {} for u in units}
            for name in self.files:
                atomic_write(self.out / name, self._chunks(name, units, readers, new_ranges))
            progress = (
                json_line({"key": u.key, "summary": u.summary, "ranges": new_ranges[u.key]}) for u in units
            )
            atomic_write(self.out / PROGRESS_FILE, progress)
        finally:
            readers.close()
        for name in [*self.files, PROGRESS_FILE]:
            self._partial(name).unlink(missing_ok=True)
        self.done = {u.key: Done(u.key, u.summary, new_ranges[u.key], partial=False) for u in units}
        return list(self.done.values())

    def _chunks(
        self,
        name: str,
        units: list[Done],
        readers: _Readers,
        new_ranges: dict[str, dict[str, tuple[int, int]]],
    ) -> Iterator[bytes]:
        offset = 0
        for unit in units:
            if name not in unit.ranges:
                continue
            start, length = unit.ranges[name]
            data = readers.read(self._partial(name) if unit.partial else self.out / name, start, length)
            new_ranges[unit.key][name] = (offset, length)
            offset += length
            yield data


class _Readers:
    """Open files by path, for reading byte ranges."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.handles: dict[Path, Any] = {}

    def read(self, path: Path, start: int, length: int) -> bytes:
        if path not in self.handles:
            self.handles[path] = path.open("rb")
        handle = self.handles[path]
        handle.seek(start)
        data = handle.read(length)
        if len(data) != length:
            raise JobStoreError(
                f"{os.fspath(path)!r} is shorter than its progress file says; it was changed by hand. "
                "Run again with --no-resume"
            )
        return data

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


def _cut_torn_tail(path: Path) -> None:
    """Drop the bytes after the last newline of ``path`` (a line torn by a killed run)."""
    if not path.is_file():
        return
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        position = size
        while position > 0:
            step = min(65536, position)
            handle.seek(position - step)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                handle.truncate(position - step + newline + 1)
                return
            position -= step
        handle.truncate(0)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of the complete lines of ``path`` (none when it does not exist)."""
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                continue
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row
