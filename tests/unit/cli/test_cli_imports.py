"""The CLI starts in a blink: importing it (and parsing any command line) loads no heavy library."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("mlflow", "evidently", "sklearn", "pandas", "numpy", "pyarrow", "mage_ai", "boto3", "botocore", "requests")
PROBE = """
import sys
from machine_learning.cli import _build_parser
import machine_learning.__main__
import machine_learning.cli.mlflow_rest
_build_parser().parse_args({argv!r})
print(",".join(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["predict", "--input", "a.csv", "--output", "b.csv"],
        ["run-pipeline", "training"],
        ["monitor", "--date", "2026-11-23"],
    ],
)
def test_importing_the_cli_and_parsing_a_command_loads_no_heavy_module(argv):
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", f"heavy modules imported by the CLI itself: {done.stdout.strip()}"


def test_the_mlops_entry_point_and_python_dash_m_both_work():
    done = subprocess.run([sys.executable, "-m", "machine_learning", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "run-pipeline" in done.stdout and "cleanup" in done.stdout
