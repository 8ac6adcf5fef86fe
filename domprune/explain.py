"""Why was this part kept and that one dropped? A self-contained HTML report of one prune.

:func:`explain` prunes a page the way :func:`~domprune.prune` does, with exact token counts after
every step, and records for each unit (a text, a labelled element) its tokens, rank, priority,
relevance and the reason it was kept or dropped; for each part filtering removed, why. The report
(:meth:`Explanation.to_html`) is one HTML file with its styles inline and no script, image, font or
link to fetch: it opens offline. Details of a unit show on hover (``title``) and in the table.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from .parse import Page
from .pipeline import DEFAULT_BUDGET, StepReport, prepare
from .settings import PruneSettings
from .steps.ranking import RELEVANT_SHARE
from .steps.units import ATTR, TAIL
from .tags import BLOCK
from .tokenizers import TokenCounter

__all__ = ["Explanation", "UnitExplanation", "explain"]

_PREVIEW = 160


@dataclass
class UnitExplanation:
    """One unit of the page and what budget fitting did with it."""

    index: int
    element: str  # the owning element's path, e.g. "html > body > main > p"
    text: str
    tokens: int
    rank: int | None  # position in the fitting order (None when the whole page fitted)
    priority: float
    relevance: float
    kept: bool
    reason: str
    block_start: bool = False  # starts a new block (for laying the content out)


@dataclass
class Explanation:
    """Everything the report shows; :meth:`to_html` writes it."""

    source: str
    """What was pruned, as the report names it (``explain(..., source=...)``; the CLI: the file)."""
    budget: int
    """The budget the page was pruned to."""
    question: str | None
    """The question, if one was given."""
    tokens_before: int | None
    """Tokens of the input as given (``None`` for an lxml tree)."""
    tokens_after: int
    """Exact tokens of ``output``."""
    steps: list[StepReport]
    """What each step removed, with exact tokens before and after it."""
    units: list[UnitExplanation]
    """Every unit of the filtered page in page order: tokens, rank, priority, relevance, kept or
    dropped, and why (empty with ``PruneSettings(fit=False)``)."""
    removed: list[tuple[str, str, str]]  # (element path, text preview, reason)
    """What filtering removed: ``(element path, text preview, reason)`` for each removed subtree."""
    terms: dict[str, float]
    """The question's terms and the page words they matched, with their weights, highest first."""
    answer_kinds: tuple[str, ...]
    """The kinds of value the question expects (e.g. ``date``, ``money``)."""
    output: str
    """The pruned page (``prune``'s output)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Units in all, kept and dropped, and subtrees removed by filtering."""

    def to_html(self) -> str:
        """The report: one self-contained HTML document."""
        return _render(self)


def _path(doc, i: int) -> str:  # type: ignore[no-untyped-def]
    chain = []
    while i >= 0 and len(chain) < 6:
        chain.append(doc.tags[i])
        i = doc.parent[i]
    return " > ".join(reversed(chain))


def _subtree_text(doc, i: int) -> str:  # type: ignore[no-untyped-def]
    parts: list[str] = []
    for j in range(i, doc.end[i]):
        if doc.text[j]:
            parts.append(doc.text[j])
        if j > i and doc.tail[j]:
            parts.append(doc.tail[j])
        if sum(map(len, parts)) > _PREVIEW:
            break
    if not parts and doc.attrs[i]:
        parts = [" ".join(f"{k}={v}" for k, v in doc.attrs[i][:3])]
    return " ".join(" ".join(parts).split())[:_PREVIEW]


