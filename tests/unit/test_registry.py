import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED
from unit_helpers import FakeMlflowClient

from machine_learning.errors import NotFoundError, QualityGateError
from machine_learning.registry import (
    CANDIDATE,
    PREVIOUS,
    PRODUCTION,
    Comparison,
    VersionInfo,
    apply_promotion,
    get_alias_version,
    get_status,
    register_candidate,
    rollback_production,
    should_promote,
)
from machine_learning.training.train import TrainingResult


def make_result(run_id="run1", passed=True, accuracy=0.91234, f1=0.9) -> TrainingResult:
    return TrainingResult(
        run_id=run_id,
        model_uri=f"models:/m-{run_id}" if passed else "",
        metrics={"accuracy": accuracy, "f1_macro": f1},
        passed_gate=passed,
        gate_reason="held-out accuracy 0.9123 >= minimum 0.8000" if passed else "held-out accuracy 0.5 is below",
        holdout_uri=f"s3://b/t/reference/{run_id}/holdout.parquet" if passed else "",
        reference_uri=f"s3://b/t/reference/{run_id}/reference.parquet" if passed else "",
        data_fingerprint="abc123",
        code_version="deadbeef",
        seed=42,
        train_rows=80,
        test_rows=20,
        fit_seconds=1.0,
    )


@pytest.fixture
def client():
    return FakeMlflowClient()


def _register_and_promote(client, settings, run_id):
    production = get_alias_version(client, settings, PRODUCTION)
    candidate = register_candidate(client, settings, make_result(run_id))
    apply_promotion(client, settings, candidate, production)
    return candidate


# --- should_promote: the pure decision -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "production", "margin", "promote"),
    [
        (0.80, None, 0.002, True),  # first model
        (0.10, None, 0.5, True),  # first model, however weak
        (0.90, 0.85, 0.002, True),  # clearly better
        (0.853, 0.85, 0.002, True),  # better by more than the margin
        (0.85, 0.85, 0.002, False),  # equal
        (0.85, 0.85, 0.0, False),  # equal, no margin
        (0.8515, 0.85, 0.002, False),  # within the margin
        (0.80, 0.85, 0.002, False),  # worse
        (0.86, 0.85, 0.0, True),  # any gain when there is no margin
    ],
)
def test_should_promote_on_held_out_rows_when_there_are_no_recent_rows(candidate, production, margin, promote):
    decision = should_promote(None, Comparison("held-out", 100, candidate, production), "f1_macro", margin, 0.3)
    assert decision.promote is promote
    assert f"{candidate:.4f}" in decision.reason
    assert "f1_macro" in decision.reason
    if production is None:
        assert "first model" in decision.reason
    else:
        assert f"{production:.4f}" in decision.reason
        assert f"{margin:.4f}" in decision.reason


def test_should_promote_reason_shows_the_signed_gain():
    assert "(+0.0500)" in should_promote(None, Comparison("held-out", 9, 0.9, 0.85), "accuracy", 0.0, 0.3).reason
    assert "(-0.0500)" in should_promote(None, Comparison("held-out", 9, 0.8, 0.85), "accuracy", 0.0, 0.3).reason


@pytest.mark.parametrize(
    ("recent", "held_out", "promote", "says"),
    [
        # adapted to a changed game: far better on recent players, worse on the old rows, within the tolerance
        ((0.91, 0.55), (0.75, 0.93), True, "guard passed"),
        # better on the old rows but not on recent players: the recent rows decide
        ((0.55, 0.56), (0.95, 0.93), False, "does not beat"),
        # wins on recent rows but collapses on the old ones: broken
        ((0.91, 0.55), (0.20, 0.93), False, "looks broken"),
        # within the margin on recent rows
        ((0.901, 0.900), (0.93, 0.93), False, "does not beat"),
    ],
)
def test_should_promote_lets_recent_rows_decide_with_a_guard_on_the_old_rows(recent, held_out, promote, says):
    decision = should_promote(
        Comparison("recent", 1200, *recent), Comparison("held-out", 8000, *held_out), "f1_macro", 0.002, 0.3
    )
    assert decision.promote is promote and says in decision.reason
    for number in (*recent, *held_out):  # the reason names every number it used
        assert f"{number:.4f}" in decision.reason
    assert "n=1200" in decision.reason and "n=8000" in decision.reason


# --- register_candidate ----------------------------------------------------------------------------------------


def test_register_candidate_creates_a_version_with_lineage_tags_and_the_candidate_alias(client, settings):
    info = register_candidate(client, settings, make_result("run1"))

    assert info == VersionInfo(settings.model_name, "1", "run1", info.tags)
    assert client.aliases == {CANDIDATE: "1"}
    version = client.versions["1"]
    assert version.source == "models:/m-run1"
    assert version.model_id == "m-run1"
    assert version.tags["holdout_uri"] == "s3://b/t/reference/run1/holdout.parquet"
    assert version.tags["data_fingerprint"] == "abc123"
    assert version.tags["code_version"] == "deadbeef"
    assert version.tags["split_seed"] == "42"
    assert version.tags["test_accuracy"] == "0.9123"
    assert version.tags["test_f1_macro"] == "0.9000"


