"""Inference: loading the production model (cached by version), scoring players in batches and online."""
