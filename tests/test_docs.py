"""The README stays a front page with the set-up commands first, and the docs site's nav points at pages
that exist. (CI builds the site itself with ``mkdocs build --strict``.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SETUP = (
    'python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt torch==2.13.0 -e ".[train,bench,dev]"'
    ' && domprune prune examples/pages/product.html --budget 200 --question "How much does the boot weigh?" -v'
)
TESTS = ". .venv/bin/activate && python -m pytest -q"


def test_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_starts_with_the_setup_and_test_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    assert [lang for lang, _ in blocks[:2]] == ["bash", "bash"]
    assert [body.strip() for _, body in blocks[:2]] == [SETUP, TESTS]


def _nav_pages(items: object) -> list[str]:
    """Every page path in an mkdocs nav (links to other sites left out)."""
    if isinstance(items, str):
        return [] if "://" in items else [items]
    if isinstance(items, list):
        return [p for item in items for p in _nav_pages(item)]
    if isinstance(items, dict):
        return [p for value in items.values() for p in _nav_pages(value)]
    return []


def _load_mkdocs_yml() -> dict:
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        """safe_load that reads tags such as material's ``!!python/name:...`` as nothing."""

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with (ROOT / "mkdocs.yml").open(encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader)


def test_every_nav_page_exists() -> None:
    config = _load_mkdocs_yml()
    docs = ROOT / config.get("docs_dir", "docs")
    pages = _nav_pages(config["nav"])
    assert pages, "mkdocs.yml has no nav"
    missing = [p for p in pages if not (docs / p).is_file()]
    assert not missing, f"pages in mkdocs.yml's nav that {docs.name}/ lacks: {missing}"


def test_api_pages_read_docstrings_as_markdown() -> None:
    """docs/griffe_docstrings.py: doctests fenced, roles as code spans, tags outside code escaped."""
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_docstrings", ROOT / "docs" / "griffe_docstrings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Keeps <h1> and `<p>`; see :func:`~domprune.prune`.\n\n>>> [1, 2]\n[1, 2]\n\nDone."
    assert module.to_markdown(text).split("\n") == [
        "Keeps &lt;h1> and `<p>`; see `prune`.",
        "",
        "```pycon",
        ">>> [1, 2]",
        "[1, 2]",
        "```",
        "",
        "Done.",
    ]


def test_every_settings_field_has_a_description() -> None:
    """The API reference and `--help` show each setting's description: none may be missing."""
    import importlib
    import pkgutil

    from pydantic import BaseModel

    import domprune
    import domvqa_train

    classes: set[type[BaseModel]] = set()
    for package in (domprune, domvqa_train):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".testing" in info.name or info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseModel)
                    and value.__name__.endswith("Settings")
                    and value.__module__.startswith(("domprune", "domvqa_train"))
                ):
                    classes.add(value)
    assert len(classes) >= 10
    missing = sorted(
        f"{cls.__module__}.{cls.__name__}.{name}"
        for cls in classes
        for name, field in cls.model_fields.items()
        if not (field.description or "").strip()
    )
    assert missing == []
