"""Helpers of the prediction-log unit tests: answered calls as serving hands them to the log."""

from __future__ import annotations

import json

import numpy as np

from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABELS
from machine_learning.predlog.records import Exchange
from machine_learning.serving.bulk import encode_predictions

PLAYER = {
    "Age": 30, "Gender": "Male", "Location": "USA", "GameGenre": "Action", "PlayTimeHours": 5.5,
    "InGamePurchases": 1, "GameDifficulty": "Easy", "SessionsPerWeek": 4, "AvgSessionDurationMinutes": 60,
    "PlayerLevel": 10, "AchievementsUnlocked": 3,
}  # fmt: skip
assert set(PLAYER) == set(FEATURE_COLUMNS)


def exchange(
    ids: list[int],
    variant: str = "production",
    version: str = "3",
    at: float = 1_764_633_600.0,  # 2025-12-02 00:00 UTC
    title: str = "unit-test",
    request_id: str = "req-1",
) -> Exchange:
    """One answered call for these PlayerIDs, every one answered by ``variant`` / ``version``."""
    players = [{ID_COLUMN: player, **PLAYER, "Age": 20 + index} for index, player in enumerate(ids)]
    probabilities = np.tile(np.linspace(0.2, 0.5, len(LABELS)), (len(ids), 1))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    body = encode_predictions(
        "unit-test-engagement", "3", list(LABELS), ids, probabilities,
        variants=[variant] * len(ids), versions=[version] * len(ids),
    )  # fmt: skip
    request = json.dumps({"players": players}).encode()
    return Exchange(title, request_id, at, 1.5, request, body, len(ids))
