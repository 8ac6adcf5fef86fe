"""Evaluating: ``eval`` base vs adapter, and ``analyze`` where the models fail."""
