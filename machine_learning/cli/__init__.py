"""Command-line interface: the same lifecycle steps as the Mage pipelines, for scripts, the Makefile and tests.

One module per command group (data, training, rollout, inference, monitoring, stack, deploy). Heavy libraries (mlflow,
evidently, scikit-learn, pandas, boto3, mage_ai) are imported inside the commands that need them, so
``mlops --help`` and quick commands start in a blink.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from machine_learning.cli import data, deploy, inference, monitoring, predlog, rollout, stack, training
from machine_learning.cli import export as export_commands  # mlops export-onnx (#15 part 5)
from machine_learning.cli import titles as title_commands
from machine_learning.cli.deploy import run_cleanup
from machine_learning.errors import MLOpsError
from machine_learning.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI command.

    Args:
        argv: Arguments without the program name (defaults to ``sys.argv[1:]``).

    Returns:
        The process exit code: 0 on success, 1 on a reported error, 2 on bad usage.

    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    cleanup_code = run_cleanup(arguments)
    if cleanup_code is not None:
        return cleanup_code
    parser = _build_parser()
    args = parser.parse_args(arguments)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        settings = load_settings({"game_title": args.game_title} if args.game_title else None)
        command: Callable[[argparse.Namespace, Settings], None] = args.command
        command(args, settings)
    except MLOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the CLI promises one line, never a traceback
        print(f"error: {describe_unexpected(error)}", file=sys.stderr)
        return 1
    return 0


def describe_unexpected(error: Exception) -> str:
    """Turn connection and service errors into a message that says what to do."""
    name = type(error).__name__
    text = str(error).splitlines()[0] if str(error) else name
    if name in ("EndpointConnectionError", "ConnectionError", "ConnectTimeoutError", "MaxRetryError"):
        return f"cannot reach a service ({text}); is the local stack running? try 'make up'"
    if name in ("NoCredentialsError", "ClientError") and ("credential" in text.lower() or "AccessKey" in text):
        return f"S3 rejected the credentials ({text}); source .local/stack.env or set AWS_ACCESS_KEY_ID"
    if name == "MlflowException" and ("Connection" in text or "Max retries" in text):
        return f"cannot reach MLflow ({text[:200]}); is the local stack running? try 'make up'"
    return f"{name}: {text[:500]}"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="Player-engagement MLOps lifecycle.")
    parser.add_argument("--game-title", help="override GAME_TITLE for this command")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for group in (data, training, rollout, inference, monitoring, stack, deploy, predlog):
        group.add_commands(commands)
    title_commands.add_commands(commands)
    export_commands.add_commands(commands)
    return parser
