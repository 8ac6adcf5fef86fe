"""`domprune explain`: a self-contained HTML report of what pruning kept, dropped and why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import html as lxml_html
from sample_pages import PAGES

import domprune
from domprune.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _report(budget: int = 400, question: str | None = "Who makes these headphones?") -> domprune.Explanation:
    return domprune.explain(PAGES["headphones_shop"](), budget=budget, question=question, source="headphones")


def test_every_unit_has_tokens_rank_and_a_reason() -> None:
    x = _report()
    assert x.tokens_after <= 400 and x.tokens_before and x.tokens_before > 400
    kept = [u for u in x.units if u.kept]
    dropped = [u for u in x.units if not u.kept]
    assert kept and dropped and x.counts["kept"] == len(kept)
    assert all(u.reason.startswith("kept") for u in kept) and all(
        u.reason.startswith("dropped") for u in dropped
    )
    value = next(u for u in x.units if u.text == "Sonaro Audio")
    assert value.kept and value.reason == "kept: relevant to the question" and value.rank is not None
    assert any("boilerplate" in u.reason for u in dropped)  # the navigation went first
    assert any(t.startswith("manufactur") for t in x.terms) and "name" in x.answer_kinds
    assert [s.name for s in x.steps] == ["filtering", "attributes", "budget"]
    assert all(s.tokens_after is not None for s in x.steps)  # exact tokens after each step
    # the same output as prune
    assert (
        x.output
        == domprune.prune(
            PAGES["headphones_shop"](), budget=400, question="Who makes these headphones?"
        ).output
    )


def test_filtering_reasons_are_reported() -> None:
    page = (
        '<html><body><p>seen</p><div hidden>secret</div><p style="display:none">gone</p><p></p></body></html>'
    )
    x = domprune.explain(page, budget=100)
    reasons = {why for _, _, why in x.removed}
    assert "hidden" in reasons
    assert any(text == "secret" for _, text, _ in x.removed)
    assert all(u.reason == "kept: the whole filtered page fits the budget" for u in x.units)


def test_report_is_self_contained() -> None:
    text = _report().to_html()
    root = lxml_html.document_fromstring(text)
    assert root.find(".//script") is None and root.find(".//link") is None and root.find(".//img") is None
    assert not [el for el in root.iter() if isinstance(el.tag, str) and (el.get("src") or el.get("href"))]
    assert "@import" not in text and "url(" not in text
    assert "Sonaro Audio" in text and "Units by rank" in text


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "shop.html"
    page.write_text(PAGES["headphones_shop"](), encoding="utf-8")
    out = tmp_path / "report.html"
    assert (
        main(
            ["explain", str(page), "--budget", "300", "--question", "How heavy are they?", "--out", str(out)]
        )
        == 0
    )
    assert "units kept" in capsys.readouterr().err
    assert "254 g" in out.read_text(encoding="utf-8")
    assert main(["explain", str(page), "--budget", "0", "--out", str(out)]) == 2


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)
def test_report_renders_in_a_headless_browser(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(_report().to_html(), encoding="utf-8")
    shot = tmp_path / "shot.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1400",
        f"--screenshot={shot}",
        report.as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, env=env)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    assert (0xD9, 0xF2, 0xDD) in colours  # kept parts are shaded green
    assert (0xFB, 0xE3, 0xE1) in colours  # dropped parts red
