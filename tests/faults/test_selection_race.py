"""Two model selections at once: the second decides against the production the first one put in place."""

from __future__ import annotations

import threading
import time

import pytest

from machine_learning.locks import lock_key
from machine_learning.registry import PREVIOUS, PRODUCTION, get_alias_version, register_candidate
from machine_learning.selection import SELECTION_LOCK, select_model
from machine_learning.services import connect
from machine_learning.training.train import train_candidate
from tests.integration.conftest import train_register_select

pytestmark = pytest.mark.faults
WEAKEST = {"classifier__max_iter": 2, "classifier__learning_rate": 0.02}
WEAK = {"classifier__max_bins": 5}


def test_racing_selections_keep_the_best_model_and_the_previous_chain(settings, prepared):
    first, promoted = train_register_select(settings, prepared, WEAKEST)
    assert promoted
    services = connect(settings)
    best = register_candidate(services.mlflow, settings, train_candidate(prepared, services.store, settings)).version
    weak_run = train_candidate(prepared, services.store, settings, WEAK)  # better than the first, worse than best

    results = {}

    def select(name: str) -> None:
        own = connect(settings)  # each selection is its own run with its own clients
        results[name] = select_model(own.mlflow, own.store, settings)

    early = threading.Thread(target=select, args=("early",))
    early.start()
    deadline = time.monotonic() + 120
    while not services.store.exists(lock_key(settings, SELECTION_LOCK)):  # the first selection is deciding
        assert time.monotonic() < deadline and early.is_alive()
        time.sleep(0.05)
    weak = register_candidate(services.mlflow, settings, weak_run).version  # a second training finishes meanwhile
    late = threading.Thread(target=select, args=("late",))
    late.start()
    early.join(300)
    late.join(300)

    assert results["early"].promoted and results["early"].candidate_version == best
    assert results["late"].candidate_version == weak and results["late"].production_version == best
    assert not results["late"].promoted, results["late"].reason
    assert get_alias_version(services.mlflow, settings, PRODUCTION).version == best
    assert get_alias_version(services.mlflow, settings, PREVIOUS).version == first
