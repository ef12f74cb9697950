"""The rollout audit log: who moved which version, when, why, and on which metrics. Append-only.

Every event is written twice: as one JSON object in S3, ``<title>/audit/<time>-<event>-v<N>-<id>.json`` (a new
key per event, so nothing is ever rewritten), and as a tag ``audit.<time>.<event>`` on the model version it
concerns, so the MLflow UI shows a version's history beside it. ``mlops history`` reads the S3 log.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from machine_learning.alerts.webhook import notify_transition
from machine_learning.settings import Settings
from machine_learning.storage import ObjectStore

REGISTERED, PROPOSED, APPROVED, REJECTED = "registered", "proposed", "approved", "rejected"
CANARY_STARTED, CANARY_STOPPED, CANARY_WITHDRAWN = "canary-started", "canary-stopped", "canary-withdrawn"
PROMOTED, ROLLED_BACK = "promoted", "rolled-back"
EVENTS = (REGISTERED, PROPOSED, APPROVED, REJECTED, CANARY_STARTED, CANARY_STOPPED, CANARY_WITHDRAWN, PROMOTED,
          ROLLED_BACK)  # fmt: skip
MAX_TAG_CHARS = 4000  # MLflow's limit for a model-version tag value is 5,000


@dataclass(frozen=True)
class AuditEvent:
    """One transition of one model version."""

    event: str
    model_name: str
    version: str
    at: str
    os_user: str
    mlflow_user: str
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)

    def describe(self) -> str:
        """One line for ``mlops history``."""
        numbers = " ".join(f"{name}={value:.4f}" for name, value in sorted(self.metrics.items()))
        who = f"{self.os_user}/{self.mlflow_user}"
        return f"{self.at}  v{self.version:<4} {self.event:<16} {who:<28} {self.reason}" + (
            f"  [{numbers}]" if numbers else ""
        )


def current_user() -> tuple[str, str]:
    """Return the OS user and the MLflow user (``MLFLOW_TRACKING_USERNAME``) acting now."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary container uid
        os_user = f"uid-{os.getuid()}"
    return os_user, os.environ.get("MLFLOW_TRACKING_USERNAME") or "anonymous"


class AuditLog:
    """Appends events to S3 and to the version's MLflow tags.

    Args:
        client: An ``MlflowClient``.
        store: The title's bucket.
        settings: Title prefix and model name.

    """

    def __init__(self, client: Any, store: ObjectStore, settings: Settings) -> None:
        self._client, self._store, self._settings = client, store, settings

    @property
    def client(self) -> Any:
        """The MLflow client the log writes its tags with (the steps that use the log move aliases with it)."""
        return self._client

    @property
    def store(self) -> ObjectStore:
        """The bucket the log writes to (the steps that use the log take the title's locks in it)."""
        return self._store

    @property
    def prefix(self) -> str:
        """Key prefix of the title's audit objects."""
        return f"{self._settings.s3_prefix}/audit/"

    def record(self, event: str, version: str, reason: str, metrics: dict[str, float] | None = None) -> AuditEvent:
        """Append one event: first the S3 object (the log of record), then the MLflow tag.

        Args:
            event: One of ``EVENTS``.
            version: The model version it concerns.
            reason: Why, in words (a decision's reason, an operator's ``--reason``).
            metrics: The numbers the transition rested on.

        Returns:
            The event as written.

        Raises:
            ValueError: The event is not one of ``EVENTS``.

        """
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}; known: {', '.join(EVENTS)}")
        now = datetime.now(UTC)
        os_user, mlflow_user = current_user()
        clean = {name: float(value) for name, value in (metrics or {}).items()}
        entry = AuditEvent(event, self._settings.model_name, str(version), now.isoformat(), os_user, mlflow_user,
                           reason, clean)  # fmt: skip
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        line = json.dumps(entry.to_dict(), sort_keys=True).encode() + b"\n"
        key = f"{self.prefix}{stamp}-{event}-v{version}-{uuid.uuid4().hex[:8]}.json"
        self._store.write_bytes(key, line, content_type="application/json")
        tag = json.dumps({k: v for k, v in entry.to_dict().items() if k not in ("model_name", "version")})
        self._client.set_model_version_tag(
            self._settings.model_name, str(version), f"audit.{stamp}.{event}", tag[:MAX_TAG_CHARS]
        )
        notify_transition(self._store, self._settings, event, str(version), reason)
        return entry

    def history(self, version: str | None = None) -> list[AuditEvent]:
        """Return every event in time order, optionally of one version only."""
        events = []
        for key in self._store.list_keys(self.prefix):
            if not key.endswith(".json") or (version is not None and f"-v{version}-" not in key.rsplit("/", 1)[-1]):
                continue
            events.append(AuditEvent(**json.loads(self._store.read_bytes(key))))
        return sorted(events, key=lambda item: item.at)
