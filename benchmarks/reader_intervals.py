"""95% bootstrap intervals for a reader bench run (``domprune bench --reader``).

    python benchmarks/reader_intervals.py runs/reader_1k/records.jsonl [more records.jsonl ...] [--paired]

For each run: every method's exact match over the sampled questions with its interval, and the
paired difference ``domprune - method`` on the same questions with its interval (the questions
resampled together: one method's hard question is the other's too). The whole-page row, which
only the pages that fit the reader's context have, is left out. With ``--paired``, also
domprune's exact match in each later run against every method of the first run on the questions
they share (runs of the same questions in other formats: ``--format markdown`` against ``html``
and its baselines). Resamples and seed as in ``real_learning.py`` (2,000, seed 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from real_learning import bootstrap


def exact_matches(path: Path) -> dict[str, dict[tuple[str, str, int], float]]:
    """Exact match by method and question (corpus, page, question index) of a run's reader rows."""
    out: dict[str, dict[tuple[str, str, int], float]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("type") != "reader" or row["method"] == "whole_page":
                continue
            key = (row["corpus"], row["page"], row["question"])
            out.setdefault(row["method"], {})[key] = float(row["exact_match"] or 0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="records.jsonl of bench runs with --reader")
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paired", action="store_true", help="domprune of each run against the first run's")
    args = parser.parse_args()
    runs = {path: exact_matches(path) for path in args.records}
    if args.paired:
        first_run = runs[args.records[0]]
        for path in args.records[1:]:
            other = runs[path].get("domprune", {})
            for method in sorted(first_run, key=lambda m: (m != "domprune", m)):
                first = first_run[method]
                keys = sorted(first.keys() & other.keys())
                if not keys:
                    continue
                diff = [other[k] - first[k] for k in keys]
                low, high = bootstrap(diff, args.reps, args.seed)
                print(
                    f"domprune {path} - {method} {args.records[0]}: {sum(diff) / len(diff):+.3f}"
                    f" [{low:+.3f}, {high:+.3f}] ({len(keys)} questions)"
                )
    for path in args.records:
        em = runs[path]
        if "domprune" not in em:
            print(f"{path}: no reader rows of domprune")
            continue
        keys = sorted(em["domprune"])
        print(f"{path}: {len(keys)} questions")
        for method in sorted(em):
            vals = [em[method].get(k, 0.0) for k in keys]
            low, high = bootstrap(vals, args.reps, args.seed)
            print(f"  {method:<15} EM {sum(vals) / len(vals):.3f} [{low:.3f}, {high:.3f}]")
        for method in sorted(m for m in em if m != "domprune"):
            diff = [em["domprune"][k] - em[method].get(k, 0.0) for k in keys]
            low, high = bootstrap(diff, args.reps, args.seed)
            print(f"  domprune - {method:<15} {sum(diff) / len(diff):+.3f} [{low:+.3f}, {high:+.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
