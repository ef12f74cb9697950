"""Online inference: score the players of one request with the production model and store the full result in S3.

A request is a list of raw player objects (the fields of the raw CSV, as JSON numbers or strings). It goes
through the same validation as a batch (``validate_players``) and the same scoring (``predict_players``), so a
player gets the same label and probabilities online as in a batch. Every valid input gets exactly one
prediction, in input order; invalid inputs are listed with their reasons. The whole result is written as one
JSON object at ``<title>/online/<request id>.json`` (a single PUT: it exists completely or not at all); a
request that cannot be scored at all raises ``InvalidInputError`` and writes nothing.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from machine_learning.data.schema import ID_COLUMN, LABELS, required_columns
from machine_learning.data.validate import REASON_COLUMN, validate_players
from machine_learning.errors import ConflictError, InvalidInputError, NotFoundError
from machine_learning.inference.model import LoadedModel, load_model, resolve_version
from machine_learning.inference.predict import PREDICTION_COLUMN, predict_players, probability_column
from machine_learning.services import Services, connect
from machine_learning.settings import Settings, load_settings
from machine_learning.storage import ObjectStore

MAX_ONLINE_INPUTS = 1000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RUN_ID_PREFIX = "mage-run-"


def online_result_key(settings: Settings, request_id: str) -> str:
    """Return the S3 key of a request's result.

    Args:
        settings: Provides the title's prefix.
        request_id: The request id (letters, digits, ``_``, ``.``, ``-``; at most 64 characters).

    Returns:
        ``<title>/online/<request id>.json``.

    Raises:
        InvalidInputError: The request id could escape its folder or is too long.

    """
    return f"{settings.s3_prefix}/online/{check_request_id(request_id)}.json"


def check_request_id(request_id: Any) -> str:
    """Check that a request id is a safe object name (1-64 letters, digits, ``_``, ``.``, ``-``).

    Raises:
        InvalidInputError: It could escape its folder, is too long or is not text.

    """
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise InvalidInputError(
            f"request_id {str(request_id)[:80]!r} must be 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return request_id


def request_id_for(request_id: str | None = None, pipeline_run_id: Any = None) -> str:
    """Choose a request id: the caller's, else ``mage-run-<pipeline run id>``, else a random one.

    Ids starting with ``mage-run-`` belong to the runs that Mage numbers: a caller may not choose one of another
    run, or it could plant a result where a later run's caller will look for theirs.

    Args:
        request_id: Id chosen by the caller (variable ``request_id``).
        pipeline_run_id: The Mage pipeline run executing the request, when started through a trigger.

    Returns:
        The request id.

    Raises:
        InvalidInputError: The chosen id is malformed or names another run's ``mage-run-`` id.

    """
    numbered = pipeline_run_id is not None and str(pipeline_run_id).isdigit()
    own = f"{_RUN_ID_PREFIX}{pipeline_run_id}" if numbered else None
    if request_id:
        chosen = check_request_id(request_id)
        if chosen.startswith(_RUN_ID_PREFIX) and chosen != own:
            raise InvalidInputError(
                f"request_id {chosen!r}: ids starting with {_RUN_ID_PREFIX!r} are given by Mage to its runs; "
                "choose another"
            )
        return chosen
    return own or uuid.uuid4().hex


def parse_online_inputs(inputs: Any) -> pd.DataFrame:
    """Turn a request's ``inputs`` into the text frame validation expects, one row per input, in order.

    Missing fields become empty text (validation reports them as missing); extra fields are ignored, and so is
    a label sent along. Numbers are rendered as text so the batch checks apply unchanged.

    Args:
        inputs: A list of objects mapping raw field names to values (or its JSON text).

    Returns:
        Text columns ``PlayerID`` and the features.

    Raises:
        InvalidInputError: ``inputs`` is not a non-empty list of objects, or has more than ``MAX_ONLINE_INPUTS``.

    """
    if isinstance(inputs, str):
        try:
            inputs = json.loads(inputs)
        except ValueError:
            raise InvalidInputError("inputs is text but not JSON: send a list of player objects") from None
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInputError(f"inputs must be a non-empty list of player objects, got {type(inputs).__name__}")
    if len(inputs) > MAX_ONLINE_INPUTS:
        raise InvalidInputError(f"{len(inputs)} inputs in one request; at most {MAX_ONLINE_INPUTS} are accepted")
    columns = required_columns(require_label=False)
    for index, item in enumerate(inputs):
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"inputs[{index}] must be an object of player fields, got {type(item).__name__}")
    rows = [[_as_text(item.get(column)) for column in columns] for item in inputs]
    return pd.DataFrame(rows, columns=list(columns), dtype=str)


def score_online_inputs(
    inputs: Any,
    model: LoadedModel,
    store: ObjectStore,
    settings: Settings,
    request_id: str,
    scored_at: datetime | None = None,
    pipeline_run_id: Any = None,
) -> dict[str, Any]:
    """Validate and score one request, then store the full result as one JSON object.

    Args:
        inputs: Raw player objects (see :func:`parse_online_inputs`).
        model: The model to score with.
        store: Where the result is written.
        settings: Provides the title's prefix.
        request_id: Names the result (see :func:`online_result_key`).
        scored_at: Timestamp of the predictions (default: now, UTC).
        pipeline_run_id: The Mage run answering the request: only the same run may store under a taken id
            (Mage executes a block of a triggered run more than once).

    Returns:
        ``request_id``, ``result_uri``, model name and version, ``scored_at``, counts, ``predictions`` (one per
        valid input, in input order, with ``input_index``, ``PlayerID``, the label and one probability per class)
        and ``rejected`` (``input_index``, ``PlayerID`` as sent, ``reason``).

    Raises:
        InvalidInputError: The request is malformed or no input is valid; nothing is written then.
        ConflictError: A result is already stored under ``request_id``.

    """
    key = online_result_key(settings, request_id)
    raw = parse_online_inputs(inputs)
    run = None if pipeline_run_id is None else str(pipeline_run_id)
    refuse_taken_request_id(store, key, request_id, run)
    validation = validate_players(raw)
    valid_positions, rejected_positions = np.flatnonzero(validation.valid), np.flatnonzero(~validation.valid)
    rejected = [
        {"input_index": int(position), ID_COLUMN: raw.at[position, ID_COLUMN], "reason": reason}
        for position, reason in zip(rejected_positions, validation.quarantine[REASON_COLUMN], strict=True)
    ]
    if validation.clean.empty:
        details = "; ".join(f"inputs[{item['input_index']}]: {item['reason']}" for item in rejected[:5])
        raise InvalidInputError(f"no valid input to score ({len(rejected)} rejected): {details}")
    scored = predict_players(model, validation.clean, scored_at)
    predictions = [
        {
            "input_index": int(position),
            ID_COLUMN: int(row[ID_COLUMN]),
            PREDICTION_COLUMN: str(row[PREDICTION_COLUMN]),
            **{probability_column(label): float(row[probability_column(label)]) for label in LABELS},
        }
        for position, (_, row) in zip(valid_positions, scored.iterrows(), strict=True)
    ]
    result = {
        "request_id": request_id,
        "pipeline_run_id": run,
        "result_uri": store.uri(key),
        "model_name": model.name,
        "model_version": model.version,
        "scored_at": pd.Timestamp(scored["scored_at"].iloc[0]).isoformat(),
        "inputs": len(raw),
        "predicted": len(predictions),
        "predictions": predictions,
        "rejected": rejected,
    }
    refuse_taken_request_id(store, key, request_id, run)  # checked again: scoring took time
    store.write_json(key, result)
    return result


def refuse_taken_request_id(store: ObjectStore, key: str, request_id: str, pipeline_run_id: str | None) -> None:
    """Refuse a request id whose result already exists: a stored result is never replaced by another request.

    The same Mage run may store again (Mage executes a triggered run's block a second time); any other request,
    including one without a run id, is refused.

    Raises:
        ConflictError: A result of another request is stored under that id; nothing is written.

    """
    try:
        stored = store.read_json(key)
    except NotFoundError:
        return
    same_run = (
        pipeline_run_id is not None and isinstance(stored, dict) and stored.get("pipeline_run_id") == pipeline_run_id
    )
    if not same_run:
        raise ConflictError(
            f"request_id {request_id!r} is taken: a result is already stored under it and is never replaced; "
            "choose another id or leave it out"
        )


def answer_online_request(
    inputs: Any,
    game_title: str | None = None,
    request_id: str | None = None,
    pipeline_run_id: Any = None,
    run_variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Score one request with the current production model: what the ``online_inference`` Mage block runs.

    Settings come from the server's environment; a request may only choose the game title (so titles
    coexist), never endpoints, buckets or the model cache. Services and loaded models are reused across
    requests in the same process (Mage's synchronous ``/api/runs`` runs inside the server); the production
    alias is resolved on every request, so a promotion takes effect at once.

    Args:
        inputs: Raw player objects.
        game_title: Title whose production model scores the request (default: ``GAME_TITLE``).
        request_id: Names the stored result (default: from the pipeline run, else random).
        pipeline_run_id: The Mage pipeline run, when started through the API trigger.
        run_variables: The block's kwargs: checked like every run's variables (and may choose the title).

    Returns:
        The result of :func:`score_online_inputs`.

    Raises:
        InvalidInputError: A variable is refused, the id is malformed or the inputs are; nothing is written.

    """
    settings = load_settings(run_variables or ({"game_title": game_title} if game_title else None))
    chosen = request_id_for(request_id, pipeline_run_id)
    online_result_key(settings, chosen)  # reject a bad id before any network call
    parse_online_inputs(inputs)  # and malformed inputs
    services = _services(settings)
    model = _model(settings, resolve_version(services.mlflow, settings))
    return score_online_inputs(inputs, model, services.store, settings, chosen, pipeline_run_id=pipeline_run_id)


def fetch_online_result(store: ObjectStore, settings: Settings, request_id: str) -> dict[str, Any]:
    """Read the stored result of a request.

    Args:
        store: The title's bucket.
        settings: Provides the title's prefix.
        request_id: The request id (for an API-triggered run: ``mage-run-<pipeline run id>``).

    Returns:
        The result as written by :func:`score_online_inputs`.

    Raises:
        NotFoundError: No result is stored under that id (unknown id, not finished yet, or a failed request).

    """
    key = online_result_key(settings, request_id)
    try:
        result: dict[str, Any] = store.read_json(key)
    except NotFoundError:
        raise NotFoundError(
            f"no online result {store.uri(key)}: the request is unknown, still running, or failed "
            "(a failed request stores nothing; its error is in the Mage run's logs)"
        ) from None
    return result


@functools.lru_cache(maxsize=8)
def _services(settings: Settings) -> Services:
    return connect(settings)


@functools.lru_cache(maxsize=4)
def _model(settings: Settings, version: str) -> LoadedModel:
    return load_model(settings, version)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | list | dict):
        return json.dumps(value)  # fails validation with the value shown, never coerced to 0/1
    return str(value)
