"""Nightly drift tests (an Evidently TestSuite) and the pure decision whether they call for retraining.

The conditions are the reference design's: more than ``DRIFT_SHARE_THRESHOLD`` of the columns drifted, or the
prediction drifted, or one of ``DRIFT_COLUMNS`` drifted. Every other column gets a non-critical drift test too, so
the suite (and the Evidently dashboard) shows which columns moved; those only warn.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from machine_learning.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from machine_learning.errors import InvalidInputError, MLOpsError
from machine_learning.monitoring.data import MONITORED_COLUMNS
from machine_learning.monitoring.workspace import DRIFT_TESTS, describe_run
from machine_learning.scale.sample import SampledFrame, sample_current
from machine_learning.settings import Settings
from machine_learning.training.train import PREDICTION_COLUMN

SHARE_TEST = "Share of Drifted Columns"
COLUMN_TEST = "Drift per Column"


@dataclass(frozen=True)
class DriftCheck:
    """One test of the suite as a user reads it."""

    name: str
    column: str | None
    status: str
    score: float | None
    threshold: float | None
    description: str


@dataclass(frozen=True)
class RetrainingDecision:
    """Whether the nightly tests call for retraining, and why (one reason per failed condition)."""

    needed: bool
    reasons: tuple[str, ...]
    share_of_drifted_columns: float
    drifted_columns: tuple[str, ...]


@dataclass(frozen=True)
class DriftTestResult:
    """The outcome of one night's tests."""

    day: str
    reference_rows: int
    current_rows: int
    decision: RetrainingDecision
    tests: tuple[DriftCheck, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> DriftTestResult:
        """Rebuild a result from :meth:`to_dict` (how one Mage block hands it to the next)."""
        decision = dict(payload["decision"])
        return cls(
            day=str(payload["day"]),
            reference_rows=int(payload["reference_rows"]),
            current_rows=int(payload["current_rows"]),
            decision=RetrainingDecision(
                needed=bool(decision["needed"]),
                reasons=tuple(decision["reasons"]),
                share_of_drifted_columns=float(decision["share_of_drifted_columns"]),
                drifted_columns=tuple(decision["drifted_columns"]),
            ),
            tests=tuple(DriftCheck(**test) for test in payload.get("tests", ())),
            seconds=float(payload.get("seconds", 0.0)),
        )


def drift_test_data(current: pd.DataFrame, settings: Settings) -> SampledFrame:
    """Return the rows the drift tests compare, and so the daily data-drift report too (one source of numbers).

    A window of at most ``DRIFT_SAMPLE_ROWS`` rows whole, else a seeded sample of that many (the same window
    gives the same rows, see :mod:`machine_learning.scale.sample`).

    Args:
        current: The scored rows of the window.
        settings: Sample size and seed.

    Returns:
        The rows to test, with the sample's size and seed.

    """
    return sample_current(current, settings.drift_sample_rows, settings.random_seed)


def decisive_columns(settings: Settings) -> tuple[str, ...]:
    """Columns whose drift alone calls for retraining: the prediction and ``DRIFT_COLUMNS``."""
    return (PREDICTION_COLUMN, *(c for c in settings.drift_column_names if c != PREDICTION_COLUMN))


def build_drift_suite(settings: Settings, day: str, model_version: str | None = None) -> Any:
    """Build the nightly TestSuite (not yet run).

    Args:
        settings: Threshold and decisive columns.
        day: The day tested; the snapshot is dated with it so dashboards order by day.
        model_version: The production version whose reference data is used, recorded with the snapshot.

    Returns:
        An Evidently ``TestSuite``.

    """
    from evidently.test_suite import TestSuite
    from evidently.tests import TestColumnDrift, TestShareOfDriftedColumns

    decisive = decisive_columns(settings)  # Settings has checked that they are model inputs
    tests: list[Any] = [TestShareOfDriftedColumns(lte=settings.drift_share_threshold)]
    tests += [TestColumnDrift(column_name=column) for column in decisive]
    tests += [TestColumnDrift(column_name=c, is_critical=False) for c in MONITORED_COLUMNS if c not in decisive]
    return TestSuite(tests=tests, **describe_run(DRIFT_TESTS, day, model_version))


def run_drift_tests(
    reference: pd.DataFrame, current: pd.DataFrame, settings: Settings, day: str, model_version: str | None = None
) -> tuple[Any, DriftTestResult]:
    """Run the nightly tests of current data against the production model's reference data.

    Args:
        reference: Reference data (model inputs and the model's ``prediction``).
        current: The scored batches of the window (same columns).
        settings: Threshold and decisive columns.
        day: The day tested, ``YYYY-MM-DD``.
        model_version: The production version whose reference data is used.

    Returns:
        The run suite (to store as a snapshot) and the result with the retraining decision.

    Raises:
        InvalidInputError: A monitored column is missing from either table, or a table is empty.

    """
    from evidently import ColumnMapping

    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in MONITORED_COLUMNS if c not in frame.columns]
        if missing or frame.empty:
            problem = f"missing {missing}" if missing else "empty"
            raise InvalidInputError(f"{name} data cannot be tested: {problem}")
    started = time.perf_counter()
    suite = build_drift_suite(settings, day, model_version)
    mapping = ColumnMapping(
        target=None,
        prediction=PREDICTION_COLUMN,
        numerical_features=list(NUMERIC_FEATURES),
        categorical_features=list(CATEGORICAL_FEATURES),
    )
    columns = list(MONITORED_COLUMNS)
    suite.run(reference_data=reference[columns], current_data=current[columns], column_mapping=mapping)
    outcomes = read_test_outcomes(suite.as_dict()["tests"])
    decision = needs_retraining(outcomes, settings.drift_share_threshold, decisive_columns(settings))
    seconds = round(time.perf_counter() - started, 3)
    return suite, DriftTestResult(day, len(reference), len(current), decision, outcomes, seconds)


