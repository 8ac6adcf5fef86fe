"""Learning on real pages, measured: a real pretrained LM, base -> sft -> sft + GRPO, on sites never seen in training.

The model is Gemma 3 270M (``domvqa-train model get gemma-3-270m --out models/gemma-3-270m``): a
pretrained base LM without a chat template, so prompts use a plain-string template and every budget is
counted by its own tokenizer (``hf:MODEL``).

Data, from ``--corpus`` (the shared corpora):

* **train** pages, from ``--train-corpora`` (default ``swde-book`` and ``trafilatura-eval``): the natural
  questions of their labels (``domprune.bench.corpora``) plus the package's ``generate --generator rules``
  on the same pages;
* **test** pages, from ``--test-corpora`` (default ``mozilla-readability`` and
  ``postlight-parser-fixtures``): natural questions only. No site of the test corpora is in training.

Only questions whose answer occurs in the page (``domprune.answers.answer_in``) and has at most
``FORMAT_MAX_WORDS`` words (so a right answer can also be well-formed) are kept; pages and questions are
sampled with ``--seed``. The package's own stages then run in turn, each one skipped when its output is
already in ``--out`` (a killed run resumes from the last finished stage):

1. ``prepare`` (domprune with the question, ``--budget`` tokens, the plain template);
2. ``eval`` of the base model on the test split (greedy; ``--no-base-eval`` skips it);
3. ``sft`` (``SftRun``, answer positions only) on the train split, ``--sft-steps`` steps; ``eval``;
4. ``label`` with the warmed-up policy (``--label-attempts`` sampled attempts per record) on a pool of
   ``--pool`` train records, then ``filter`` to 0 < d < 1. With ``--grpo-corpus DIR``, the pool comes
   from that folder's labelled pages instead (natural questions, prepared the same way; pages of a site
   in the test corpora are left out): data the model did not see in ``sft``, as a researcher would bring
   to GRPO;
5. GRPO (``TrlGrpoBackend`` with ``init_adapter`` = the sft adapter, ``--grpo-reward``: exact match by
   default), ``--grpo-steps`` steps each, same seed: ``grpo`` on the pool, ``control`` on the pool
   (``--control-split filtered``: on the filtered records) with the rewards shuffled across each step's
   completions (same mean, no information), ``grpo_filtered`` on the filtered records; ``eval`` each.

Then the summary: exact match, F1 and format score on the test split for every model, with 95% bootstrap
intervals, paired bootstrap intervals of the differences (``sft + GRPO - sft``, ``control - sft``,
``grpo_filtered - grpo``), per test corpus too; ``real_learning.json`` (every number) and
``real_learning.png`` (sft loss, GRPO step rewards and the test scores)::

    python benchmarks/real_learning.py --model models/gemma-3-270m --corpus ../shared/corpora --out runs/real_learning
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

USER_TEMPLATE = "<dom>{dom}</dom>\nQuestion: {question}"
"""domvqa_train's default user prompt, as a plain string: the prompt of ``domprune bench --reader`` too, so a
model trained here reads the bench's prompts as it was trained to."""
MODELS = ("base", "sft", "grpo", "control", "grpo_filtered")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def stage(out: Path, name: str, run: Callable[[], Any]) -> Any:
    """Run ``run`` once: its JSON result is kept in ``out/stages/<name>.json`` and read back on resume."""
    done = out / "stages" / f"{name}.json"
    if done.is_file():
        log(f"{name}: done earlier, kept")
        return json.loads(done.read_text(encoding="utf-8"))
    log(f"{name}: starting")
    started = time.perf_counter()
    result = run()
    result = {**result, "seconds": round(time.perf_counter() - started, 1)}
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"{name}: done in {result['seconds']:.0f} s")
    return result


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON Lines file (split at newlines only: page text may hold U+2028)."""
    from domprune.sources import json_lines

    return [json.loads(line) for line in json_lines(path.read_text(encoding="utf-8"))]


# -- data ---------------------------------------------------------------------------------------------


def _keep(answers: list[str], html: str) -> list[str]:
    """The answers that occur in the page and are short enough to be a well-formed boxed answer."""
    from domprune.answers import answer_in
    from domvqa_train.rewards import FORMAT_MAX_WORDS

    return [a for a in answers if len(a.split()) <= FORMAT_MAX_WORDS and answer_in([a], html)]


def corpus_pages(corpus: Path, names: list[str], per_corpus: int, rng: random.Random) -> list[Any]:
    """Up to ``per_corpus`` labelled pages of each named corpus, sampled with ``rng``."""
    from domprune.bench.corpora import load_corpus

    pages = []
    for name in names:
        loaded = load_corpus(corpus / name).pages
        rng.shuffle(loaded)
        pages += loaded[:per_corpus]
    return pages


def natural_records(pages: list[Any], split: str) -> tuple[list[dict], dict[str, int]]:
    """One record per natural question whose answer is in its page; the counts of what was dropped."""
    records, dropped = [], {"answer_not_in_page_or_long": 0, "unreadable_page": 0}
    for page in pages:
        try:
            html = page.read_html()
        except Exception:
            dropped["unreadable_page"] += 1
            continue
        for q in page.questions:
            answers = _keep(list(q.answers), html)
            if not answers:
                dropped["answer_not_in_page_or_long"] += 1
                continue
            records.append(
                {
                    "id": f"{split}:{page.corpus}:{page.id}:{q.field}",
                    "html_path": str(Path(page.path).resolve()),
                    "question": q.text,
                    "answers": answers,
                    "split": split,
                    "corpus": page.corpus,
                    "page_id": f"{page.corpus}:{page.id}",
                    "kind": "natural",
                }
            )
    return records, dropped


def rules_records(pages: list[Any], out: Path, per_page: int, seed: int) -> tuple[list[dict], dict]:
    """``generate --generator rules`` on the train pages (the package's own stage); its grounded questions."""
    from domvqa_train.data.generate import QA_FILE, GenerateSettings, RulesGenerator, generate_dataset
    from domvqa_train.rewards import FORMAT_MAX_WORDS

    source = out / "data" / "train_pages.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"{p.corpus}:{p.id}", "html_path": str(Path(p.path).resolve())}) + "\n"
            for p in pages
        ),
        encoding="utf-8",
    )
    settings = GenerateSettings(per_page=per_page, seed=seed, progress=False, resume=True)
    report = generate_dataset(source, out / "data" / "rules", settings, RulesGenerator())
    corpus_of = {f"{p.corpus}:{p.id}": p.corpus for p in pages}
    path_of = {f"{p.corpus}:{p.id}": str(Path(p.path).resolve()) for p in pages}
    records = []
    for row in read_jsonl(out / "data" / "rules" / QA_FILE):
        answers = [a for a in row["answers"] if len(a.split()) <= FORMAT_MAX_WORDS]
        if not answers:
            continue
        records.append(
            {
                "id": f"train:rules:{row['id']}",
                "html_path": path_of[row["page_id"]],
                "question": row["question"],
                "answers": answers,
                "split": "train",
                "corpus": corpus_of[row["page_id"]],
                "page_id": row["page_id"],
                "kind": "rules",
            }
        )
    return records, {
        "pages": report.pages,
        "pages_with_questions": report.pages_with_questions,
        "pages_rejected": report.pages_rejected,
        "rejects_by_kind": report.rejects_by_kind,
    }


