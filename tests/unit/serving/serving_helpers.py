"""Helpers of the serving unit tests: a tiny fitted model, a fake provider, JSON players."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from unit_helpers import synthetic_players

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
from machine_learning.inference.model import LoadedModel
from machine_learning.serving.provider import ProviderStatus, ServingModel
from machine_learning.training.model import build_pipeline

TOKEN = "unit-test-serving-token"


def tiny_model(version: str = "3", seed: int = 1, rows: int = 400) -> LoadedModel:
    players = synthetic_players(rows, seed=seed)
    fitted = build_pipeline(random_state=0, params={"classifier__max_iter": 30})
    fitted.fit(players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN])
    return LoadedModel("unit-test-engagement", version, fitted)


def json_players(count: int, seed: int = 5) -> list[dict[str, object]]:
    """Players as a game client sends them: JSON numbers and strings."""
    frame = synthetic_players(count, seed=seed).drop(columns=[LABEL_COLUMN])
    frame[ID_COLUMN] = np.arange(10_000, 10_000 + count)
    return frame.to_dict(orient="records")


@dataclass
class FakeProvider:
    """Serves whatever model the test sets; counts start/stop calls."""

    model: ServingModel | None = None
    last_error: str | None = None
    calls: list[str] = field(default_factory=list)

    def current(self) -> ServingModel | None:
        return self.model

    def status(self) -> ProviderStatus:
        return ProviderStatus("unit-test-engagement", self.model, datetime.now(UTC), self.last_error)

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")
