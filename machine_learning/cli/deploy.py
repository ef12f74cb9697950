"""Deploy commands: ``cleanup`` deletes AWS resources by tag, with its own parser (AWS tags, not settings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_USAGE = "mlops cleanup --game-title T --environment E"


def run_cleanup(arguments: Sequence[str]) -> int | None:
    """Run ``cleanup`` when it is the command; return ``None`` when the arguments are another command's.

    Args:
        arguments: The command line without the program name.

    Returns:
        The exit code of ``cleanup`` (2 when its arguments are misplaced), or ``None``.

    """
    import sys

    arguments = list(arguments)
    if "cleanup" in arguments[:3] and arguments[:1] != ["cleanup"]:
        print(f"error: cleanup takes its own --game-title: {_USAGE}", file=sys.stderr)
        return 2
    if arguments[:1] == ["cleanup"]:
        from machine_learning.deploy.cleanup import main as cleanup_main

        return cleanup_main(arguments[1:])
    return None


def add_commands(commands: Any) -> None:
    """List ``cleanup`` in ``mlops --help``; :func:`run_cleanup` hands it to its own parser."""
    commands.add_parser("cleanup", help="delete AWS resources by tag: mlops cleanup --help", add_help=False)
