#!/usr/bin/env bash
# The commands behind benchmarks/RESULTS.md. Run from the repository root, with domprune[bench] installed:
#
#   bash benchmarks/run_bench.sh [CORPORA_FOLDER]      # default: ../shared/corpora
#
# 1. default: the default settings (12 pages per corpus drawn with seed 0, every method, HtmlRAG on
#    4 of them per corpus, budgets 16000..1000); writes bench-out/default/.
# 2. full: every page of every corpus, every method but HtmlRAG (too slow for 1,800 pages);
#    writes bench-out/full/. Skip it with FULL=0.
set -euo pipefail
CORPORA="${1:-../shared/corpora}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

python -m domprune.bench --corpus "$CORPORA" --out bench-out/default
if [ "${FULL:-1}" != "0" ]; then
  python -m domprune.bench --corpus "$CORPORA" --out bench-out/full --sample 0 \
    --methods domprune,domprune_noq,truncate,strip_truncate,trafilatura
fi
