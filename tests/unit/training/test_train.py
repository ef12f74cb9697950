import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import ID_COLUMN, LABEL_COLUMN
from machine_learning.training.train import check_quality_gate, code_version, split_players


@pytest.mark.parametrize("test_size", [0.2, 0.3, 0.5])
def test_split_is_a_disjoint_cover_of_the_rows(test_size):
    players = synthetic_players(120, seed=0)
    split = split_players(players, test_size=test_size, seed=1)

    train_ids, test_ids = set(split.train[ID_COLUMN]), set(split.test[ID_COLUMN])
    assert not train_ids & test_ids
    assert train_ids | test_ids == set(players[ID_COLUMN])
    assert len(split.test) == pytest.approx(test_size * len(players), abs=1)
    assert split.seed == 1
    assert list(split.train.index) == list(range(len(split.train)))


def test_split_is_stratified_by_label():
    players = synthetic_players(150, seed=0)
    players.loc[:29, LABEL_COLUMN] = "Low"  # make the classes unbalanced
    split = split_players(players, test_size=0.2, seed=0)
    overall = players[LABEL_COLUMN].value_counts(normalize=True)
    for part in (split.train, split.test):
        counts = part[LABEL_COLUMN].value_counts()
        expected = overall * len(part)
        assert (counts.reindex(expected.index) - expected).abs().max() <= 1  # as even as whole rows allow


def test_split_is_reproducible_for_a_seed_and_varies_with_it():
    players = synthetic_players(100, seed=0)
    first = split_players(players, 0.2, seed=3)
    again = split_players(players, 0.2, seed=3)
    other = split_players(players, 0.2, seed=4)
    assert first.test[ID_COLUMN].tolist() == again.test[ID_COLUMN].tolist()
    assert set(first.test[ID_COLUMN]) != set(other.test[ID_COLUMN])


@pytest.mark.parametrize(
    ("accuracy", "minimum", "passed"),
    [(0.9, 0.8, True), (0.8, 0.8, True), (0.7999, 0.8, False), (0.0, 0.0, True), (1.0, 1.0, True), (0.5, 1.0, False)],
)
def test_quality_gate(accuracy, minimum, passed):
    ok, reason = check_quality_gate(accuracy, minimum)
    assert ok is passed
    assert f"{accuracy:.4f}" in reason
    assert f"{minimum:.4f}" in reason
    if not passed:
        assert "MIN_ACCURACY" in reason


def test_code_version_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("CODE_VERSION", "v1.2.3")
    assert code_version() == "v1.2.3"


def test_code_version_is_unknown_without_git(monkeypatch, tmp_path):
    monkeypatch.delenv("CODE_VERSION", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no git to run
    assert code_version() == "unknown"


def test_code_version_falls_back_to_something_non_empty(monkeypatch):
    monkeypatch.setenv("CODE_VERSION", "")
    version = code_version()
    assert version
    assert "\n" not in version
