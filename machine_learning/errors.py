"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class MLOpsError(Exception):
    """Base class of every error the CLI reports as a clear one-line message."""


class ConfigurationError(MLOpsError):
    """A setting is missing, malformed or out of range."""


class InvalidInputError(MLOpsError):
    """An input file or batch cannot be used (missing columns, not a CSV, empty, too many bad rows)."""


class NotFoundError(MLOpsError):
    """An object, model version or alias the step needs does not exist."""


class QualityGateError(MLOpsError):
    """A trained model is below the minimum quality and was not registered."""
