"""Write benchmarks/RESULTS.md from the bench runs of benchmarks/run_bench.sh (bench-out/*/).

Usage (from the repository root): python benchmarks/compose_results.py [RUN_DIR ...]
Every number in RESULTS.md comes from the runs' results.json / report.txt; this script adds the
method description, the commands and the machine. It rewrites only its own part of RESULTS.md,
between the BEGIN/END markers; the sections after it (other benchmarks) are kept as they are.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "RESULTS.md"

INTRO = """\
# domprune bench results

Produced by `bash benchmarks/run_bench.sh` (then `python benchmarks/compose_results.py`), from the
repository root, with the corpora folder at `../shared/corpora`. Re-run both to refresh this file.

## What is measured

- **Pages and questions.** Four labelled corpora of real pages (mozilla-readability, Postlight parser
  fixtures, SWDE books, trafilatura's evaluation set). *Natural* questions come from the labels
  ("What is the title of this article?", "Who wrote this article?", "What is the ISBN-13 of the
  book?", ...); a question is kept only when its answer occurs in the page. *Synthetic* questions
  (reported apart) ask for the value next to a label found anywhere in the page: two-cell table
  rows, `<dt>/<dd>`, form labels, and small elements reading `Label: value`
  (`domprune/bench/questions.py`); up to 2 per page, drawn with the seed. *Paraphrased* questions
  (also synthetic, reported apart) ask for such a value without the label's words ("Publisher" ->
  "Which company brought this book out?"; wordings written for the bench, one list per kind of
  fact, in `domprune/bench/questions.py`, apart from domprune's own vocabulary; a wording sharing a
  word stem with the label is not used); up to 2 per page.
- **Retention.** An answer is retained when its words, in order and whole, occur among the words
  of the output's content (`domprune.answers.answer_in`, the same test domvqa_train's prepare uses):
  content is, for HTML, the text outside `<script>/<style>/<template>` in document order, the text
  of JSON-LD scripts and every attribute value; for text outputs, the text. Words are compared
  canonically (HTML entities unescaped, NFKC, typographic quotes/dashes to ASCII, case folded;
  numbers without currency signs, thousands separators or an all-zero fraction, so `$1,000.00` is
  `1000` and `100` is not in `1000`; punctuation and a/an/the dropped); scripts without spaces
  between words (CJK, Thai) are matched as substrings. The same test selects the questions, so
  every kept answer is retained by the raw page.
- **Methods.** `domprune` (`prune` with the question), `domprune_noq` (`prune` without it), and
  baselines cut to the budget with the same tokenizer: `truncate` (raw page, head), `strip_truncate`
  (scripts, styles, comments removed, then head), `trafilatura` (`extract(with_metadata=True)`, then
  head), `htmlrag` (HtmlRAG 0.1.1's BM25 pruner, `max_node_words=10`, with the Qwen2.5 vocabulary as
  a transformers tokenizer; slow, so run on 2 pages per corpus of the default run only: its
  "against domprune" rows compare the two on exactly those pages and questions).
- **Tokens** are counted with the Qwen2.5 vocabulary (Holo1-3B's), on the DOM alone (no prompt).
  Reduction = tokens of the raw page / tokens of the output (median over calls).
- **Time** of one call = the method's budget-independent work (parsing, extraction, tokenisation)
  plus its work for that budget, one call at a time in one process. domprune prepares each page
  once and fits it to every budget (`domprune.prepare(...).fit(budget)`); its time at a budget is
  the result's own from-scratch total (`PruneResult.timings["total"]`: parse, filtering, the unit
  model and ranking it used, even when an earlier budget built them, and the fit), what one
  `prune` call at that budget costs. calls/s = 1 / mean time.
  "x tokenizer pass" = median over calls of the call's time / the time of one `count` of the whole
  raw page with the same tokenizer, measured just before on the same page.
- **Ablation.** `prune` with budget fitting off: filtering only, then filtering + attribute
  stripping; "fits B" is the share of pages that would already fit budget B.
- **Chunking.** `chunk(page, budget=2000, question=...)`: is the answer in the top-scored chunk,
  in any chunk.