def make_data(args: argparse.Namespace, out: Path) -> dict:
    rng = random.Random(args.seed)
    (out / "data").mkdir(parents=True, exist_ok=True)
    train_pages = corpus_pages(Path(args.corpus), args.train_corpora, args.train_pages, rng)
    test_pages = corpus_pages(Path(args.corpus), args.test_corpora, args.test_pages, rng)
    train, train_dropped = natural_records(train_pages, "train")
    rules, rules_report = rules_records(train_pages, out, args.rules_per_page, args.seed)
    test, test_dropped = natural_records(test_pages, "test")
    train_sites = {r["corpus"] for r in train}
    assert not train_sites & {r["corpus"] for r in test}, "a test corpus is in training"
    rng.shuffle(test)
    test = sorted(test[: args.test_questions], key=lambda r: r["id"])
    records = train + rules + test
    (out / "data" / "records.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    count = lambda rows, key: {k: sum(1 for r in rows if r[key] == k) for k in sorted({r[key] for r in rows})}  # noqa: E731
    return {
        "train_pages": len(train_pages),
        "test_pages": len(test_pages),
        "train_questions": {
            "natural": len(train),
            "rules": len(rules),
            "by_corpus": count(train + rules, "corpus"),
        },
        "test_questions": {"n": len(test), "by_corpus": count(test, "corpus")},
        "dropped": {"train": train_dropped, "test": test_dropped},
        "rules_generator": rules_report,
    }


_SITE_URL = re.compile(r"<(?:link|meta)\b[^>]*>", re.I)
_HOST = re.compile(r"""https?://([^"'/ >:]+)""")


def page_site(html: str) -> str | None:
    """The registrable domain of a page's canonical (or ``og:url``) address: ``bbc.com``, ``cbc.ca``,
    ``yomiuri.co.jp``; ``None`` when the page names none.

    >>> page_site('<link rel="canonical" href="https://www.bbc.com/news/x">')
    'bbc.com'
    >>> page_site('<meta property="og:url" content="https://www.yomiuri.co.jp/a/">')
    'yomiuri.co.jp'
    """
    for tag in _SITE_URL.findall(html[:300_000]):
        low = tag.lower()
        if "canonical" in low or "og:url" in low:
            m = _HOST.search(tag)
            if m:
                labels = m.group(1).lower().split(".")
                keep = 3 if len(labels) > 2 and labels[-2] in ("co", "com", "ne", "or", "ac") else 2
                return ".".join(labels[-keep:])
    return None


def grpo_pages(
    args: argparse.Namespace, test_pages: list[Any], rng: random.Random
) -> tuple[list[Any], list[str]]:
    """Labelled pages for GRPO's pool from ``--grpo-corpus``, less every page of a site that a test page
    is from: the same domain, or a page name holding a test domain's name (``us-CNBC_2023`` for
    ``cnbc.com``; names of 4 letters or more, so that short ones leave no false matches). The pages
    chosen carry their HTML (each is read once; the pool's HTML is held until the choice)."""
    from domprune.bench.corpora import load_corpus

    sites = set()
    for page in test_pages:
        try:
            site = page_site(page.read_html())
        except Exception:
            continue
        if site:
            sites.add(site)
    names = {name for name in (s.split(".")[0] for s in sites) if len(name) >= 4}
    kept, left_out = [], []
    for page in load_corpus(Path(args.grpo_corpus)).pages:
        try:
            html = page.read_html()
        except Exception:
            html = None
        site = page_site(html) if html is not None else None
        name = re.sub(r"[^a-z0-9]", "", str(page.id).lower())
        if site in sites or any(n in name for n in names):
            left_out.append(str(page.id))
        else:
            kept.append((page, html))
    rng.shuffle(kept)
    # the chosen pages carry the HTML read here, so that making their records reads no file again
    # (an unreadable one stays as it was: its records report it)
    chosen = [
        page if html is None else dataclasses.replace(page, html=html)
        for page, html in kept[: args.grpo_pages]
    ]
    return chosen, sorted(left_out)


def make_grpo_data(args: argparse.Namespace, out: Path) -> dict:
    """GRPO's pool from ``--grpo-corpus``: its natural questions (split ``grpo``), prepared as the train
    records were, into ``out/prepared_grpo``."""
    from domprune.bench.corpora import load_corpus
    from domvqa_train.prompts.prepare import prepare_dataset

    rng = random.Random(args.seed + 3)
    # every page of the test corpora (not only the sampled ones) names a site to leave out
    test_pages = [p for name in args.test_corpora for p in load_corpus(Path(args.corpus) / name).pages]
    pages, left_out = grpo_pages(args, test_pages, rng)
    records, dropped = natural_records(pages, "grpo")
    path = out / "data" / "grpo_records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report = prepare_dataset(path, out / "prepared_grpo", prepare_settings(args))
    return {
        "pages": len(pages),
        "pages_left_out_as_test_sites": left_out,
        "questions": len(records),
        "dropped": dropped,
        "prepared": report.model_dump(include={"written", "rejected", "answers_in_prompt"}),
    }


def template() -> Any:
    """The plain-string prompt template of every stage (no chat template, no system text)."""
    from domprune import PromptTemplate

    return PromptTemplate(system=None, user=USER_TEMPLATE, chat=False)


def prepare_settings(args: argparse.Namespace) -> Any:
    """How prompts are made, for ``prepare`` and for ``label`` alike: the model's tokenizer, ``--budget``."""
    from domvqa_train.prompts.prepare import PrepareSettings

    return PrepareSettings(
        tokenizer=f"hf:{args.model}", prompt_budget=args.budget, template=template(), progress=False
    )


def prepare(args: argparse.Namespace, out: Path) -> dict:
    from domvqa_train.prompts.prepare import prepare_dataset

    report = prepare_dataset(out / "data" / "records.jsonl", out / "prepared", prepare_settings(args))
    return report.model_dump(
        include={
            "written",
            "rejected",
            "rejects_by_kind",
            "prompt_tokens",
            "answers_in_dom",
            "answers_in_prompt",
        }
    )


# -- models ---------------------------------------------------------------------------------------------


def train_settings(args: argparse.Namespace, out: Path, **update: Any) -> Any:
    from domvqa_train.training.settings import TrainSettings

    base = dict(
        model=str(Path(args.model).resolve()),
        tokenizer=f"hf:{args.model}",
        template=template(),
        prepared_dir=str(out / "prepared"),
        prompt_budget=args.budget,
        lora={"rank": args.lora_rank, "alpha": 2 * args.lora_rank, "dropout": 0.0},
        gradient_checkpointing=False,
        dtype="float32",
        seed=args.seed,
        resume=True,
        logging_steps=1,
        num_generations=args.generations,
        max_completion_length=args.max_completion_length,
    )
    return TrainSettings(**{**base, **update})


def run_sft(args: argparse.Namespace, out: Path) -> dict:
    from domvqa_train.training.sft import SftRun

    settings = train_settings(
        args,
        out,
        per_device_batch_size=args.sft_batch,
        gradient_accumulation_steps=1,
        save_steps=max(1, args.sft_steps // 2),
        merge_adapter=True,  # the merged folder is a reader for domprune bench --reader
        sft={"output_dir": str(out / "sft"), "max_steps": args.sft_steps, "learning_rate": args.sft_lr},
    )
    report = SftRun(settings).train()
    losses = [{"step": r["step"], "loss": r["loss"]} for r in report.log_history if "loss" in r]
    return {
        "adapter": report.adapter_dir,
        "merged": report.merged_dir,
        "steps": report.steps,
        "losses": losses,
    }


def label_and_filter(args: argparse.Namespace, out: Path, sft_adapter: str) -> dict:
    """The seed's idea: pass rates of the warmed-up policy on a pool of train records, kept where 0 < d < 1."""
    from domvqa_train.data.filter import DATA_FILE, FilterDataSettings, filter_data
    from domvqa_train.data.label import LABELS_FILE, LabelSettings, LocalPolicy, PolicyModel, label_dataset

    if args.grpo_corpus:  # the pool from other labelled pages (make_grpo_data)
        records = read_jsonl(out / "data" / "grpo_records.jsonl")
        rows = read_jsonl(out / "prepared_grpo" / "grpo.jsonl")
        split = "grpo"
    else:
        records = read_jsonl(out / "data" / "records.jsonl")
        rows = read_jsonl(out / "prepared" / "train.jsonl")  # the prepared training rows
        split = "train"
    prepared_ids = {x["id"] for x in rows}
    train = [r for r in records if r["split"] == split and r["id"] in prepared_ids]
    random.Random(args.seed + 7).shuffle(train)
    pool = sorted(train[: args.pool], key=lambda r: r["id"])
    pool_file = out / "label" / "pool.jsonl"
    pool_file.parent.mkdir(parents=True, exist_ok=True)
    pool_file.write_text("".join(json.dumps(r) + "\n" for r in pool), encoding="utf-8")
    settings = LabelSettings(
        attempts=args.label_attempts,
        max_new_tokens=args.max_completion_length,
        images=False,
        generation_batch=8,
        seed=args.seed,
        progress=False,
    )
    report = label_dataset(
        pool_file, out / "label", LocalPolicy(PolicyModel(sft_adapter)), settings, prepare_settings(args)
    )
    labels = out / "label" / LABELS_FILE
    filtered = filter_data(
        [labels], out / "filtered", FilterDataSettings(keep_range="0<d<1", eval_fraction=0.0)
    )
    kept = {x["id"] for x in read_jsonl(out / "filtered" / DATA_FILE)}
    # the two GRPO training sets as prepared splits: the pool, and its records with 0 < d < 1
    pool_ids = {r["id"] for r in pool}
    for split, ids in (("pool", pool_ids), ("filtered", kept)):
        (out / "prepared" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows if r["id"] in ids), encoding="utf-8"
        )
    return {
        "pool": len(pool),
        **report.model_dump(include={"labelled", "rejected", "rejects_by_kind", "dom_histogram", "dom_mean"}),
        "kept_0_lt_d_lt_1": len(kept),
        "filter": filtered.model_dump(include={"kept", "dropped", "dropped_by_kind"}),
    }


def run_grpo(args: argparse.Namespace, out: Path, name: str, split: str, sft_adapter: str) -> dict:
    from grpo_learning import ShuffledReward  # the tiny-model benchmark's control, beside this script

    from domvqa_train.training.train import TrlGrpoBackend

    settings = train_settings(
        args,
        out,
        init_adapter=sft_adapter,
        train_split=split,
        output_dir=str(out / name),
        max_steps=args.grpo_steps,
        per_device_batch_size=args.prompts * args.generations,
        gradient_accumulation_steps=1,
        temperature=args.temperature,
        learning_rate=args.grpo_lr,
        rewards={args.grpo_reward: 1.0},
        save_steps=max(1, args.grpo_steps // 2),
        merge_adapter=name == "grpo",
    )
    funcs = [ShuffledReward(args.seed, args.grpo_reward)] if name == "control" else None
    report = TrlGrpoBackend(settings, reward_funcs=funcs, reward_weights=None).train()
    curve = [
        {
            "step": r["step"],
            "reward": r["reward"],
            "reward_std": r.get("reward_std"),
            "frac_reward_zero_std": r.get("frac_reward_zero_std"),  # groups that teach nothing
        }
        for r in report.log_history
        if "reward" in r
    ]
    return {
        "adapter": report.adapter_dir,
        "merged": report.merged_dir,
        "steps": report.steps,
        "split": split,
        "curve": curve,
    }


def evaluate(args: argparse.Namespace, out: Path, name: str, model: str, sample: int | None = None) -> dict:
    """Greedy answers of ``model`` on the test split (``sample``: that many of its questions, drawn with
    the seed, the same ones for every model); the per-question scores are kept for the intervals."""
    from domprune.bench.metrics import contains_answer
    from domvqa_train.evaluation.eval import EvalSettings, evaluate_models
    from domvqa_train.prompts.prepare import load_prepared

    test = load_prepared(out / "prepared", "test")
    if sample is not None and sample < len(test):
        test = test.select(sorted(random.Random(args.seed + 11).sample(range(len(test)), sample)))
    settings = EvalSettings(
        max_new_tokens=args.eval_max_new_tokens, batch_size=args.eval_batch, rewards={"exact_match": 1.0}
    )
    report = evaluate_models([model], test, settings, split="test")
    scores = report.scores[0]
    rows = report.predictions[model]
    return {
        "model": model,
        "exact_match": scores.exact_match,
        "f1": scores.f1,
        "format": scores.format_accuracy,
        "contains": sum(contains_answer(r["completion"], r["answers"]) for r in rows) / len(rows),
        "rows": [
            {
                "id": r["id"],
                "corpus": r["id"].split(":")[1],  # ids are test:<corpus>:<page>:<field>
                "answer_in_prompt": r["answer_in_prompt"],
                "exact_match": r["exact_match"],
                "f1": r["f1"],
                "format": r["format"],
                "contains": contains_answer(r["completion"], r["answers"]),
                "completion": r["completion"],
            }
            for r in rows
        ],
    }


# -- summary ------------------------------------------------------------------------------------------


def bootstrap(values: list[float], reps: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the mean of ``values``."""
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    return means[int(0.025 * reps)], means[int(0.975 * reps) - 1]


def summarise(evals: dict[str, dict], reps: int, seed: int) -> dict:
    """Means and intervals per model and corpus; paired differences between models."""
    metrics = ("exact_match", "f1", "format", "contains")
    subsets: dict[str, Callable[[dict], bool]] = {"all": lambda r: True}
    for corpus in sorted({r["corpus"] for r in next(iter(evals.values()))["rows"]}):
        subsets[corpus] = lambda r, c=corpus: r["corpus"] == c
    subsets["answer_in_prompt"] = lambda r: bool(r["answer_in_prompt"])
    common = set.intersection(*({r["id"] for r in ev["rows"]} for ev in evals.values()))
    if any(len(ev["rows"]) > len(common) for ev in evals.values()):
        subsets["questions_every_model_answered"] = lambda r: r["id"] in common
    table: dict[str, dict] = {}
    for name, ev in evals.items():
        table[name] = {}
        for subset, keep in subsets.items():
            rows = [r for r in ev["rows"] if keep(r)]
            if not rows:
                continue
            table[name][subset] = {"n": len(rows)}
            for m in metrics:
                vals = [float(r[m] or 0.0) for r in rows]
                low, high = bootstrap(vals, reps, seed)
                table[name][subset][m] = {"mean": sum(vals) / len(vals), "ci95": [low, high]}
    pairs = [
        ("sft", "base"),
        ("grpo", "sft"),
        ("control", "sft"),
        ("grpo_filtered", "sft"),
        ("grpo_filtered", "grpo"),
        ("grpo_filtered", "control"),
    ]
    diffs = {}
    for a, b in pairs:
        if a not in evals or b not in evals:
            continue
        by_id = {r["id"]: r for r in evals[b]["rows"]}
        diffs[f"{a} - {b}"] = {}
        for m in metrics:
            vals = [
                float(r[m] or 0.0) - float(by_id[r["id"]][m] or 0.0)
                for r in evals[a]["rows"]
                if r["id"] in by_id
            ]
            low, high = bootstrap(vals, reps, seed)
            diffs[f"{a} - {b}"][m] = {"n": len(vals), "mean": sum(vals) / len(vals), "ci95": [low, high]}
    return {"scores": table, "paired_differences": diffs}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    sft = result["stages"].get("sft", {}).get("losses", [])
    axes[0].plot([r["step"] for r in sft], [r["loss"] for r in sft])
    axes[0].set(title="sft: completion loss", xlabel="step", ylabel="loss")
    for name in ("grpo", "control", "grpo_filtered"):
        curve = result["stages"].get(name, {}).get("curve", [])
        if curve:
            steps, rewards = [r["step"] for r in curve], [r["reward"] for r in curve]
            w = max(1, len(curve) // 5)
            smooth = [
                sum(rewards[max(0, i - w + 1) : i + 1]) / len(rewards[max(0, i - w + 1) : i + 1])
                for i in range(len(rewards))
            ]
            (line,) = axes[1].plot(steps, rewards, alpha=0.25)
            axes[1].plot(steps, smooth, color=line.get_color(), label=f"{name} ({w}-step mean)")
    axes[1].set(title="GRPO: step reward of the sampled answers", xlabel="step", ylim=(-0.02, 1.02))
    axes[1].legend(fontsize=8)
    scores = result["summary"]["scores"]
    names = [n for n in MODELS if n in scores]
    first = scores[names[0]]
    subset = "questions_every_model_answered" if "questions_every_model_answered" in first else "all"
    for k, metric in enumerate(("exact_match", "f1", "format")):
        means = [scores[n][subset][metric]["mean"] for n in names]
        errs = [
            [m - scores[n][subset][metric]["ci95"][0] for n, m in zip(names, means, strict=True)],
            [scores[n][subset][metric]["ci95"][1] - m for n, m in zip(names, means, strict=True)],
        ]
        xs = [i + (k - 1) * 0.27 for i in range(len(names))]
        axes[2].bar(xs, means, width=0.27, yerr=errs, capsize=3, label=metric)
    axes[2].set_xticks(range(len(names)), names, rotation=15)
    n = first[subset]["n"]
    axes[2].set(title=f"unseen sites ({n} test questions): mean, 95% bootstrap CI", ylim=(0, 1.05))
    axes[2].legend(fontsize=8)
    fig.suptitle("Gemma 3 270M on real pages (CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="the model folder (domvqa-train model get gemma-3-270m --out DIR)"
    )
    parser.add_argument("--corpus", required=True, help="the folder of the shared corpora")
    parser.add_argument("--out", default="runs/real_learning")
    parser.add_argument("--train-corpora", nargs="+", default=["swde-book", "trafilatura-eval"])
    parser.add_argument(
        "--test-corpora", nargs="+", default=["mozilla-readability", "postlight-parser-fixtures"]
    )
    parser.add_argument("--train-pages", type=int, default=100, help="pages sampled per train corpus")
    parser.add_argument("--test-pages", type=int, default=170, help="pages sampled per test corpus")
    parser.add_argument(
        "--test-questions", type=int, default=200, help="test questions sampled from those pages"
    )
    parser.add_argument(
        "--rules-per-page", type=int, default=2, help="generate --generator rules questions per train page"
    )
    parser.add_argument(
        "--budget", type=int, default=384, help="prompt budget (tokens of the model's tokenizer)"
    )
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--sft-steps", type=int, default=80)
    parser.add_argument("--sft-batch", type=int, default=4)
    parser.add_argument("--sft-lr", type=float, default=2e-4)
    parser.add_argument(
        "--pool", type=int, default=96, help="train records labelled by the sft policy (GRPO's pool)"
    )
    parser.add_argument(
        "--grpo-corpus",
        help="a folder of labelled pages (any domprune bench corpus layout) to draw GRPO's pool from instead "
        "of the train records; pages of the test corpora's sites are left out",
    )
    parser.add_argument("--grpo-pages", type=int, default=1000, help="pages drawn from --grpo-corpus")
    parser.add_argument("--label-attempts", type=int, default=4)
    parser.add_argument("--grpo-steps", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=2, help="prompts per GRPO step")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-completion-length", type=int, default=40)
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="GRPO's sampling temperature (after sft the policy is near-deterministic: a higher one gives "
        "a group's completions a spread to learn from)",
    )
    parser.add_argument("--grpo-lr", type=float, default=1e-4)
    parser.add_argument(
        "--grpo-reward",
        choices=("exact_match", "f1"),
        default="exact_match",
        help="GRPO's reward (and its control's, shuffled): exact match, or token F1 (graded: a group of "
        "wrong answers can still differ)",
    )
    parser.add_argument(
        "--grpo-eval-questions",
        type=int,
        default=None,
        help="evaluate the GRPO runs on this many of the test questions (drawn with the seed; the differences "
        "to sft are paired on them); default: all",
    )
    parser.add_argument("--eval-max-new-tokens", type=int, default=40)
    parser.add_argument("--eval-batch", type=int, default=8)
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-base-eval",
        action="store_true",
        help="skip the base model's eval (it never stops, so it is the slowest eval: 40 tokens an answer; "
        "its scores are in real_learning.md)",
    )
    parser.add_argument("--runs", default="grpo,control,grpo_filtered", help="GRPO runs ('' for none)")
    parser.add_argument(
        "--control-split",
        choices=("pool", "filtered"),
        default="pool",
        help="the records of the shuffled-reward control: the labelled pool, or those with 0 < d < 1 (the "
        "control of grpo_filtered)",
    )
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    if not set(runs) <= {"grpo", "control", "grpo_filtered"}:
        parser.error("--runs takes grpo, control and grpo_filtered")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stages: dict[str, dict] = {}
    stages["data"] = stage(out, "data", lambda: make_data(args, out))
    stages["prepare"] = stage(out, "prepare", lambda: prepare(args, out))
    evals: dict[str, dict] = {}
    if not args.no_base_eval:
        evals["base"] = stage(
            out, "eval_base", lambda: evaluate(args, out, "base", str(Path(args.model).resolve()))
        )
    stages["sft"] = stage(out, "sft", lambda: run_sft(args, out))
    sft_adapter = stages["sft"]["adapter"]
    evals["sft"] = stage(out, "eval_sft", lambda: evaluate(args, out, "sft", sft_adapter))
    if runs and args.grpo_corpus:
        stages["grpo_data"] = stage(out, "grpo_data", lambda: make_grpo_data(args, out))
    if runs:
        stages["label"] = stage(out, "label", lambda: label_and_filter(args, out, sft_adapter))
    for name in runs:
        split = {"grpo_filtered": "filtered", "control": args.control_split}.get(name, "pool")
        if split == "filtered" and stages["label"]["kept_0_lt_d_lt_1"] < args.prompts:
            stages[name] = {"skipped": f"{stages['label']['kept_0_lt_d_lt_1']} records with 0 < d < 1"}
            log(f"{name}: skipped, {stages[name]['skipped']}")
            continue
        stages[name] = stage(out, name, lambda n=name, s=split: run_grpo(args, out, n, s, sft_adapter))
        evals[name] = stage(
            out,
            f"eval_{name}",
            lambda n=name: evaluate(args, out, n, stages[n]["adapter"], args.grpo_eval_questions),
        )
    result = {
        "command": "python " + shlex.join(sys.argv),
        "args": vars(args),
        "template": USER_TEMPLATE,
        "stages": stages,
        "summary": summarise(evals, args.bootstrap, args.seed),
        "evals": {n: {k: v for k, v in e.items() if k != "rows"} for n, e in evals.items()},
        "total_seconds_this_process": round(time.perf_counter() - started, 1),
    }
    (out / "real_learning.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, out / "real_learning.png")
    print("\nunseen sites (test), mean [95% bootstrap CI]")
    for subset in ("all", "questions_every_model_answered"):
        for name, per in result["summary"]["scores"].items():
            if subset not in per:
                continue
            cells = "  ".join(
                f"{m} {per[subset][m]['mean']:.3f} [{per[subset][m]['ci95'][0]:.3f}, {per[subset][m]['ci95'][1]:.3f}]"
                for m in ("exact_match", "f1", "format", "contains")
            )
            print(f"  {subset[:8]} {name:<14} n={per[subset]['n']}  {cells}")
    for pair, d in result["summary"]["paired_differences"].items():
        em = d["exact_match"]
        print(f"  {pair:<22} exact match {em['mean']:+.3f} [{em['ci95'][0]:+.3f}, {em['ci95'][1]:+.3f}]")
    print(f"wrote {out / 'real_learning.json'} and {out / 'real_learning.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
