"""Mage's log filter: no trigger token survives in a request line, whichever Tornado logger writes it."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[3] / "scripts" / "mage_site" / "sitecustomize.py"
TOKEN = "6bbb9af0315446a69207ef406c814e58"


@pytest.fixture(scope="module")
def redact() -> logging.Filter:
    spec = importlib.util.spec_from_file_location("mage_sitecustomize", SITE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RedactTriggerTokens()


@pytest.mark.parametrize(
    ("logger", "message", "args"),
    [
        ("tornado.access", "%d %s", (200, f"POST /api/pipeline_schedules/3/pipeline_runs/{TOKEN} (127.0.0.1)")),
        ("tornado.access", "%d %s", (400, f"POST /api/runs/{TOKEN} (127.0.0.1)")),
        (
            "tornado.application",
            "Uncaught exception %s\n%r",
            (f"POST /api/runs/{TOKEN}", f"Request(uri='/api/runs/{TOKEN}')"),
        ),
    ],
)
def test_tokens_in_request_lines_are_replaced(redact: logging.Filter, logger: str, message: str, args: tuple) -> None:
    record = logging.LogRecord(logger, logging.INFO, __file__, 1, message, args, None)
    assert redact.filter(record)
    assert TOKEN not in record.getMessage() and "***" in record.getMessage()


def test_other_lines_are_kept_as_they_are(redact: logging.Filter) -> None:
    record = logging.LogRecord("tornado.access", logging.INFO, __file__, 1, "200 GET /api/status %s", ("(1ms)",), None)
    assert redact.filter(record) and record.getMessage() == "200 GET /api/status (1ms)"
