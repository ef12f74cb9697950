"""A title's Evidently project: created with its dashboard, found, deleted (in the shared workspace)."""

from __future__ import annotations

from machine_learning.settings import Settings


def open_title_project(settings: Settings) -> str:
    """Create (or update) the title's project and its dashboard; return the project's name."""
    from machine_learning.monitoring.workspace import open_project

    return str(open_project(settings).project.name)


def find_title_project(settings: Settings) -> str | None:
    """Return the name of the title's project, or ``None`` when the workspace has none."""
    from evidently.ui.workspace import Workspace

    from machine_learning.monitoring.workspace import find_project, lock_workspace, workspace_location

    location = workspace_location(settings)
    with lock_workspace(location):
        project = find_project(Workspace.create(location), settings.game_title)
    return None if project is None else str(project.name)


def delete_title_project(settings: Settings) -> None:
    """Delete every project named after the title, with its snapshots."""
    from evidently.ui.workspace import Workspace

    from machine_learning.monitoring.workspace import find_project, lock_workspace, workspace_location

    location = workspace_location(settings)
    with lock_workspace(location):
        workspace = Workspace.create(location)
        while (project := find_project(workspace, settings.game_title)) is not None:
            workspace.delete_project(project.id)
