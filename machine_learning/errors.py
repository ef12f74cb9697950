"""Errors a user can act on. The CLI prints them as one line, without a traceback.

``http_status`` is the status Mage's patched ``/api/runs`` answers with when a block raises the error
(patches/mage_ai_0.9.80_api_runs.patch reads the attribute; it imports nothing of this package).
"""


class MLOpsError(Exception):
    """Base class of every error the CLI reports as a clear one-line message."""

    http_status = 500


class ConfigurationError(MLOpsError):
    """A setting is missing, malformed or out of range."""


class InvalidInputError(MLOpsError):
    """An input file or batch cannot be used (missing columns, not a CSV, empty, too many bad rows)."""

    http_status = 422


class ConflictError(InvalidInputError):
    """The request would replace something that already exists: nothing was changed."""

    http_status = 409


class NotFoundError(MLOpsError):
    """An object, model version or alias the step needs does not exist."""

    http_status = 404


class QualityGateError(MLOpsError):
    """A trained model is below the minimum quality and was not registered."""


class ServiceUnavailableError(MLOpsError):
    """A service the step needs (MLflow, S3, Mage) does not answer."""

    http_status = 503
