"""Peak memory of one ``prune`` call, measured in a fresh Python process per page.

tracemalloc sees only Python's allocations (lxml's C tree is invisible to it), so each page is
also run in a child process whose resident set is read before the call and whose peak resident
set (``VmHWM``, reset just before) is read after it: the growth is the memory the call added on
top of the interpreter, domprune and the page text.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any


def _status_mb(field: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of ``/proc/self/status`` in MiB (Linux), else ``None``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS, where Linux allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would include the parent's peak, which a
    # child inherits across fork and exec on Linux.
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_in_child(html: str, budget: int, tokenizer: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Run one ``prune`` in a child process; ``rss_before_mb``, ``rss_peak_mb``, ``traced_peak_mb`` or ``error``."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "domprune.bench.memory", str(page), str(budget), tokenizer],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"memory probe stopped after {timeout_s:g} s"}
    if proc.returncode != 0:
        return {"error": f"memory probe failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(page: str, budget: int, tokenizer: str) -> dict[str, Any]:
    import domprune

    counter = domprune.get_tokenizer(tokenizer)
    html = Path(page).read_text(encoding="utf-8")
    domprune.prune("<p>warm up</p>", budget=budget, tokenizer=counter)
    _reset_peak()
    before = _status_mb("VmRSS") or _peak_mb()
    domprune.prune(html, budget=budget, tokenizer=counter)
    peak = _peak_mb()
    tracemalloc.start()  # a second call, traced (tracemalloc's own bookkeeping would inflate the RSS)
    domprune.prune(html, budget=budget, tokenizer=counter)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"rss_before_mb": before, "rss_peak_mb": peak, "traced_peak_mb": traced}


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
