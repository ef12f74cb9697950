"""Player-engagement MLOps: every line of logic behind the Mage pipelines, the CLI and the tests."""

__version__ = "0.1.0"
