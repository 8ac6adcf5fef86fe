"""Every baseline that domprune[bench] declares can be built: a broken install fails, never skips silently."""

from __future__ import annotations

import importlib.util
import os

import pytest

from domprune.bench.baselines import ALL_METHODS, REQUIRES, build_methods
from domprune.bench.loaders import BenchInputError
from domprune.bench.runner import run_bench
from domprune.bench.settings import BenchSettings
from domprune.tokenizers import get_tokenizer


@pytest.mark.slow
def test_every_bench_baseline_imports() -> None:
    methods, missing = build_methods(list(ALL_METHODS), get_tokenizer("qwen2.5"))
    assert [m.name for m in methods] + list(missing) == list(ALL_METHODS)
    if not missing:
        return
    # installed but not importable (e.g. trafilatura without lxml_html_clean): always a failure
    broken = {n: why for n, why in missing.items() if all(importlib.util.find_spec(m) for m in REQUIRES[n])}
    assert not broken, f"baselines installed but not importable: {broken}"
    if os.environ.get("DOMPRUNE_BENCH_REQUIRED") == "1":  # set by .ci/run, which installs [bench]
        pytest.fail(f"baselines of domprune[bench] missing: {missing}")
    pytest.skip(f"domprune[bench] is not installed here: {sorted(missing)} left out")


def test_require_methods_stops_instead_of_leaving_a_method_out(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import domprune.bench.runner as runner

    def no_trafilatura(names, counter, fmt="html"):  # type: ignore[no-untyped-def]
        return [], {"trafilatura": "not importable (No module named 'lxml_html_clean')"}

    monkeypatch.setattr(runner, "build_methods", no_trafilatura)
    page = tmp_path / "pages"
    page.mkdir()
    (page / "a.html").write_text("<html><body><p>Hello</p></body></html>")
    settings = BenchSettings(
        inputs=[str(page)], out=tmp_path / "out", methods=["trafilatura"], require_methods=True
    )
    with pytest.raises(BenchInputError, match="method trafilatura cannot run: not importable"):
        run_bench(settings, log=lambda m: None)
