"""One typed settings object, read from the environment, with defaults for the local stack."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from machine_learning.data.schema import FEATURE_COLUMNS
from machine_learning.errors import ConfigurationError

_TITLE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$")

# field name -> environment variable; every field can be set through the environment.
_ENV_NAMES: dict[str, str] = {
    "game_title": "GAME_TITLE",
    "s3_bucket": "S3_BUCKET",
    "s3_endpoint_url": "AWS_ENDPOINT_URL",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "random_seed": "RANDOM_SEED",
    "test_size": "TEST_SIZE",
    "min_accuracy": "MIN_ACCURACY",
    "promotion_metric": "PROMOTION_METRIC",
    "promotion_margin": "PROMOTION_MARGIN",
    "max_quarantine_share": "MAX_QUARANTINE_SHARE",
    "model_cache_dir": "MODEL_CACHE_DIR",
    "serving_token": "SERVING_TOKEN",
    "serving_reload_seconds": "SERVING_RELOAD_SECONDS",
    "serving_max_body_bytes": "SERVING_MAX_BODY_BYTES",
    "mage_url": "MAGE_URL",
    "mage_email": "DEFAULT_OWNER_EMAIL",
    "mage_password": "DEFAULT_OWNER_PASSWORD",
    "drift_share_threshold": "DRIFT_SHARE_THRESHOLD",
    "drift_columns": "DRIFT_COLUMNS",
    "monitoring_window_days": "MONITORING_WINDOW_DAYS",
    "retraining_cooldown_days": "RETRAINING_COOLDOWN_DAYS",
    "evidently_workspace": "EVIDENTLY_WORKSPACE",
    "evidently_url": "EVIDENTLY_URL",
    "max_quality_drop": "MAX_QUALITY_DROP",
    "quality_recovery_tolerance": "QUALITY_RECOVERY_TOLERANCE",
    "quality_window_days": "QUALITY_WINDOW_DAYS",
    "retraining_base_weight": "RETRAINING_BASE_WEIGHT",
    "retraining_half_life_days": "RETRAINING_HALF_LIFE_DAYS",
    "recent_holdout_days": "RECENT_HOLDOUT_DAYS",
    "selection_old_tolerance": "SELECTION_OLD_TOLERANCE",
    "evidently_secret": "EVIDENTLY_SECRET",
    "serving_url": "SERVING_URL",
    "scoring_engine": "SCORING_ENGINE",
    "dask_scheduler_address": "DASK_SCHEDULER_ADDRESS",
    "dask_workers": "DASK_WORKERS",
    "drift_sample_rows": "DRIFT_SAMPLE_ROWS",
    "mlflow_timeout_seconds": "MLFLOW_TIMEOUT_SECONDS",
    "promotion_policy": "PROMOTION_POLICY",
    "canary_share": "CANARY_SHARE",
    "canary_mode": "CANARY_MODE",
    "canary_max_p99_ms": "CANARY_MAX_P99_MS",
    "canary_max_error_increase": "CANARY_MAX_ERROR_INCREASE",
    "canary_quality_tolerance": "CANARY_QUALITY_TOLERANCE",
    "canary_min_requests": "CANARY_MIN_REQUESTS",
    "operator_viewer_token": "OPERATOR_VIEWER_TOKEN",
    "operator_operator_token": "OPERATOR_OPERATOR_TOKEN",
    "operator_approver_token": "OPERATOR_APPROVER_TOKEN",
    "alert_webhook_url": "ALERT_WEBHOOK_URL",
    "alert_relay_token": "ALERT_RELAY_TOKEN",
    "alert_attempts": "ALERT_ATTEMPTS",
    "cleanup_backup_dir": "CLEANUP_BACKUP_DIR",
    # prediction log (machine_learning/predlog)
    "prediction_log": "PREDICTION_LOG",
    "prediction_log_max_rows": "PREDICTION_LOG_MAX_ROWS",
    "prediction_log_batch_rows": "PREDICTION_LOG_BATCH_ROWS",
    "prediction_log_flush_seconds": "PREDICTION_LOG_FLUSH_SECONDS",
    # Many titles (machine_learning/titles/)
    "titles_max_served": "TITLES_MAX_SERVED",
}
SCORING_ENGINES = ("local", "dask")
PROMOTION_POLICIES = ("auto", "manual")
CANARY_MODES = ("canary", "shadow")


@dataclass(frozen=True)
class Settings:
    """Everything the lifecycle needs to know about where things live and how decisions are made.

    Attributes:
        game_title: Names the S3 prefix, the MLflow experiment and the registered model, so several titles
            can share one installation. Lowercase letters, digits and dashes.
        s3_bucket: Bucket holding raw, processed, reference and quarantined data (and MLflow artifacts).
        s3_endpoint_url: S3 endpoint; empty means AWS itself.
        mlflow_tracking_uri: MLflow tracking server.
        random_seed: Seed of the train/test split and of the model, recorded with every run.
        test_size: Share of rows held out for evaluation and model selection.
        min_accuracy: Quality gate: a model below this held-out accuracy is never registered.
        promotion_metric: Held-out metric compared by model selection (``accuracy`` or ``f1_macro``).
        promotion_margin: A candidate must beat production by more than this to be promoted.
        max_quarantine_share: A batch with a larger share of invalid rows is rejected as a whole.
        model_cache_dir: Local folder caching model versions, so a known version scores without MLflow.
        serving_token: Token clients send in the ``X-API-Token`` header of the serving API; never printed.
        serving_reload_seconds: How often the serving API checks whether ``production`` moved.
        serving_max_body_bytes: Larger request bodies get HTTP 413.
        mage_url: Mage server, for starting pipeline runs through its API.
        mage_email: Mage user that starts runs (the owner created from ``DEFAULT_OWNER_EMAIL``).
        mage_password: That user's password; never printed.
        drift_share_threshold: Nightly tests fail when more than this share of columns drifted.
        drift_columns: Comma-separated columns whose drift alone fails the nightly tests (the prediction is
            always one of them).
        monitoring_window_days: How many recent days of scored batches the nightly tests compare with the reference.
        retraining_cooldown_days: After retraining is triggered, drift on the following days belongs to the same
            episode and does not trigger it again until this many days have passed.
        evidently_workspace: Folder (or ``s3://`` URI) of the Evidently workspace the reports and the UI share.
        evidently_url: The Evidently UI, for links in messages.
        max_quality_drop: Live accuracy (production scored on labelled days it was not trained on) this far below
            the model's own expected accuracy starts a quality episode and retraining, drift or not.
        quality_recovery_tolerance: A quality episode ends once live accuracy is back within this much of the
            expected accuracy of the model that was in production when the episode started.
        quality_window_days: Labelled days (ending tonight) that the nightly live-quality check pools.
        retraining_base_weight: Sample weight of training rows that carry no label day (the original processed
            data) next to labelled days, which weigh 1 when newest (see ``training/recency.py``).
        retraining_half_life_days: A labelled day's weight halves with every this many days of age.
        recent_holdout_days: The newest labelled days from which training holds out ``test_size`` of the rows,
            so model selection compares candidate and production on recent players neither was trained on.
        selection_old_tolerance: On the older held-out rows a candidate that wins on recent players may score at
            most this much below production (a guard against a broken candidate that lets adaptation through).
        evidently_secret: The Evidently UI's secret for writes (its ``evidently-secret`` header); never printed.
        serving_url: The serving API, for ``mlops serving-check``.
        scoring_engine: ``local`` (stream in this process, the default) or ``dask`` (partitions on a Dask
            cluster) for batch scoring and for reading labelled days for retraining.
        dask_scheduler_address: The Dask scheduler (``tcp://host:8786``); empty starts a ``LocalCluster`` on
            loopback sized to the machine for the run.
        dask_workers: Workers of that ``LocalCluster``; 0 means one per CPU core.
        drift_sample_rows: A nightly window with more scored rows than this is tested on a seeded random sample
            of this many rows (``RANDOM_SEED``); size and seed are recorded in the decision.
        mlflow_timeout_seconds: Seconds one MLflow request may take; with two retries, a step fails within
            seconds when MLflow is down instead of after minutes.
        promotion_policy: ``auto`` (a winning candidate goes to production at once) or ``manual`` (it waits as
            ``pending-approval`` for ``mlops approve``).
        canary_share: Default share of players the challenger gets (``mlops canary start --share`` overrides it
            per canary, without a restart).
        canary_mode: Default challenger mode: ``canary`` (its players get its answer) or ``shadow`` (it is scored
            beside production, whose answer is returned).
        canary_max_p99_ms: The challenger is withdrawn when its p99 scoring latency exceeds this (milliseconds).
        canary_max_error_increase: ... or when its error rate exceeds production's by more than this.
        canary_quality_tolerance: ... or, once labels exist, when its live accuracy is lower than production's
            by more than this.
        canary_min_requests: Requests each variant must have scored before the retreat rule judges latency and
            errors.
        operator_viewer_token: Bearer token of the operator API's ``viewer`` role (reads); never printed.
        operator_operator_token: Bearer token of its ``operator`` role (runs pipelines, promotes, rolls back,
            cleans up); never printed.
        operator_approver_token: Bearer token of its ``approver`` role (reads, approves and rejects versions
            under ``PROMOTION_POLICY``); never printed.
        alert_webhook_url: Slack-compatible incoming webhook (``{"text": ...}``) the alerts go to; empty sends
            none. Never printed (a Slack webhook URL is a credential).
        alert_relay_token: Secret in the path of the operator API's ``/alerts/mage/<token>``, where Mage's own
            failure notifications are relayed to the webhook; never printed.
        alert_attempts: How many times one alert is tried (with exponential backoff) before it is given up.
        cleanup_backup_dir: Folder of the JSON backups the operator API writes before a cleanup deletes.
        prediction_log: ``on`` or ``off``: serving logs every online prediction to S3
            (``<title>/prediction-log/date=D/``), in batches off the request path.
        prediction_log_max_rows: Predictions held in memory at most while waiting for S3; beyond it they are
            dropped and counted (``/prediction-log/stats``), never blocking a request.
        prediction_log_batch_rows: A batch is written as soon as it has this many predictions ...
        prediction_log_flush_seconds: ... or when its oldest prediction has waited this long.
        titles_max_served: Most titles (besides the default one) whose models the serving API keeps loaded for
            ``/titles/{title}/...``; the least recently used one is unloaded when another is asked for.

    """

    game_title: str = "demo-game"
    s3_bucket: str = "mlops"
    s3_endpoint_url: str = "http://127.0.0.1:8333"
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    random_seed: int = 42
    test_size: float = 0.2
    min_accuracy: float = 0.8
    promotion_metric: str = "f1_macro"
    promotion_margin: float = 0.002
    max_quarantine_share: float = 0.05
    model_cache_dir: str = "~/.cache/engagement-mlops/models"
    serving_token: str = field(default="", repr=False)
    serving_reload_seconds: float = 5.0
    serving_max_body_bytes: int = 4_000_000  # 10,000 players (the per-request maximum) are ~3.3 MB
    mage_url: str = "http://127.0.0.1:6789"
    mage_email: str = ""
    mage_password: str = field(default="", repr=False)
    drift_share_threshold: float = 0.3
    drift_columns: str = "AvgSessionDurationMinutes,SessionsPerWeek"
    monitoring_window_days: int = 1
    retraining_cooldown_days: int = 7
    evidently_workspace: str = "~/.cache/engagement-mlops/evidently"
    evidently_url: str = "http://127.0.0.1:8001"
    max_quality_drop: float = 0.05
    quality_recovery_tolerance: float = 0.02
    quality_window_days: int = 7
    retraining_base_weight: float = 0.05
    retraining_half_life_days: float = 14.0
    recent_holdout_days: int = 3
    selection_old_tolerance: float = 0.3
    evidently_secret: str = field(default="", repr=False)
    serving_url: str = "http://127.0.0.1:8080"
    scoring_engine: str = "local"
    dask_scheduler_address: str = ""
    dask_workers: int = 0
    drift_sample_rows: int = 200_000
    mlflow_timeout_seconds: float = 10.0
    promotion_policy: str = "auto"
    canary_share: float = 0.1
    canary_mode: str = "canary"
    canary_max_p99_ms: float = 50.0
    canary_max_error_increase: float = 0.01
    canary_quality_tolerance: float = 0.02
    canary_min_requests: int = 200
    operator_viewer_token: str = field(default="", repr=False)
    operator_operator_token: str = field(default="", repr=False)
    operator_approver_token: str = field(default="", repr=False)
    alert_webhook_url: str = field(default="", repr=False)
    alert_relay_token: str = field(default="", repr=False)
    alert_attempts: int = 5
    cleanup_backup_dir: str = "~/.cache/engagement-mlops/cleanup-backups"
    # prediction log (machine_learning/predlog)
    prediction_log: str = "on"  # make bench-serve: p99 with the log on 0.92x off at a load of 2.4 (within 10 %)
    prediction_log_max_rows: int = 100_000
    prediction_log_batch_rows: int = 5_000
    prediction_log_flush_seconds: float = 30.0
    # Many titles (machine_learning/titles/)
    titles_max_served: int = 8

    def __post_init__(self) -> None:
        if not _TITLE_PATTERN.match(self.game_title):
            raise ConfigurationError(f"GAME_TITLE {self.game_title!r} must be 3-42 lowercase letters, digits or dashes")
        if len(self.s3_bucket) < 3:
            raise ConfigurationError(f"S3_BUCKET {self.s3_bucket!r} must have at least 3 characters")
        if not 0.0 < self.test_size < 1.0:
            raise ConfigurationError(f"TEST_SIZE must be between 0 and 1, got {self.test_size}")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigurationError(f"MIN_ACCURACY must be between 0 and 1, got {self.min_accuracy}")
        if not 0.0 <= self.promotion_margin < 1.0:  # also rejects NaN
            raise ConfigurationError(f"PROMOTION_MARGIN must be in [0, 1), got {self.promotion_margin}")
        if self.serving_reload_seconds <= 0 or self.serving_max_body_bytes <= 0:
            raise ConfigurationError("SERVING_RELOAD_SECONDS and SERVING_MAX_BODY_BYTES must be positive")
        if self.random_seed < 0:
            raise ConfigurationError(f"RANDOM_SEED must be >= 0, got {self.random_seed}")
        if self.promotion_metric not in ("accuracy", "f1_macro"):
            raise ConfigurationError(
                f"PROMOTION_METRIC must be 'accuracy' or 'f1_macro', got {self.promotion_metric!r}"
            )
        if not 0.0 <= self.max_quarantine_share <= 1.0:
            raise ConfigurationError(f"MAX_QUARANTINE_SHARE must be between 0 and 1, got {self.max_quarantine_share}")
        if not 0.0 < self.drift_share_threshold <= 1.0:
            raise ConfigurationError(f"DRIFT_SHARE_THRESHOLD must be in (0, 1], got {self.drift_share_threshold}")
        if self.monitoring_window_days < 1 or self.retraining_cooldown_days < 0:
            raise ConfigurationError("MONITORING_WINDOW_DAYS must be >= 1 and RETRAINING_COOLDOWN_DAYS >= 0")
        self._check_loop_settings()
        if self.scoring_engine not in SCORING_ENGINES:
            raise ConfigurationError(f"SCORING_ENGINE must be 'local' or 'dask', got {self.scoring_engine!r}")
        if not self.mlflow_timeout_seconds > 0:
            raise ConfigurationError(f"MLFLOW_TIMEOUT_SECONDS must be > 0, got {self.mlflow_timeout_seconds}")
        if self.dask_workers < 0 or self.drift_sample_rows < 1:
            raise ConfigurationError("DASK_WORKERS must be >= 0 and DRIFT_SAMPLE_ROWS >= 1")
        self._check_rollout_settings()
        if not 1 <= self.titles_max_served <= 100:
            raise ConfigurationError(f"TITLES_MAX_SERVED must be between 1 and 100, got {self.titles_max_served}")
        if not 1 <= self.alert_attempts <= 10:
            raise ConfigurationError(f"ALERT_ATTEMPTS must be between 1 and 10, got {self.alert_attempts}")
        unknown = sorted(set(self.drift_column_names) - {*FEATURE_COLUMNS, "prediction"})
        if unknown:
            allowed = list(FEATURE_COLUMNS)
            raise ConfigurationError(f"DRIFT_COLUMNS names unknown columns {unknown}; choose from {allowed}")
        self._check_prediction_log_settings()

    def _check_loop_settings(self) -> None:
        shares = ("max_quality_drop", "quality_recovery_tolerance", "retraining_base_weight", "selection_old_tolerance")
        for name in shares:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also rejects NaN
                raise ConfigurationError(f"{_ENV_NAMES[name]} must be between 0 and 1, got {value}")
        if not self.retraining_half_life_days > 0:
            raise ConfigurationError(f"RETRAINING_HALF_LIFE_DAYS must be > 0, got {self.retraining_half_life_days}")
        if self.quality_window_days < 1 or self.recent_holdout_days < 1:
            raise ConfigurationError("QUALITY_WINDOW_DAYS and RECENT_HOLDOUT_DAYS must be >= 1")

    def _check_prediction_log_settings(self) -> None:  # prediction log (machine_learning/predlog)
        if self.prediction_log not in ("on", "off"):
            raise ConfigurationError(f"PREDICTION_LOG must be 'on' or 'off', got {self.prediction_log!r}")
        if self.prediction_log_batch_rows < 1 or self.prediction_log_max_rows < self.prediction_log_batch_rows:
            raise ConfigurationError("PREDICTION_LOG_BATCH_ROWS must be >= 1 and PREDICTION_LOG_MAX_ROWS >= it")
        if not self.prediction_log_flush_seconds > 0:
            raise ConfigurationError(
                f"PREDICTION_LOG_FLUSH_SECONDS must be > 0, got {self.prediction_log_flush_seconds}"
            )

    def _check_rollout_settings(self) -> None:
        if self.promotion_policy not in PROMOTION_POLICIES:
            raise ConfigurationError(f"PROMOTION_POLICY must be 'auto' or 'manual', got {self.promotion_policy!r}")
        if self.canary_mode not in CANARY_MODES:
            raise ConfigurationError(f"CANARY_MODE must be 'canary' or 'shadow', got {self.canary_mode!r}")
        for name in ("canary_share", "canary_max_error_increase", "canary_quality_tolerance"):
            if not 0.0 <= getattr(self, name) <= 1.0:  # also rejects NaN
                raise ConfigurationError(f"{_ENV_NAMES[name]} must be between 0 and 1, got {getattr(self, name)}")
        if not self.canary_max_p99_ms > 0 or self.canary_min_requests < 1:
            raise ConfigurationError("CANARY_MAX_P99_MS must be > 0 and CANARY_MIN_REQUESTS >= 1")

    @property
    def model_name(self) -> str:
        """Registered model name in MLflow."""
        return f"{self.game_title}-engagement"

    @property
    def experiment_name(self) -> str:
        """MLflow experiment name."""
        return f"{self.game_title}-engagement"

    @property
    def drift_column_names(self) -> tuple[str, ...]:
        """Columns named in ``DRIFT_COLUMNS``, in order, without blanks."""
        return tuple(name.strip() for name in self.drift_columns.split(",") if name.strip())

    @property
    def s3_prefix(self) -> str:
        """Key prefix of every object this title owns."""
        return self.game_title

    @property
    def raw_uri(self) -> str:
        """Default location of the raw player CSV."""
        return f"s3://{self.s3_bucket}/{self.s3_prefix}/raw/players.csv"

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """Return a copy with the given fields replaced, for trusted code (tests, the environment reader).

        Unknown keys are ignored. Never pass a run's variables here: :func:`load_settings` checks those.

        Args:
            overrides: Field names to values; ``None`` values are ignored.

        Returns:
            A new, validated Settings object.

        """
        known = {f.name: f for f in dataclasses.fields(self)}
        changes = {
            name: _coerce(known[name].type, value, name)
            for name, value in overrides.items()
            if name in known and value is not None
        }
        return dataclasses.replace(self, **changes)


def load_settings(run_variables: Mapping[str, Any] | None = None) -> Settings:
    """Read the settings from the environment; a run's variables may only choose the game title.

    Args:
        run_variables: A Mage block's ``kwargs`` (or a command's choices). They are checked by
            :func:`machine_learning.run_variables.check_run_variables` first, so a run naming a service,
            the bucket, the cache, a credential or anything its pipeline does not read is refused.

    Returns:
        The validated settings.

    Raises:
        ConfigurationError: A value from the environment is malformed or out of range.
        InvalidInputError: A run variable is not accepted or its value is not usable.

    """
    # An empty AWS_ENDPOINT_URL is meaningful (AWS itself); other empty variables mean "use the default".
    from_env = {
        name: os.environ[env]
        for name, env in _ENV_NAMES.items()
        if os.environ.get(env) or (name == "s3_endpoint_url" and env in os.environ)
    }
    settings = Settings().with_overrides(from_env)
    if not run_variables:
        return settings
    from machine_learning.run_variables import check_run_variables

    chosen = check_run_variables(run_variables, settings.s3_bucket, settings.game_title)
    return dataclasses.replace(settings, game_title=chosen.game_title) if chosen.game_title else settings


def _coerce(type_name: Any, value: Any, name: str) -> Any:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{_ENV_NAMES.get(name, name)} must be a {kind}, got {value!r}") from None
    return str(value)
