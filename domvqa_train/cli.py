"""``domvqa-train prepare|train|eval|test|analyze``: argument parsing and printing over the library.

Every command reads the same settings (``--config run.yaml`` plus ``--set key=value`` overrides and a
few explicit flags). Errors print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from .errors import DomVQAError, PrepareError
from .settings import TrainSettings, launched_processes

EXIT_ERROR = 2


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML or TOML settings file (keys: see `train --print-settings`)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, dotted for groups (e.g. --set lora.rank=16); repeatable",
    )
    parser.add_argument("--model", help="model name or local folder (setting: model)")
    parser.add_argument("--prepared-dir", help="folder of prepared <split>.jsonl (setting: prepared_dir)")
    parser.add_argument(
        "--preset", help="settings preset under the file and --set, e.g. 'original' (setting: preset)"
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="domvqa-train",
        description="Prepare DOM question data, train GRPO LoRA adapters, evaluate, test, analyze.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="prune each DOM so its whole prompt fits prompt_budget; write JSONL")
    _settings_args(p)
    p.add_argument(
        "--data", help="raw data: conversations JSON, raw records, JSONL or hf:NAME (setting: data)"
    )
    p.add_argument("--workers", type=int, default=1, help="processes (or Ray actors) that fit prompts")
    p.add_argument("--no-resume", action="store_true", help="recompute everything in the output folder")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: fit on Ray Data actors (same outputs)",
    )
    p.add_argument(
        "--ray-address", help="Ray cluster to join (auto, ray://host:10001); default: start Ray here"
    )

    p = sub.add_parser("train", help="GRPO LoRA training on the prepared train split")
    _settings_args(p)
    p.add_argument("--output-dir", help="checkpoints and the final adapter go here (setting: output_dir)")
    p.add_argument("--max-steps", type=int, help="setting: max_steps")
    p.add_argument("--print-settings", action="store_true", help="print the validated settings and exit")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="upload the merged model (or the adapter) with a model card to this Hub repo; token from HF_TOKEN",
    )

    p = sub.add_parser("eval", help="score one or more models (base, adapters) on the eval split")
    _settings_args(p)
    p.add_argument("models", nargs="+", help="model names/folders or adapter folders, compared side by side")
    p.add_argument("--split", help="prepared split to evaluate (default: eval or test, whichever exists)")
    p.add_argument(
        "--inputs",
        choices=["dom", "screenshot", "both"],
        help="what the models answer from (default: dom; both when use_screenshots is set)",
    )
    p.add_argument("--max-examples", type=int, help="evaluate the first N examples only")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--base-model", help="base model for adapter folders (default: from adapter_config.json)")
    p.add_argument("--out", default="runs/eval", help="folder for eval_report.json/.md (default: runs/eval)")

    p = sub.add_parser("test", help="load a trained model and answer a few example DOM questions")
    _settings_args(p)
    p.add_argument("adapter", help="adapter (or model) folder to load")
    p.add_argument("--examples", help="raw examples file (default: the prepared eval split)")
    p.add_argument("-n", "--num", type=int, default=3, help="how many examples to answer (default 3)")
    p.add_argument(
        "--base-model", help="base model for an adapter folder (default: from adapter_config.json)"
    )

    p = sub.add_parser("analyze", help="break eval results down: difficulty, prompt size, answer type, flips")
    p.add_argument("eval_dirs", nargs="+", metavar="EVAL_DIR", help="folders holding eval_report.json")
    p.add_argument("--out", default="runs/analysis", help="folder for analysis.md/.json and plots")
    p.add_argument("--baseline", help="model to compare the others with (default: the first one)")
    return parser


def _load_settings(args: argparse.Namespace) -> TrainSettings:
    overrides = list(args.overrides)
    flags = {
        "model": getattr(args, "model", None),
        "prepared_dir": getattr(args, "prepared_dir", None),
        "data": getattr(args, "data", None),
        "output_dir": getattr(args, "output_dir", None),
        "max_steps": getattr(args, "max_steps", None),
        "preset": getattr(args, "preset", None),
        "push_to_hub": getattr(args, "push_to_hub", None),
    }
    data: dict[str, Any] = {}
    if args.config:
        from .settings import read_settings_file

        data = read_settings_file(args.config)
    for key, value in flags.items():
        if value is not None:
            data[key] = value
    return TrainSettings.load(data, overrides, source=args.config or "settings")


def _prepare_settings(settings: TrainSettings, workers: int = 1, resume: bool = True, **engine: Any) -> Any:
    from .prepare import PrepareSettings

    return PrepareSettings(
        **engine,
        tokenizer=settings.tokenizer,
        prompt_budget=settings.prompt_budget,
        template=settings.template,
        dom_source=settings.dom_source,
        image_tokens=settings.image_tokens if settings.use_screenshots else 0,
        workers=workers,
        resume=resume,
    )


def cmd_prepare(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    if not settings.data:
        raise DomVQAError("no data to prepare: pass --data FILE (or set `data` in the settings file)")
    from .prepare import prepare_dataset

    engine = {"engine": args.engine, "ray_address": args.ray_address}
    report = prepare_dataset(
        settings.data,
        settings.prepared_dir,
        _prepare_settings(settings, args.workers, not args.no_resume, **engine),
    )
    print(report.model_dump_json(indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    if args.print_settings:
        print(settings.model_dump_json(indent=2))
        return 0
    settings.check_batch(launched_processes())  # before the heavy imports and the model load
    if settings.push_to_hub:
        from .hub import check_hub_access

        check_hub_access(settings.push_to_hub)
    from .backends import create_backend

    report = create_backend(settings).train()
    if os.environ.get("RANK", "0") == "0":  # one summary per launch, not one per process
        print(json.dumps(report.model_dump(exclude={"log_history"}), indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalSettings, evaluate_models
    from .prepare import find_eval_split, load_prepared

    settings = _load_settings(args)
    split = find_eval_split(settings.prepared_dir, args.split or settings.eval_split)
    inputs = args.inputs or ("both" if settings.use_screenshots else "dom")
    dataset = load_prepared(settings.prepared_dir, split)
    if inputs != "dom":
        from .screenshots import resolve_screenshots

        dataset = resolve_screenshots(dataset, settings.prepared_dir)
    eval_settings = EvalSettings(
        max_examples=args.max_examples,
        max_new_tokens=settings.max_completion_length,
        batch_size=args.batch_size,
        rewards=settings.rewards,
        inputs=inputs,
        template=settings.template,
        attn_implementation=settings.attn_implementation,
        dtype=settings.dtype,
        base_model=args.base_model,
    )
    report = evaluate_models(args.models, dataset, eval_settings, split=split)
    path = report.write(args.out)
    print(report.table())
    print(f"\nwrote {path}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analyze import analyze

    analysis = analyze(args.eval_dirs, args.out, baseline=args.baseline)
    print(analysis.summary())
    print(f"\nwrote {os.path.join(args.out, 'analysis.md')}")
    return 0


def _first(dataset: Any, n: int, settings: TrainSettings, prepared_dir: str) -> Any:
    """The first ``n`` rows; with screenshots, their paths resolved (from ``prepared_dir`` and the raw data)."""
    from .screenshots import resolve_screenshots

    dataset = dataset.select(range(min(n, len(dataset))))
    return resolve_screenshots(dataset, prepared_dir) if settings.use_screenshots else dataset


def cmd_test(args: argparse.Namespace) -> int:
    from .modelio import generate, load_for_inference
    from .prepare import find_eval_split, load_prepared, prepare_dataset
    from .screenshots import load_image

    settings = _load_settings(args)
    if args.examples:
        with tempfile.TemporaryDirectory() as tmp:
            report = prepare_dataset(args.examples, tmp, _prepare_settings(settings))
            if not report.written:
                raise DomVQAError(
                    f"no example of {args.examples} could be prepared; see `domvqa-train prepare`"
                )
            dataset = _first(load_prepared(tmp, next(iter(report.written))), args.num, settings, tmp)
    else:
        try:
            split = find_eval_split(settings.prepared_dir, settings.eval_split)
        except PrepareError:  # no evaluation split: answer questions of the training split
            split = settings.train_split
        dataset = _first(
            load_prepared(settings.prepared_dir, split), args.num, settings, settings.prepared_dir
        )
    images = [load_image(p) for p in dataset["screenshot"]] if settings.use_screenshots else None
    loaded = load_for_inference(
        args.adapter,
        base_model=args.base_model,
        attn_implementation=settings.attn_implementation,
        dtype=settings.dtype,
        images=images is not None,
    )
    answers = generate(
        loaded, dataset["prompt"], max_new_tokens=settings.max_completion_length, images=images
    )
    for row, answer in zip(dataset, answers, strict=True):
        print(f"[{row['id']}] Q: {row.get('question', '')}")
        print(f"  expected: {' | '.join(row['answers'])}")
        print(f"  model:    {answer.strip()}")
    return 0


_COMMANDS = {
    "prepare": cmd_prepare,
    "train": cmd_train,
    "eval": cmd_eval,
    "test": cmd_test,
    "analyze": cmd_analyze,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``domvqa-train``; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except DomVQAError as exc:
        print(f"domvqa-train {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        from domprune import DomPruneError

        if isinstance(exc, DomPruneError):
            print(f"domvqa-train {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise
    except KeyboardInterrupt:
        print(f"domvqa-train {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
