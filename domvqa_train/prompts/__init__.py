"""Preparing prompts that fit: ``prepare`` and the prompt templates."""
