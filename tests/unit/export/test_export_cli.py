"""`mlops export-onnx`: the verified ONNX file of a version, written whole; nothing written when it is refused."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from machine_learning.cli import main
from machine_learning.data.schema import FEATURE_COLUMNS
from machine_learning.export.onnx_model import open_session, score_onnx
from machine_learning.inference import model as inference_model
from tests.unit.serving.serving_helpers import json_players, tiny_model


@pytest.fixture
def cached(monkeypatch, tmp_path):
    loaded = replace(tiny_model("3"), cache_dir=tmp_path / "cache")
    monkeypatch.setattr(inference_model, "load_model", lambda settings, version: loaded)
    return loaded


def test_the_written_file_scores_like_predict_proba(cached, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export-onnx", "--version", "3", "--out", str(out)]) == 0
    assert 'ETag "3"' in capsys.readouterr().out
    rows = pd.DataFrame(json_players(30))[list(FEATURE_COLUMNS)]
    got = score_onnx(open_session(out.read_bytes()), {name: rows[name].tolist() for name in FEATURE_COLUMNS})
    assert np.abs(got - cached.pipeline.predict_proba(rows)).max() <= 1e-5


def test_an_existing_file_is_kept_without_overwrite(cached, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"mine")
    assert main(["export-onnx", "--version", "3", "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"mine"


def test_a_refused_export_writes_nothing(cached, tmp_path, capsys, monkeypatch):
    from machine_learning.export import convert

    monkeypatch.setattr(convert, "convert_pipeline", lambda pipeline, metadata: b"not an onnx model")
    out = tmp_path / "model.onnx"
    assert main(["export-onnx", "--version", "3", "--out", str(out)]) == 1
    assert "refused" in capsys.readouterr().err and not list(tmp_path.glob("*.onnx*"))
