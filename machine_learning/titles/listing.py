"""``mlops title list``: each title's state, production version, last runs and last monitoring decision."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from machine_learning.settings import Settings
from machine_learning.titles.create import TitleServices, title_settings
from machine_learning.titles.registry import READY, TitleRecord, read_titles


@dataclass(frozen=True)
class TitleState:
    """One title as ``title list`` shows it."""

    name: str
    state: str
    default: bool
    production_version: str | None
    last_runs: dict[str, str] = field(default_factory=dict)
    last_decision: str | None = None
    error: str | None = None
    steps_done: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-ready values."""
        return asdict(self)


def last_runs_by_title(runs: Iterable[Mapping[str, Any]], default_title: str) -> dict[str, dict[str, str]]:
    """Group Mage runs (newest first) by title: ``{title: {pipeline: "<id> <status>"}}``, the newest per pipeline.

    A run without a ``game_title`` variable (a schedule of the tracked ``triggers.yaml``) is the default title's.
    """
    grouped: dict[str, dict[str, str]] = {}
    for run in runs:
        title = str((run.get("variables") or {}).get("game_title") or default_title)
        grouped.setdefault(title, {}).setdefault(str(run.get("pipeline_uuid")), f"{run.get('id')} {run.get('status')}")
    return grouped


def describe_titles(settings: Settings, services: TitleServices) -> list[TitleState]:
    """Describe the default title and every registered one, by name.

    Mage is asked once for its recent runs; when it cannot be reached the runs are left empty, not an error.
    """
    records: dict[str, TitleRecord] = read_titles(services.store)
    try:
        runs = last_runs_by_title(services.mage().recent_runs(), settings.game_title)
    except Exception:  # noqa: BLE001 - the list still shows state and models without Mage
        runs = {}
    names = sorted({settings.game_title, *records})
    return [_describe(settings, services, name, records.get(name), runs.get(name, {})) for name in names]


def _describe(
    settings: Settings, services: TitleServices, name: str, record: TitleRecord | None, runs: dict[str, str]
) -> TitleState:
    from machine_learning.registry import PRODUCTION, get_alias_version

    own = title_settings(settings, name)
    production = get_alias_version(services.mlflow, own, PRODUCTION)
    return TitleState(
        name=name,
        state=record.state if record else READY,  # the default title is the install's own, always there
        default=name == settings.game_title,
        production_version=production.version if production else None,
        last_runs=runs,
        last_decision=_last_decision(services, own),
        error=record.error if record else None,
        steps_done=list(record.steps_done) if record else [],
        runs=dict(record.runs) if record else {},
    )


def _last_decision(services: TitleServices, own: Settings) -> str | None:
    from machine_learning.errors import NotFoundError
    from machine_learning.monitoring.decision import decision_key, describe_record, load_state

    last = load_state(services.store, own).last_checked
    if not last:
        return None
    try:
        return describe_record(dict(services.store.read_json(decision_key(own, str(last)))))
    except (NotFoundError, KeyError):
        return f"{last}: decision record missing"


def format_titles(states: Iterable[TitleState]) -> list[str]:
    """Return the lines of the table ``mlops title list`` prints."""
    lines = [f"{'TITLE':<24} {'STATE':<9} {'PROD':<5} LAST RUNS / LAST DECISION"]
    for one in states:
        name = f"{one.name} (default)" if one.default else one.name
        runs = ", ".join(f"{pipeline} {run}" for pipeline, run in sorted(one.last_runs.items())) or "no runs"
        production = f"v{one.production_version}" if one.production_version else "-"
        lines.append(f"{name:<24} {one.state:<9} {production:<5} {runs}")
        lines.append(f"{'':<40} decision: {one.last_decision or 'none yet'}")
        if one.error:
            lines.append(f"{'':<40} stopped at {one.error}: rerun 'mlops title create {one.name}'")
    return lines
