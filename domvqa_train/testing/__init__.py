"""Test-only helpers: tiny random models and a local OpenAI-compatible server. Not for production use."""
