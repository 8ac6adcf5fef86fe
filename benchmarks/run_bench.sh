#!/usr/bin/env bash
# The commands behind benchmarks/RESULTS.md. Run from the repository root with domprune[bench] installed:
#
#   bash benchmarks/run_bench.sh [CORPORA_FOLDER]      # default: ../shared/corpora
#
# 1. default: the default settings (12 pages per corpus drawn with seed 0, every method, HtmlRAG on
#    2 of them per corpus, budgets 16000..1000): about 5 minutes on 2 cores; writes bench-out/default/.
# 2. large: up to 150 pages per corpus (seed 0), every method but HtmlRAG (too slow for hundreds
#    of pages); writes bench-out/large/. Skip it with LARGE=0.
set -euo pipefail
CORPORA="${1:-../shared/corpora}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

python -m domprune.bench --corpus "$CORPORA" --out bench-out/default --require-methods
if [ "${LARGE:-1}" != "0" ]; then
  python -m domprune.bench --corpus "$CORPORA" --out bench-out/large --sample 150 --require-methods \
    --methods domprune,domprune_noq,truncate,strip_truncate,trafilatura
fi
if [ "${LARGE:-1}" != "0" ]; then python benchmarks/compose_results.py; else python benchmarks/compose_results.py bench-out/default; fi
