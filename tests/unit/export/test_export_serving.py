"""GET /models/production: the verified ONNX model with its version as ETag, 304 when the client has it."""

import time

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from unit_helpers import offline_settings

from machine_learning.data.schema import FEATURE_COLUMNS
from machine_learning.export import serving
from machine_learning.export.keeper import BUILDING, READY, REFUSED, ExportState, OnnxExports
from machine_learning.export.onnx_model import ExportRejectedError, export_model, open_session, score_onnx
from machine_learning.serving.app import create_app
from machine_learning.serving.provider import prepare_model
from tests.unit.serving.serving_helpers import TOKEN, FakeProvider, json_players, tiny_model

AUTH = {"X-API-Token": TOKEN}


@pytest.fixture(scope="module")
def loaded():
    return tiny_model("3")


def start(monkeypatch, tmp_path, loaded, model=True, build=None):
    """The serving app whose exporter builds from the test's model (no MLflow)."""

    def export(version):
        return export_model(loaded.pipeline, loaded.name, version, tmp_path / "versions" / version)

    def exports(settings, provider):
        return OnnxExports(lambda: serving._serving_version(provider), build or export)

    monkeypatch.setattr(serving, "build_exports", exports)
    settings = offline_settings(serving_token=TOKEN, prediction_log="off")
    provider = FakeProvider(model=prepare_model(loaded) if model else None)
    return TestClient(create_app(settings, provider))


def settled(client):
    """/model-version's onnx_export once the exporter has decided (ready or refused)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = client.get("/model-version", headers=AUTH).json()["onnx_export"]
        if info["status"] != BUILDING:
            return info
        time.sleep(0.05)
    raise AssertionError("the export was never built")


def test_the_download_is_the_verified_model_with_its_version_as_etag_and_scores_like_predict(
    monkeypatch, tmp_path, loaded
):
    with start(monkeypatch, tmp_path, loaded) as client:
        info = settled(client)
        assert info["available"] and info["url"] == "/models/production" and info["etag"] == '"3"'
        response = client.get("/models/production", headers=AUTH)
        players = json_players(25)
        predicted = client.post("/predict", json={"players": players}, headers=AUTH).json()["predictions"]
    assert response.status_code == 200 and response.headers["etag"] == '"3"'
    assert response.headers["content-type"] == "application/octet-stream"
    assert "unit-test-engagement-v3.onnx" in response.headers["content-disposition"]
    model = onnx.load_from_string(response.content)
    classes = {entry.key: entry.value for entry in model.metadata_props}["classes"].split(",")
    got = score_onnx(open_session(response.content), {name: [p[name] for p in players] for name in FEATURE_COLUMNS})
    expected = np.array([[row[f"probability_{label}"] for label in classes] for row in predicted])
    assert np.abs(got - expected).max() <= 1e-5
    assert (tmp_path / "versions" / "3" / "onnx" / "model.onnx").read_bytes() == response.content  # cached


def test_the_same_version_in_if_none_match_is_a_304_without_body(monkeypatch, tmp_path, loaded):
    with start(monkeypatch, tmp_path, loaded) as client:
        settled(client)
        for if_none_match, status in (('"3"', 304), ('W/"3"', 304), ('"2", "3"', 304), ("*", 304), ('"2"', 200)):
            response = client.get("/models/production", headers={**AUTH, "If-None-Match": if_none_match})
            assert response.status_code == status and response.headers["etag"] == '"3"'
            assert (response.content == b"") is (status == 304)


def test_anonymous_or_wrong_token_is_a_401_without_the_model(monkeypatch, tmp_path, loaded):
    with start(monkeypatch, tmp_path, loaded) as client:
        settled(client)
        for headers in ({}, {"X-API-Token": "wrong"}):
            response = client.get("/models/production", headers=headers)
            assert response.status_code == 401 and "X-API-Token" in response.json()["detail"]


def test_nothing_serving_is_a_503_with_one_line_and_retry_after(monkeypatch, tmp_path, loaded):
    with start(monkeypatch, tmp_path, loaded, model=False) as client:
        response = client.get("/models/production", headers=AUTH)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "no model" in response.json()["detail"] and "\n" not in response.json()["detail"]


def test_a_refused_export_is_a_404_with_the_reason_and_never_offered(monkeypatch, tmp_path, loaded):
    def refuse(version):
        raise ExportRejectedError(f"ONNX export of version {version} refused: probabilities differ by up to 0.3")

    with start(monkeypatch, tmp_path, loaded, build=refuse) as client:
        info = settled(client)
        response = client.get("/models/production", headers=AUTH)
    assert info["status"] == REFUSED and not info["available"] and "differ" in info["reason"] and info["etag"] is None
    assert response.status_code == 404 and "differ" in response.json()["detail"]
    assert not (tmp_path / "versions").exists()


@pytest.mark.parametrize(
    ("serving_version", "state", "status"),
    [
        (None, None, 503),
        ("4", None, 503),
        ("4", ExportState("4", BUILDING), 503),
        ("4", ExportState("3", READY), 503),  # the held export is of the previous version: never offered for 4
        ("4", ExportState("4", REFUSED, reason="differs"), 404),
    ],
)
def test_decide_download_offers_only_the_serving_versions_verified_export(serving_version, state, status):
    answer = serving.decide_download(serving_version, state, '"3"')
    assert answer.status == status and answer.export is None and answer.detail