def explain(
    page: Page,
    *,
    budget: int = DEFAULT_BUDGET,
    question: str | None = None,
    tokenizer: str | TokenCounter | None = None,
    settings: PruneSettings | None = None,
    source: str = "page",
) -> Explanation:
    """Prune ``page`` to ``budget`` and say, for each part, what happened to it and why."""
    settings = (settings or PruneSettings()).model_copy(update={"exact_step_tokens": True})
    prepared = prepare(page, question=question, tokenizer=tokenizer, settings=settings)
    result = prepared.fit(budget)
    doc = prepared.document
    removed = []
    for i in range(len(doc.tags)):
        p = doc.parent[i]
        if doc.removed[i] and (p < 0 or not doc.removed[p]) and doc.tags[i] != "#comment":
            removed.append((_path(doc, i), _subtree_text(doc, i), doc.why.get(i, "filtered")))
    units_out: list[UnitExplanation] = []
    terms: dict[str, float] = {}
    kinds: tuple[str, ...] = ()
    if settings.fit:
        model = prepared.units
        units = model.units
        sel = prepared.select(budget)
        fits_whole = not sel.order
        ranking = prepared.ranking if not fits_whole or prepared.query is not None else None
        rank = {u: r for r, u in enumerate(sel.order)}
        header = set(sel.header_taken)
        top = max(ranking.rel, default=0.0) if ranking is not None and ranking.rel else 0.0
        if prepared.query is not None and ranking is not None:
            terms = dict(sorted(ranking.terms.items(), key=lambda kv: -kv[1]))
            kinds = prepared.query.answer_kinds
        last_block = -1
        for u in range(len(units)):
            kind, e, o = units.kind[u], units.elem[u], units.owner[u]
            kept = sel.keep_tail[e] if kind == TAIL else sel.keep_text[e]
            rel = ranking.rel[u] if ranking is not None and ranking.rel else 0.0
            prio = ranking.prio[u] if ranking is not None else 0.0
            if fits_whole:
                reason = "kept: the whole filtered page fits the budget"
            elif kept:
                if u in header:
                    reason = "kept: header tier (title, h1, meta, JSON-LD, byline)"
                elif top and rel >= RELEVANT_SHARE * top:
                    reason = "kept: relevant to the question"
                elif ranking is not None and prio > ranking.base[u] + 1e-9:
                    reason = "kept: context of a relevant unit (label, header, heading, neighbour)"
                else:
                    reason = (
                        "kept: main content and position" if not ranking.boilerplate[u] else "kept: room left"
                    )
            elif ranking is not None and ranking.boilerplate[u]:
                reason = "dropped: boilerplate (navigation, footer, sidebar) ranks last; over budget"
            else:
                reason = "dropped: over budget (ranked after what fitted)"
            block = o
            while block >= 0 and doc.tags[block] not in BLOCK:
                block = doc.parent[block]
            text = (
                units.text_of(doc, u) if kind != ATTR else " ".join(f"{k}={v}" for k, v in doc.kept_attrs[e])
            )
            units_out.append(
                UnitExplanation(
                    index=u,
                    element=_path(doc, o),
                    text=" ".join(text.split()),
                    tokens=model.cost(u),
                    rank=rank.get(u),
                    priority=round(prio, 3),
                    relevance=round(rel, 3),
                    kept=bool(kept),
                    reason=reason,
                    block_start=block != last_block,
                )
            )
            last_block = block
    counts = {
        "units": len(units_out),
        "kept": sum(u.kept for u in units_out),
        "dropped": sum(not u.kept for u in units_out),
        "removed by filtering": len(removed),
    }
    return Explanation(
        source=source,
        budget=budget,
        question=question,
        tokens_before=result.tokens_before,
        tokens_after=result.tokens_after,
        steps=result.steps,
        units=units_out,
        removed=removed,
        terms=terms,
        answer_kinds=kinds,
        output=result.output,
        counts=counts,
    )


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555}.pill{display:inline-block;padding:1px 8px;border-radius:10px;background:#eef;margin:2px}
table{border-collapse:collapse;width:100%;font-size:12.5px}th,td{border:1px solid #e3e3e3;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.content{border:1px solid #ddd;padding:10px;max-height:none}.block{margin:3px 0}
.kept{background:#d9f2dd;border-bottom:2px solid #2e8b57}.dropped{background:#fbe3e1;color:#8a1c12;
text-decoration:line-through;text-decoration-color:#c0392b55}.rel{outline:2px solid #e6a700}
.removed td{color:#8a1c12}.legend span{margin-right:14px}pre{white-space:pre-wrap;word-break:break-all;
background:#fafafa;border:1px solid #eee;padding:8px;font-size:12px}
"""


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _render(x: Explanation) -> str:
    steps_rows = "".join(
        f"<tr><td>{_e(s.name)}</td><td class=n>{_e(s.tokens_before)}</td><td class=n>{_e(s.tokens_after)}</td>"
        f"<td class=n>{s.seconds * 1000:.1f}</td><td>{_e(', '.join(f'{k}: {v}' for k, v in s.removed.items()))}</td></tr>"
        for s in x.steps
    )
    top_rel = max((u.relevance for u in x.units), default=0.0)
    spans = []
    for u in x.units:
        if u.block_start and spans:
            spans.append('</div><div class="block">')
        cls = "kept" if u.kept else "dropped"
        if top_rel and u.relevance >= RELEVANT_SHARE * top_rel:
            cls += " rel"
        tip = (
            f"#{u.index} {u.element}\ntokens {u.tokens}, rank {u.rank if u.rank is not None else '-'}, "
            f"priority {u.priority}, relevance {u.relevance}\n{u.reason}"
        )
        spans.append(f'<span class="{cls}" title="{_e(tip)}">{_e(u.text[:400]) or "&#8203;"}</span> ')
    content = '<div class="block">' + "".join(spans) + "</div>"
    ranked = sorted(x.units, key=lambda u: (u.rank is None, u.rank if u.rank is not None else u.index))
    unit_rows = "".join(
        f"<tr class={'kept' if u.kept else 'dropped'}><td class=n>{u.index}</td>"
        f"<td class=n>{u.rank if u.rank is not None else '-'}</td><td class=n>{u.tokens}</td>"
        f"<td class=n>{u.priority}</td><td class=n>{u.relevance}</td><td>{_e(u.reason)}</td>"
        f"<td>{_e(u.element)}</td><td>{_e(u.text[:120])}</td></tr>"
        for u in ranked
    )
    removed_rows = "".join(
        f"<tr class=removed><td>{_e(why)}</td><td>{_e(path)}</td><td>{_e(text)}</td></tr>"
        for path, text, why in x.removed[:2000]
    )
    terms = "".join(f'<span class="pill">{_e(t)} ({w:g})</span>' for t, w in x.terms.items()) or "none"
    kinds = ", ".join(x.answer_kinds) or "none"
    question = _e(x.question) if x.question else "<i>none</i>"
    counts = " · ".join(f"{v} {k}" for k, v in x.counts.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>domprune explain: {_e(x.source)}</title>
<style>{_CSS}</style></head><body>
<h1>domprune explain: {_e(x.source)}</h1>
<p class="meta">budget <b>{x.budget}</b> tokens · before <b>{_e(x.tokens_before)}</b> · after
<b>{x.tokens_after}</b> · question: {question}<br>{_e(counts)}</p>
<h2>Question</h2><p>Terms looked for (weight; page words that share a root count too): {terms}</p>
<p>Kinds of value expected: {_e(kinds)}</p>
<h2>Tokens per step</h2>
<table><tr><th>step</th><th>tokens before</th><th>tokens after</th><th>ms</th><th>what it did</th></tr>{steps_rows}</table>
<h2>The page's content</h2>
<p class="legend"><span class="kept">kept</span><span class="dropped">dropped</span>
<span class="kept rel">relevant to the question</span> (hover a part for its tokens, rank, score and reason)</p>
<div class="content">{content}</div>
<h2>Units by rank</h2>
<table><tr><th>#</th><th>rank</th><th>tokens</th><th>priority</th><th>relevance</th><th>reason</th>
<th>element</th><th>text</th></tr>{unit_rows}</table>
<h2>Removed by filtering ({len(x.removed)})</h2>
<table><tr><th>reason</th><th>element</th><th>text</th></tr>{removed_rows}</table>
<h2>Output</h2><pre>{_e(x.output)}</pre>
</body></html>
"""
