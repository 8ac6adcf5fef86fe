"""Training: ``sft`` warm-up, ``train`` (GRPO behind a pluggable backend), ``plan``, run reports."""
