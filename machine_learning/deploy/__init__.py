"""Deployment helpers: the serving entry point of the container image and the tag-based AWS cleanup."""
