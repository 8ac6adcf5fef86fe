"""Split a page into chunks that each fit a budget, best chunk for a question first.

python examples/chunk_page.py examples/pages/product.html 150 "Who wrote the reviews?"
"""

import sys

import domprune

page = sys.argv[1]
budget = int(sys.argv[2]) if len(sys.argv) > 2 else 500
question = sys.argv[3] if len(sys.argv) > 3 else None

chunks = domprune.chunk(page, budget=budget, question=question)
if question:
    chunks.sort(key=lambda c: -(c.score or 0.0))
for c in chunks:
    print(
        f"--- chunk {c.index}: {c.tokens} tokens, path {' > '.join(c.path) or '/'}, "
        f"headings {c.headings}, score {c.score}"
    )
    print(c.output)