def test_register_candidate_reuses_an_existing_registered_model(client, settings):
    register_candidate(client, settings, make_result("run1"))
    second = register_candidate(client, settings, make_result("run2"))
    assert second.version == "2"
    assert client.aliases == {CANDIDATE: "2"}


def test_register_candidate_propagates_other_registry_errors(client, settings):
    def denied(name, description=None):
        raise MlflowException("no", error_code=PERMISSION_DENIED)

    client.create_registered_model = denied
    with pytest.raises(MlflowException):
        register_candidate(client, settings, make_result())
    assert client.versions == {}


def test_register_candidate_refuses_a_model_below_the_gate(client, settings):
    with pytest.raises(QualityGateError, match="run bad not registered: held-out accuracy"):
        register_candidate(client, settings, make_result("bad", passed=False))
    assert client.models == set()
    assert client.versions == {}
    assert client.alias_calls == []


# --- aliases: promotion, status, rollback ----------------------------------------------------------------------


def test_get_alias_version_is_none_when_unset_or_model_missing(client, settings):
    assert get_alias_version(client, settings, PRODUCTION) is None
    register_candidate(client, settings, make_result())
    assert get_alias_version(client, settings, PRODUCTION) is None
    assert get_alias_version(client, settings, CANDIDATE).version == "1"


def test_get_alias_version_propagates_unexpected_errors(client, settings):
    def broken(name, alias):
        raise MlflowException("boom", error_code=PERMISSION_DENIED)

    client.get_model_version_by_alias = broken
    with pytest.raises(MlflowException):
        get_alias_version(client, settings, PRODUCTION)


def test_first_promotion_sets_production_only(client, settings):
    candidate = _register_and_promote(client, settings, "run1")
    assert client.aliases == {CANDIDATE: "1", PRODUCTION: "1"}
    assert "promoted_at" in client.versions[candidate.version].tags
    assert "replaced_version" not in client.versions[candidate.version].tags


def test_promotion_moves_the_replaced_version_to_previous(client, settings):
    _register_and_promote(client, settings, "run1")
    _register_and_promote(client, settings, "run2")

    assert client.aliases == {CANDIDATE: "2", PRODUCTION: "2", PREVIOUS: "1"}
    assert client.versions["2"].tags["replaced_version"] == "1"
    # previous is set before production moves, so a rollback target always exists
    assert client.alias_calls[-2:] == [("set", PREVIOUS, "1"), ("set", PRODUCTION, "2")]


def test_status_reports_every_alias(client, settings):
    assert get_status(client, settings) == {PRODUCTION: None, CANDIDATE: None, PREVIOUS: None}
    _register_and_promote(client, settings, "run1")
    _register_and_promote(client, settings, "run2")
    status = get_status(client, settings)
    assert {alias: info.version if info else None for alias, info in status.items()} == {
        PRODUCTION: "2",
        CANDIDATE: "2",
        PREVIOUS: "1",
    }
    assert status[PRODUCTION].run_id == "run2"


def test_rollback_walks_back_through_history_then_stops(client, settings):
    for run in ("run1", "run2", "run3"):
        _register_and_promote(client, settings, run)

    restored = rollback_production(client, settings)
    assert restored.version == "2"
    assert client.aliases[PRODUCTION] == "2"
    assert client.aliases[PREVIOUS] == "1"  # what v2 had replaced
    assert "rolled_back_at" in client.versions["3"].tags

    restored = rollback_production(client, settings)
    assert restored.version == "1"
    assert client.aliases[PRODUCTION] == "1"
    assert PREVIOUS not in client.aliases  # v1 replaced nothing

    with pytest.raises(NotFoundError, match=f"no '{PREVIOUS}' version to roll back to"):
        rollback_production(client, settings)
    assert client.aliases[PRODUCTION] == "1"


def test_rollback_without_history_is_not_found(client, settings):
    _register_and_promote(client, settings, "run1")
    with pytest.raises(NotFoundError, match=settings.model_name):
        rollback_production(client, settings)
    assert client.aliases[PRODUCTION] == "1"


def test_rollback_after_a_new_promotion_goes_to_the_version_just_replaced(client, settings):
    for run in ("run1", "run2"):
        _register_and_promote(client, settings, run)
    rollback_production(client, settings)  # production v1
    _register_and_promote(client, settings, "run3")  # v3 replaces v1

    assert rollback_production(client, settings).version == "1"
    assert PREVIOUS not in client.aliases
