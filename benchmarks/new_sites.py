"""Build the new-site corpora (issue 17): labelled pages from sites that nothing in domprune was
built from, kept apart from ``../shared/corpora``.

    python benchmarks/new_sites.py --wren GIT_DIR --fundus GIT_DIR --out data/new-sites

Both inputs are git directories of public repositories (a bare clone or a mirror is enough; files
are read with ``git show``, nothing is checked out):

- ``--wren``: AnLiGentile/WREN, whose ``resources/datasets/swde-17477`` holds SWDE (Hao et al.,
  SIGIR 2011) ground truth and the pages of two book shops. ``booksamillion`` is already in the
  shared corpora; ``christianbook`` (2,000 pages) is not. Its pages are split by page number:
  ``swde-christianbook-dev`` (0000-0999) is the shop the issue's failures were seen on and may be
  tuned on; ``swde-christianbook-test`` (1000-1999) is only ever measured.
- ``--fundus``: flairNLP/fundus (MIT licence), whose parser tests keep one or more real article
  pages (``*.html.gz``) from each of ~180 news publishers in ~30 countries with the values its
  parsers must extract. Each page's title and authors become questions; a version's values are
  matched to the page whose text holds its title. Only measured, never tuned on.

Each output folder is a corpus the bench reads (``domprune bench --corpus OUT``): SWDE keeps its
own layout (``groundtruth/`` + ``pages/``), fundus is written as ``questions.jsonl`` + ``pages/``.
Every folder gets ``SOURCE.md``: the repository, its commit and its licence as found upstream.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
from pathlib import Path
from typing import Any

from domprune.answers import normalize_text

SWDE = "resources/datasets/swde-17477"
FUNDUS = "tests/resources/parser/test_data"


def git(git_dir: Path, *args: str) -> bytes:
    """``git --git-dir GIT_DIR ARGS``'s output; a failure stops the script with git's own message."""
    done = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True)
    if done.returncode:
        reason = done.stderr.decode(errors="replace").strip()
        raise SystemExit(
            f"new_sites.py: git {' '.join(args)} failed in {git_dir}: {reason} "
            "(give the git directory of a clone or mirror of the repository)"
        )
    return done.stdout


def ls(git_dir: Path, folder: str) -> list[str]:
    return git(git_dir, "ls-tree", "--name-only", "HEAD", folder + "/").decode().split()


def head(git_dir: Path) -> str:
    return git(git_dir, "rev-parse", "HEAD").decode().strip()


def build_swde(wren: Path, out: Path, site: str = "christianbook", split: int = 1000) -> dict[str, int]:
    """SWDE book pages of ``site`` into ``OUT/swde-<site>-dev`` (page ids below ``split``) and
    ``-test`` (the rest), each with the shop's ground truth."""
    pages_dir = f"{SWDE}/testset/book/book-{site}-2000"
    names = ls(wren, pages_dir)
    counts = {}
    for part, keep in (("dev", lambda n: n < split), ("test", lambda n: n >= split)):
        folder = out / f"swde-{site}-{part}"
        (folder / "pages").mkdir(parents=True, exist_ok=True)
        (folder / "groundtruth").mkdir(exist_ok=True)
        n = 0
        for name in names:
            if keep(int(Path(name).stem)):
                (folder / "pages" / Path(name).name).write_bytes(git(wren, "show", f"HEAD:{name}"))
                n += 1
        for gt in ls(wren, f"{SWDE}/groundtruth/book"):
            if Path(gt).name.startswith(f"book-{site}-"):
                (folder / "groundtruth" / Path(gt).name).write_bytes(git(wren, "show", f"HEAD:{gt}"))
        (folder / "SOURCE.md").write_text(
            f"SWDE (Hao, Cai, Pang, Zhang: From One Tree to a Forest, SIGIR 2011), book vertical, site "
            f"{site}, pages {'0000-' + str(split - 1).zfill(4) if part == 'dev' else str(split).zfill(4) + '-1999'}"
            f" ({part}).\nTaken from the public repository AnLiGentile/WREN at commit {head(wren)}, folder "
            f"{SWDE} (the upstream README names no licence; the dataset was published for research on "
            "codeplex).\n",
            encoding="utf-8",
        )
        counts[folder.name] = n
    return counts


def _authors(value: Any) -> list[str]:
    return [a.strip() for a in value if isinstance(a, str) and a.strip()] if isinstance(value, list) else []


def build_fundus(fundus: Path, out: Path) -> dict[str, int]:
    """fundus test pages into ``OUT/fundus``: ``pages/<country>-<file>.html`` + ``questions.jsonl``."""
    folder = out / "fundus"
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pages = 0
    for country_dir in ls(fundus, FUNDUS):
        country = Path(country_dir).name
        files = ls(fundus, country_dir)
        for label_file in (f for f in files if f.endswith(".json")):
            publisher = Path(label_file).stem
            versions = json.loads(git(fundus, "show", f"HEAD:{label_file}"))
            htmls = {}
            for f in files:
                name = Path(f).name
                if name.endswith(".html.gz") and name.rsplit("_", 3)[0] == publisher:
                    raw = gzip.decompress(git(fundus, "show", f"HEAD:{f}"))
                    htmls[name.removesuffix(".gz")] = raw.decode("utf-8", errors="replace")
            # each page's text as the bench compares answers (domprune.answers), once per page
            normalized = {n: normalize_text(text) for n, text in sorted(htmls.items())}
            used: set[str] = set()
            for values in versions.values() if isinstance(versions, dict) else []:
                title = values.get("title") if isinstance(values, dict) else None
                if not isinstance(title, str) or not title.strip():
                    continue
                wanted = normalize_text(title)
                page = next((n for n, text in normalized.items() if wanted in text and n not in used), None)
                if page is None:
                    continue
                used.add(page)
                rel = f"pages/{country}-{page}"
                (folder / rel).write_text(htmls[page], encoding="utf-8")
                pages += 1
                rows.append(
                    {
                        "html_path": rel,
                        "question": "What is the title of this article?",
                        "answers": [title.strip()],
                        "field": "title",
                        "site": publisher,
                    }
                )
                authors = _authors(values.get("authors"))
                if authors:
                    rows.append(
                        {
                            "html_path": rel,
                            "question": "Who wrote this article?",
                            "answers": authors,
                            "field": "author",
                            "site": publisher,
                        }
                    )
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (folder / "SOURCE.md").write_text(
        f"Parser test pages and expected values of fundus (MIT licence, Copyright (c) 2023 Max "
        f"Dallabetta, Conrad Dobberstein, Aaron Wey), from the public repository flairNLP/fundus at "
        f"commit {head(fundus)}, folder {FUNDUS}. Questions: each page's title and authors.\n",
        encoding="utf-8",
    )
    return {"fundus": pages}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wren", type=Path, help="git directory of AnLiGentile/WREN")
    ap.add_argument("--fundus", type=Path, help="git directory of flairNLP/fundus")
    ap.add_argument("--out", type=Path, default=Path("data/new-sites"))
    args = ap.parse_args(argv)
    counts: dict[str, int] = {}
    if args.wren:
        counts |= build_swde(args.wren, args.out)
    if args.fundus:
        counts |= build_fundus(args.fundus, args.out)
    for name, n in counts.items():
        print(f"{name}: {n} pages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
