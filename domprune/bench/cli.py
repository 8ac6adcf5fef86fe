"""``domprune bench``: argument parsing and printing only; the work is in :mod:`domprune.bench.runner`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from .baselines import ALL_METHODS
from .loaders import BenchInputError
from .settings import DEFAULT_BUDGETS, BenchSettings


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x.strip().lower().replace("k", "000")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of token counts, e.g. 16000,8000"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one budget")
    return values


def _methods(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in ALL_METHODS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown methods {unknown}: choose from {','.join(ALL_METHODS)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to ``parser``."""
    d = BenchSettings.model_fields
    parser.add_argument("--corpus", type=Path, help="folder of the labelled corpora, or one corpus folder")
    parser.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="PATH",
        help="HTML folder, JSONL/JSON file (html|html_path, question, answer|answers, or the "
        "conversations format), datasets.save_to_disk folder, or hf:NAME (repeatable)",
    )
    parser.add_argument("--hf-split", default=d["hf_split"].default, help="split of a dataset input")
    parser.add_argument(
        "--out", type=Path, default=d["out"].default, help="folder for results.json, plots, records"
    )
    parser.add_argument(
        "--budgets",
        type=_int_list,
        default=list(DEFAULT_BUDGETS),
        help="comma-separated token budgets (default %(default)s)",
    )
    parser.add_argument(
        "--tokenizer", default=d["tokenizer"].default, help="qwen2.5 | hf:NAME | tiktoken:ENCODING"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=d["sample"].default,
        help="pages drawn per corpus (default %(default)s; 0 = all)",
    )
    parser.add_argument("--seed", type=int, default=d["seed"].default)
    parser.add_argument(
        "--methods",
        type=_methods,
        default=list(ALL_METHODS),
        help=f"comma-separated, from {','.join(ALL_METHODS)} (default: all)",
    )
    parser.add_argument(
        "--require-methods",
        action="store_true",
        help="stop (exit 2) when a method named cannot be built, instead of leaving it out",
    )
    parser.add_argument(
        "--htmlrag-sample",
        type=int,
        default=d["htmlrag_sample"].default,
        help="HtmlRAG runs on this many drawn pages per corpus, it is slow (default %(default)s; -1 = all)",
    )
    parser.add_argument(
        "--dense-sample",
        type=int,
        default=d["dense_sample"].default,
        help="domprune_dense runs on this many drawn pages per corpus, it is slow (default %(default)s; "
        "-1 = all)",
    )
    parser.add_argument(
        "--format",
        choices=["html", "text", "markdown"],
        default=d["format"].default,
        help="how domprune's methods write their output (default %(default)s)",
    )
    parser.add_argument(
        "--vocabulary",
        choices=["full", "leave-one-out", "sources"],
        default=d["vocabulary"].default,
        help="label words of domprune's fields: as shipped, or without what the corpus under test gave "
        "(leave-one-out), or only the published synonyms (sources) (default %(default)s)",
    )
    parser.add_argument("--synthetic-per-page", type=int, default=d["synthetic_per_page"].default)
    parser.add_argument("--paraphrased-per-page", type=int, default=d["paraphrased_per_page"].default)
    parser.add_argument(
        "--chunk-budget", type=int, default=d["chunk_budget"].default, help="0 = skip chunking"
    )
    parser.add_argument(
        "--memory-sample",
        type=int,
        default=d["memory_sample"].default,
        help="pages whose peak memory is traced",
    )
    parser.add_argument("--no-ablation", action="store_true", help="skip the runs with budget fitting off")
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=d["call_timeout_s"].default,
        help="seconds after which one call is stopped and counted as failed",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    reader = parser.add_argument_group(
        "reader", "a model answers sampled questions from each method's output"
    )
    reader.add_argument(
        "--reader",
        type=Path,
        metavar="DIR",
        help="folder of a transformers causal LM that has learnt the task (loaded offline; needs "
        "domprune[reader])",
    )
    reader.add_argument(
        "--reader-sample",
        type=int,
        metavar="N",
        default=d["reader_sample"].default,
        help="questions it answers, drawn by corpus and kind (default %(default)s)",
    )
    reader.add_argument(
        "--reader-max-new-tokens",
        type=int,
        metavar="N",
        default=d["reader_max_new_tokens"].default,
        help="tokens per answer, greedy (default %(default)s)",
    )
    reader.add_argument(
        "--reader-context",
        type=int,
        metavar="N",
        help="tokens it may read, prompt and answer (default: the model's max_position_embeddings, at most 32768)",
    )
    reader.add_argument(
        "--reader-batch-size",
        type=int,
        metavar="N",
        default=d["reader_batch_size"].default,
        help="prompts answered at once (default %(default)s)",
    )


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The :class:`BenchSettings` of parsed arguments (raises ``ValidationError`` on bad values)."""
    return BenchSettings(
        corpus=args.corpus,
        inputs=args.inputs,
        hf_split=args.hf_split,
        out=args.out,
        budgets=args.budgets,
        tokenizer=args.tokenizer,
        sample=args.sample or None,
        seed=args.seed,
        methods=args.methods,
        format=args.format,
        vocabulary=args.vocabulary,
        require_methods=args.require_methods,
        htmlrag_sample=None if args.htmlrag_sample < 0 else args.htmlrag_sample,
        dense_sample=None if args.dense_sample < 0 else args.dense_sample,
        synthetic_per_page=args.synthetic_per_page,
        paraphrased_per_page=args.paraphrased_per_page,
        chunk_budget=args.chunk_budget,
        memory_sample=args.memory_sample,
        ablation=not args.no_ablation,
        call_timeout_s=args.call_timeout,
        progress=not args.no_progress,
        reader=args.reader,
        reader_sample=args.reader_sample,
        reader_max_new_tokens=args.reader_max_new_tokens,
        reader_context=args.reader_context,
        reader_batch_size=args.reader_batch_size,
    )


def run(args: argparse.Namespace) -> int:
    """Run the bench; print the tables and where the files are. Exit code 0, or 2 on bad input."""
    from domprune.errors import DomPruneError

    from .report import tables, write_report
    from .runner import run_bench

    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"domprune bench: {msgs}", file=sys.stderr)
        return 2
    try:
        bench_run = run_bench(settings, log=lambda m: print(m, file=sys.stderr))
    except (BenchInputError, DomPruneError) as exc:
        print(f"domprune bench: {exc}", file=sys.stderr)
        return 2
    numbers, paths = write_report(bench_run, settings.out)
    print(tables(numbers))
    print("\nwritten: " + ", ".join(str(p) for p in paths))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m domprune.bench``) until the main CLI wires ``bench`` in."""
    parser = argparse.ArgumentParser(prog="domprune bench", description="Measure domprune against baselines.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
