"""Damaged Evidently snapshots are set aside, by name, before anything opens the workspace.

Evidently 0.4.23 reads every snapshot of a project when a workspace opens, and one truncated file (a disk that
filled up, a run killed while Evidently wrote in place) makes that fail with a bare JSON error. That would stop
the nightly monitoring, the reports and the UI. So the monitoring runs and the UI's launcher first check each
snapshot file; one that is not whole JSON is moved to ``<workspace>/damaged/<project>/`` and reported by name. The
next run of that day's report or tests writes it again.

A file is parsed once: its size and modification time are remembered in ``<workspace>/.checked-snapshots.json``,
so a workspace of hundreds of snapshots costs a directory listing on later opens. An ``s3://`` workspace is not
checked (Evidently writes it with single PUTs, which cannot leave a file half-written).
"""

from __future__ import annotations

import json
from pathlib import Path

_CHECKED = ".checked-snapshots.json"
DAMAGED_FOLDER = "damaged"


def set_aside_damaged_snapshots(location: str) -> list[str]:
    """Move every snapshot file that is not whole JSON out of the workspace.

    Args:
        location: The workspace folder (an ``s3://`` URI is skipped).

    Returns:
        One line per file set aside, naming it and where it went.

    """
    if location.startswith("s3://") or not Path(location).is_dir():
        return []
    root = Path(location)
    checked = _read_checked(root / _CHECKED)
    seen: dict[str, list[float]] = {}
    moved: list[str] = []
    for path in sorted(root.glob("*/snapshots/*.json")):
        stat = path.stat()
        mark = [float(stat.st_size), stat.st_mtime]
        name = str(path.relative_to(root))
        if checked.get(name) == mark or _is_whole_json(path):
            seen[name] = mark
            continue
        target = root / DAMAGED_FOLDER / path.parent.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        moved.append(f"damaged Evidently snapshot {path} ({stat.st_size} bytes, not whole JSON) moved to {target}")
    _write_checked(root / _CHECKED, seen)
    return moved


def _is_whole_json(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            json.load(handle)
    except (ValueError, UnicodeDecodeError, OSError):
        return False
    return True


def _read_checked(path: Path) -> dict[str, list[float]]:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _write_checked(path: Path, seen: dict[str, list[float]]) -> None:
    staged = path.with_name(path.name + ".partial")
    try:
        staged.write_text(json.dumps(seen))
        staged.replace(path)
    except OSError:
        staged.unlink(missing_ok=True)  # a read-only or full disk: check again next time
