"""A game client's view of the ONNX export: download the production model from the running API, score with it.

The API runs as `make up` runs it (the subprocess of test_serving_live) against real MLflow and S3 servers.
"""

from __future__ import annotations

import httpx
import numpy as np
import onnx
import pandas as pd
import pytest

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN
from machine_learning.export.onnx_model import open_session, score_onnx
from machine_learning.settings import Settings
from tests.integration import test_serving_live as serving_live

pytestmark = pytest.mark.integration

settings = serving_live.settings  # this test's own title on the session stack
server = serving_live.server  # the API as a subprocess, following this test's model


def test_a_client_downloads_the_production_model_once_and_scores_like_predict(
    settings: Settings, prepared: pd.DataFrame, server: serving_live.Server
) -> None:
    assert server.get("/models/production").status_code == 503  # nothing in production yet
    version = serving_live.train_and_promote(settings, prepared)
    serving_live.wait_for(lambda: ready(server, version), what="the verified ONNX export", timeout=120)
    info = server.get("/model-version").json()["onnx_export"]
    assert info["url"] == "/models/production" and info["etag"] == f'"{version}"'

    response = server.get(info["url"])
    assert response.status_code == 200 and response.headers["etag"] == f'"{version}"'
    again = httpx.get(server.url + info["url"], headers={"X-API-Token": server.token, "If-None-Match": f'"{version}"'})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(server.url + info["url"]).status_code == 401

    players = prepared[[ID_COLUMN, *FEATURE_COLUMNS]].head(200)
    served = server.predict(players.to_dict(orient="records")).json()["predictions"]
    model = onnx.load_from_string(response.content)
    classes = {entry.key: entry.value for entry in model.metadata_props}["classes"].split(",")
    got = score_onnx(open_session(response.content), {name: players[name].tolist() for name in FEATURE_COLUMNS})
    expected = np.array([[row[f"probability_{label}"] for label in classes] for row in served])
    assert np.abs(got - expected).max() <= 1e-5


def ready(server: serving_live.Server, version: str) -> bool:
    answer = server.get("/model-version")
    return (
        answer.status_code == 200
        and answer.json()["onnx_export"]["status"] == "ready"
        and (answer.json()["model_version"] == version)
    )