- **Memory.** One `prune` call at the smallest budget per page, each in a fresh process: growth of the
  peak resident set (`VmHWM`) over the resident set before the call; pages spread over the sizes,
  the largest included.
"""


def _pages(n: int | None) -> str:
    """A per-corpus sample size as the report says it (None: every drawn page)."""
    return "all drawn pages" if n is None else f"{n} pages"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _markdown(report: str) -> str:
    """The report's plain lines as paragraphs/list items, its tables as Markdown tables."""
    out: list[str] = []
    for line in report.rstrip().splitlines():
        is_table = line.startswith("|")
        if out and out[-1] and is_table != out[-1].startswith("|"):
            out.append("")
        out.append(f"- {line.strip()}" if line.startswith("  ") else line)
    return "\n".join(out)


BEGIN = "<!-- BEGIN compose_results.py: this part is rewritten by benchmarks/compose_results.py -->"
END = "<!-- END compose_results.py -->"


def _splice(old: str, bench: str) -> str:
    """``old`` with its composed part replaced by ``bench`` (kept: everything after the END marker)."""
    if BEGIN in old and END in old:
        return (
            old[: old.index(BEGIN)] + f"{BEGIN}\n{bench.rstrip()}\n{END}" + old[old.index(END) + len(END) :]
        )
    return f"{BEGIN}\n{bench.rstrip()}\n{END}\n" + (("\n" + old) if old.strip() else "")


def main(argv: list[str]) -> int:
    runs = [Path(a) for a in argv] or [ROOT / "bench-out" / "default", ROOT / "bench-out" / "large"]
    parts = [INTRO]
    for run in runs:
        results, report = run / "results.json", run / "report.txt"
        if not results.exists() or not report.exists():
            print(
                f"compose_results: {run} has no results.json/report.txt; run benchmarks/run_bench.sh first",
                file=sys.stderr,
            )
            return 2
        numbers = json.loads(results.read_text(encoding="utf-8"))
        s, env = numbers["settings"], numbers["environment"]
        cmd = ["python -m domprune.bench --corpus ../shared/corpora", f"--out bench-out/{run.name}"]
        if s["sample"] != 12:
            cmd.append(f"--sample {s['sample'] or 0}")
        if len(s["methods"]) != 6:
            cmd.append("--methods " + ",".join(s["methods"]))
        for name in ("retention.png", "tokens.png"):
            if (run / name).exists():
                shutil.copyfile(run / name, ROOT / "benchmarks" / f"{run.name}-{name}")
        extra = []
        if s["synthetic_per_page"] != 2:
            extra.append(f"--synthetic-per-page {s['synthetic_per_page']}")
        if s.get("require_methods"):
            extra.append("--require-methods")
        cmd += extra
        parts += [
            f"## Run `{run.name}`",
            "",
            f"Command: `{' '.join(cmd)}` (all other options at their defaults: budgets {s['budgets']}, "
            f"seed {s['seed']}, "
            + (f"HtmlRAG on {_pages(s['htmlrag_sample'])} per corpus, " if "htmlrag" in s["methods"] else "")
            + (
                f"domprune_dense on {_pages(s.get('dense_sample'))} per corpus, "
                if "domprune_dense" in s["methods"]
                else ""
            )
            + f"{s['synthetic_per_page']} synthetic and {s.get('paraphrased_per_page', 0)} paraphrased "
            "questions per page).",
            f"Machine: {env['cpu_count']} CPU cores ({env['processor']}), no GPU, {env['platform']}, "
            f"Python {env['python']}; shared with other jobs while it ran, so times are indicative.",
            f"Wall time of the run: {numbers['seconds']:.0f} s.",
            "",
            f"![retention vs budget]({run.name}-retention.png)",
            f"![tokens before and after]({run.name}-tokens.png)",
            "",
            _markdown(report.read_text(encoding="utf-8")),
            "",
        ]
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = " (with uncommitted changes)" if _git("status", "--porcelain", "--", "domprune") else ""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.insert(1, f"Measured {stamp} at commit {commit}{dirty}.\n")
    OUT.write_text(
        _splice(OUT.read_text(encoding="utf-8") if OUT.exists() else "", "\n".join(parts)), encoding="utf-8"
    )
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
