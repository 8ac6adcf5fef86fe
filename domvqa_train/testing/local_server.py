"""Run ``transformers serve`` on 127.0.0.1 for a local model folder: an OpenAI-compatible endpoint in one call.

``with serve_locally("path/to/model") as url:`` starts the server (``transformers[serving]``) on a
free port, waits until ``/health`` answers, yields the base URL for :class:`~domvqa_train.common.endpoint.ChatClient`
(the model name is the folder path), and stops the server on exit. The tests and the generate
benchmark use it; it is also a quick way to point ``generate``/``label`` at a local model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DomVQAError

#: Runs ``transformers serve``; on Linux the server first asks for SIGTERM when its parent dies (even
#: by SIGKILL), so that a killed run leaves no server behind (prctl PR_SET_PDEATHSIG).
_SERVE = """
import os, sys
if sys.platform.startswith("linux"):
    import ctypes, signal
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != int(sys.argv[1]):
        sys.exit(0)  # the parent is already gone
from transformers.cli.transformers import main
sys.argv = ["transformers", *sys.argv[2:]]
sys.exit(main())
"""


class LocalServerError(DomVQAError, RuntimeError):
    """``transformers serve`` could not be started."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_locally(
    model_dir: str | os.PathLike[str],
    *,
    port: int | None = None,
    startup_timeout: float = 120.0,
    log_path: str | os.PathLike[str] | None = None,
    extra_args: tuple[str, ...] = ("--device", "cpu"),
) -> Iterator[str]:
    """Serve ``model_dir`` with ``transformers serve`` while the block runs; yields ``http://127.0.0.1:PORT/v1``."""
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError as exc:
            raise LocalServerError(
                f"transformers serve needs {module}: pip install 'transformers[serving]'"
            ) from exc
    port = port or free_port()
    log = open(log_path, "wb") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-c", _SERVE, str(os.getpid()), "serve", str(Path(model_dir)),
               "--host", "127.0.0.1", "--port", str(port), *extra_args]  # fmt: skip
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_until_up(proc, port, startup_timeout, log_path)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]


def _wait_until_up(
    proc: subprocess.Popen[bytes], port: int, timeout: float, log_path: str | os.PathLike[str] | None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = Path(log_path).read_text(errors="replace")[-2000:] if log_path else "(no log kept)"
            raise LocalServerError(f"transformers serve exited with status {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LocalServerError(f"transformers serve did not answer on port {port} within {timeout:.0f} s")
        time.sleep(0.25)
