"""Prune a page for a question and show what each step did.

python examples/prune_for_question.py examples/pages/product.html "How much does the boot weigh?" 200
"""

import sys

import domprune

page, question = sys.argv[1], sys.argv[2]
budget = int(sys.argv[3]) if len(sys.argv) > 3 else 1000

result = domprune.prune(page, budget=budget, question=question)
print(result.output)
print(f"\n{result.tokens_before} -> {result.tokens_after} tokens (budget {result.budget})")
for step in result.steps:
    print(f"  {step.name:<11} {step.seconds * 1000:6.2f} ms  {step.removed}")
