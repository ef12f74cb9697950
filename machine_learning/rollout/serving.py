"""The rollout's own serving route: ``GET /rollout``, both variants' live figures and the retreat verdict."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from machine_learning.rollout.router import Rollout


def add_rollout_routes(app: FastAPI, rollout: Rollout, require_token: Any) -> None:
    """Add ``GET /rollout`` (token required) to the serving API.

    Args:
        app: The serving API.
        rollout: Its rollout.
        require_token: The API's token dependency.

    """

    @app.get("/rollout", dependencies=[Depends(require_token)])
    async def rollout_figures() -> dict[str, Any]:
        """Live figures of production and the challenger in this process, and the retreat rule's verdict."""
        return rollout.report()
