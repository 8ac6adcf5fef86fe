"""Shared infrastructure of every stage: records and sources, images, resumable stores, engines, endpoints, model I/O."""
