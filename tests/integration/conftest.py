"""Shared steps of the integration tier: a prepared sample, and one train -> register -> select cycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pytest

from machine_learning.data.prepare import load_prepared_players, prepare_players
from machine_learning.registry import register_candidate
from machine_learning.selection import select_model
from machine_learning.services import connect
from machine_learning.settings import Settings
from machine_learning.training.train import train_candidate
from tests.conftest import sample_players


@pytest.fixture
def prepared(settings: Settings, shipped_players: pd.DataFrame) -> pd.DataFrame:
    """A 3,000-player sample published by data preparation under the test's own title (``settings``)."""
    store = connect(settings).store
    prepare_players(sample_players(shipped_players, 3000), store, settings, "test-sample")
    return load_prepared_players(store, settings)


def train_register_select(
    settings: Settings, prepared: pd.DataFrame, params: Mapping[str, Any] | None = None
) -> tuple[str, bool]:
    """Train a candidate, register it and run model selection; return its version and whether it was promoted."""
    services = connect(settings)
    result = train_candidate(prepared, services.store, settings, params)
    version = register_candidate(services.mlflow, settings, result).version
    return version, select_model(services.mlflow, services.store, settings).promoted