def read_test_outcomes(tests: Sequence[Mapping[str, Any]]) -> tuple[DriftCheck, ...]:
    """Turn Evidently's ``as_dict()["tests"]`` into outcomes, identified by name and parameters."""
    outcomes = []
    for test in tests:
        parameters = test.get("parameters") or {}
        condition = parameters.get("condition") or {}
        features = parameters.get("features") or {}
        # The share test reports each column's verdict; its score is the share of detected ones.
        score = sum(bool(f.get("detected")) for f in features.values()) / len(features) if features else None
        outcomes.append(
            DriftCheck(
                name=str(test["name"]),
                column=parameters.get("column_name"),
                status=str(test["status"]),
                score=score if score is not None else _number(parameters.get("score")),
                threshold=_number(parameters.get("threshold", condition.get("lte"))),
                description=str(test.get("description", "")),
            )
        )
    return tuple(outcomes)


def needs_retraining(
    outcomes: Sequence[DriftCheck], share_threshold: float, decisive: Sequence[str]
) -> RetrainingDecision:
    """Decide whether the night's tests call for retraining (pure: no I/O).

    Args:
        outcomes: The suite's tests, in any order.
        share_threshold: Retrain when more than this share of columns drifted.
        decisive: Columns whose drift alone calls for retraining.

    Returns:
        The decision with one reason per failed condition.

    Raises:
        MLOpsError: A test the decision depends on is missing or could not be computed.

    """
    share = _find(outcomes, SHARE_TEST, None)
    columns = {column: _find(outcomes, COLUMN_TEST, column) for column in decisive}
    reasons = []
    share_value = share.score if share.score is not None else float("nan")
    if share.status == "FAIL":
        reasons.append(f"share of drifted columns {share_value:.2f} is above {share_threshold:.2f}")
    for column, outcome in columns.items():
        if outcome.status == "FAIL":
            reasons.append(f"{column} drifted (score {outcome.score} > threshold {outcome.threshold})")
    drifted = tuple(
        o.column for o in outcomes if o.name == COLUMN_TEST and o.column and o.status in ("FAIL", "WARNING")
    )
    return RetrainingDecision(bool(reasons), tuple(reasons), share_value, drifted)


def _find(outcomes: Sequence[DriftCheck], name: str, column: str | None) -> DriftCheck:
    for outcome in outcomes:
        if outcome.name == name and outcome.column == column:
            if outcome.status == "ERROR":
                where = column or "all columns"
                raise MLOpsError(f"drift test '{name}' ({where}) failed to run: {outcome.description}")
            return outcome
    raise MLOpsError(f"drift test '{name}' ({column or 'all columns'}) is missing from the suite")


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
