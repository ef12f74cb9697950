"""The one declared list of titles: a JSON object in S3, changed only by conditional PUTs.

The object lives at :data:`REGISTRY_KEY`, whose first segment starts with an underscore: no title name can
(``validation.check_title_name`` allows only lowercase letters, digits and dashes), so the registry is never inside a
title's prefix and deleting a title never touches it. Every change reads the object with its ETag and writes it back
with ``If-Match`` (``If-None-Match: *`` for the first), retrying on a conflict: two creates at the same time both
land, neither clobbers the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from machine_learning.errors import MLOpsError
from machine_learning.locks import put_if
from machine_learning.storage import ObjectStore

REGISTRY_KEY = "_titles/registry.json"
MAX_ATTEMPTS = 20

CREATING, READY, FAILED, DELETING = "creating", "ready", "failed", "deleting"


@dataclass(frozen=True)
class TitleRecord:
    """One title as the registry holds it.

    Attributes:
        name: The title.
        state: ``creating`` (a create is under way or was interrupted), ``ready`` (every step done),
            ``failed`` (the last create stopped at ``error``; rerunning it resumes) or ``deleting``.
        created_at: When the first create started (UTC, ISO 8601).
        updated_at: When the record last changed.
        steps_done: The creation steps finished so far, in order (``plan.CREATE_STEPS``).
        error: Why the last create stopped, if it did.
        runs: Mage run id (or local run label) of each pipeline the create ran.
        production_version: The model version the create left in production.
        operation_id: The operator API's id of the create that is running or ran last.

    """

    name: str
    state: str
    created_at: str
    updated_at: str
    steps_done: tuple[str, ...] = ()
    error: str | None = None
    runs: dict[str, str] = field(default_factory=dict)
    production_version: str | None = None
    operation_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values."""
        return {**asdict(self), "steps_done": list(self.steps_done)}


def now_iso() -> str:
    """Return the current UTC time, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_record(name: str, operation_id: str | None = None) -> TitleRecord:
    """Return the record of a title whose creation starts now."""
    stamp = now_iso()
    return TitleRecord(name, CREATING, stamp, stamp, operation_id=operation_id)


def read_titles(store: ObjectStore) -> dict[str, TitleRecord]:
    """Return every registered title by name (empty before the first create)."""
    return _read(store)[0]


def update_titles(
    store: ObjectStore, change: Callable[[dict[str, TitleRecord]], dict[str, TitleRecord]]
) -> dict[str, TitleRecord]:
    """Apply ``change`` to the registry with a compare-and-set, retrying when another writer got there first.

    Args:
        store: The install's bucket.
        change: Gets the current titles and returns the new ones; it may run more than once and may raise to
            refuse the change (nothing is written then).

    Returns:
        The titles as written.

    Raises:
        MLOpsError: The registry kept changing under us for :data:`MAX_ATTEMPTS` attempts.

    """
    for _ in range(MAX_ATTEMPTS):
        titles, etag = _read(store)
        changed = change(dict(titles))
        body = json.dumps(
            {"version": 1, "titles": {name: changed[name].to_dict() for name in sorted(changed)}}, indent=2
        ).encode()
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        if put_if(store, REGISTRY_KEY, body, **condition):
            return changed
    raise MLOpsError(f"the title registry {store.uri(REGISTRY_KEY)} kept changing; try again")


def save_record(store: ObjectStore, record: TitleRecord) -> TitleRecord:
    """Write one title's record (stamping ``updated_at``), keeping every other title as it is now."""
    stamped = replace(record, updated_at=now_iso())
    update_titles(store, lambda titles: {**titles, record.name: stamped})
    return stamped


def remove_record(store: ObjectStore, name: str) -> None:
    """Take a title out of the registry (nothing happens when it is not there)."""
    update_titles(store, lambda titles: {key: value for key, value in titles.items() if key != name})


def _read(store: ObjectStore) -> tuple[dict[str, TitleRecord], str | None]:
    try:
        response = store.client.get_object(Bucket=store.bucket, Key=REGISTRY_KEY)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return {}, None
        raise
    try:
        payload = json.loads(response["Body"].read())
        titles = {name: _record(value) for name, value in payload["titles"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise MLOpsError(f"the title registry {store.uri(REGISTRY_KEY)} is damaged ({error}); restore it") from None
    return titles, str(response["ETag"])


def _record(value: dict[str, Any]) -> TitleRecord:
    known = {name: value[name] for name in TitleRecord.__dataclass_fields__ if name in value}
    return TitleRecord(**{**known, "steps_done": tuple(known.get("steps_done", ()))})
