"""tl2cgen-compiled trees: same probabilities as numpy and scikit-learn, cached per version, and the fallbacks."""

import numpy as np
import pandas as pd
import pytest
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from machine_learning.inference import compiled
from machine_learning.inference.compiled import LIBRARY_NAME, TreelitePredictor, find_compiler, select_predictor
from machine_learning.inference.fast_model import CompiledPredictor, probe_columns
from machine_learning.inference.model import LoadedModel
from machine_learning.training.model import build_pipeline

needs_compiler = pytest.mark.skipif(find_compiler() is None, reason="no C compiler (install gcc) for tl2cgen")


@pytest.fixture(scope="module")
def pipeline():
    players = synthetic_players(1500, seed=3)
    model = build_pipeline(random_state=0, params={"classifier__max_iter": 20})
    return model.fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])


@pytest.fixture(scope="module")
def compiled_choice(pipeline, tmp_path_factory):
    return select_predictor(pipeline, tmp_path_factory.mktemp("version-1"))


@needs_compiler
@pytest.mark.parametrize("rows", [1, 7, 128, 129, 5000])
def test_compiled_numpy_and_sklearn_give_the_same_probabilities(pipeline, compiled_choice, rows):
    columns = probe_columns(rows, seed=rows)
    expected = pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])
    numpy_predictor = CompiledPredictor(pipeline)
    assert isinstance(compiled_choice.predictor, TreelitePredictor)
    np.testing.assert_allclose(compiled_choice.predictor.predict_proba(columns), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(numpy_predictor.predict_proba(columns), expected, rtol=0, atol=1e-9)


@needs_compiler
@pytest.mark.parametrize("as_categorical", [False, True])
def test_a_large_request_scored_in_blocks_gives_the_same_probabilities(
    pipeline, compiled_choice, monkeypatch, as_categorical
):
    from machine_learning.data.schema import CATEGORY_COLUMNS

    monkeypatch.setattr(compiled, "BLOCK_ROWS", 64)  # 1000 rows: 15 whole blocks and a short one
    columns = probe_columns(1000, seed=11)
    expected = pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])
    if as_categorical:
        columns = {
            **columns,
            **{spec.name: pd.Categorical(columns[spec.name], categories=spec.allowed) for spec in CATEGORY_COLUMNS},
        }
    np.testing.assert_allclose(compiled_choice.predictor.predict_proba(columns), expected, rtol=0, atol=1e-9)


@needs_compiler
def test_unknown_categories_score_like_the_pipeline(pipeline, compiled_choice):
    columns = probe_columns(300, seed=9)
    columns["Gender"] = ["Other", *columns["Gender"][1:]]
    columns["GameGenre"] = [*columns["GameGenre"][:-5], *["Racing"] * 5]
    expected = pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])
    np.testing.assert_allclose(compiled_choice.predictor.predict_proba(columns), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("rows", [7, 129, 5000])
def test_categorical_columns_score_like_their_strings(pipeline, compiled_choice, rows):
    """Validated Arrow text hands categories over as Categorical codes; every predictor scores them the same."""
    from machine_learning.data.schema import CATEGORY_COLUMNS
    from machine_learning.inference.fast_model import PipelinePredictor

    columns = probe_columns(rows, seed=rows + 1)
    columns["Gender"] = ["Robot", *columns["Gender"][1:]]  # unknown to the model
    expected = pipeline.predict_proba(pd.DataFrame(columns)[list(FEATURE_COLUMNS)])
    as_codes = dict(columns)
    for category in CATEGORY_COLUMNS:  # categories in another order than the model's, with extra ones
        order = list(dict.fromkeys([*sorted(set(columns[category.name]), reverse=True), *category.allowed, "?"]))
        as_codes[category.name] = pd.Categorical(columns[category.name], categories=order)
    predictors = [compiled_choice.predictor, CompiledPredictor(pipeline), PipelinePredictor(pipeline, [])]
    for predictor in predictors:
        np.testing.assert_allclose(predictor.predict_proba(as_codes), expected, rtol=0, atol=1e-9)


@needs_compiler
def test_the_library_is_kept_in_the_version_folder_and_reused(pipeline, tmp_path, monkeypatch):
    first = select_predictor(pipeline, tmp_path)
    (library,) = tmp_path.glob(f"tl2cgen/*/{LIBRARY_NAME}")
    import tl2cgen

    monkeypatch.setattr(tl2cgen, "export_lib", _no_compile)
    second = select_predictor(pipeline, tmp_path)
    assert first.predictor.kind == second.predictor.kind == "tl2cgen"
    assert list(tmp_path.glob(f"tl2cgen/*/{LIBRARY_NAME}")) == [library]


def _no_compile(*_: object, **__: object) -> None:
    raise AssertionError("compiled again although the library is cached")


def test_without_a_compiler_the_numpy_predictor_is_used(pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    choice = select_predictor(pipeline, tmp_path)
    assert choice.predictor.kind == "numpy"
    assert "no C compiler" in choice.reason
    assert not (tmp_path / "tl2cgen").exists()


def test_cc_names_the_compiler_and_path_is_searched(tmp_path):
    fake = tmp_path / "mycc"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_compiler({"CC": "mycc -O2", "PATH": str(tmp_path)}) == str(fake)
    assert find_compiler({"CC": "missing", "PATH": str(tmp_path)}) is None
    assert find_compiler({"PATH": str(tmp_path / "empty")}) is None


@needs_compiler
def test_a_compiled_library_that_disagrees_falls_back_to_numpy(pipeline, tmp_path, monkeypatch):
    monkeypatch.setattr(
        TreelitePredictor, "predict_proba", lambda self, columns: np.full((len(columns["Age"]), 3), 0.3)
    )
    choice = select_predictor(pipeline, tmp_path)
    assert choice.predictor.kind == "numpy"
    assert "differ" in choice.reason


def test_a_failing_compile_falls_back_to_numpy(pipeline, tmp_path, monkeypatch):
    def broken(*_: object, **__: object) -> None:
        raise OSError("compiler crashed")

    monkeypatch.setattr(compiled, "compile_library", broken)
    choice = select_predictor(pipeline, tmp_path, compiler="/usr/bin/true")
    assert choice.predictor.kind == "numpy"
    assert "compiler crashed" in choice.reason


def test_a_loaded_model_without_a_cache_folder_scores_with_numpy(pipeline):
    assert LoadedModel("m", "1", pipeline).predictor.kind == "numpy"


@needs_compiler
def test_compiled_probabilities_equal_predict_proba_on_the_full_shipped_dataset(shipped_players, tmp_path):
    from machine_learning.data.validate import validate_players

    players = validate_players(shipped_players).clean
    model = build_pipeline(random_state=42).fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])
    choice = select_predictor(model, tmp_path)
    columns = {name: players[name].to_numpy() for name in FEATURE_COLUMNS}
    assert choice.predictor.kind == "tl2cgen"
    expected = model.predict_proba(players[list(FEATURE_COLUMNS)])
    np.testing.assert_allclose(choice.predictor.predict_proba(columns), expected, rtol=0, atol=1e-9)
