"""The committed OpenAPI document is the code's, valid OpenAPI 3.0, and readable as an agent's action group."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from machine_learning.operator.app import OPENAPI_PATH
from machine_learning.operator.openapi import render_openapi, to_openapi_30

ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = ROOT / ".local" / "venv-services" / "bin" / "python"  # openapi-spec-validator comes with moto there


def test_the_committed_document_is_in_sync_with_the_code() -> None:
    assert OPENAPI_PATH.read_text() == render_openapi(), (
        "machine_learning/operator/openapi.json is out of date: run "
        "'.local/venv-app/bin/python -m machine_learning.operator.openapi' and commit it"
    )


@pytest.mark.skipif(not VALIDATOR.exists(), reason="the services venv (make setup) holds openapi-spec-validator")
def test_the_document_is_valid_openapi_30() -> None:
    code = (
        "import json, sys\n"
        "from openapi_spec_validator import validate\n"
        "from openapi_spec_validator.validation import OpenAPIV30SpecValidator\n"
        "validate(json.load(open(sys.argv[1])), cls=OpenAPIV30SpecValidator)\n"
    )
    done = subprocess.run([str(VALIDATOR), "-c", code, str(OPENAPI_PATH)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_operation_is_ready_for_an_agent() -> None:
    document = json.loads(OPENAPI_PATH.read_text())
    assert document["openapi"].startswith("3.0")
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) >= 8
    for operation in operations:
        assert len(operation.get("description", "")) > 60, operation["operationId"]
        assert operation["security"] == [{"HTTPBearer": []}]
        for parameter in operation.get("parameters", []):
            assert parameter["schema"].get("type") and parameter.get("description"), parameter
    assert "anyOf" not in json.dumps(document) or '"type": "null"' not in json.dumps(document)


def test_openapi_31_forms_are_converted() -> None:
    converted = to_openapi_30(
        {
            "openapi": "3.1.0",
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "d"},
            "b": {"anyOf": [{"$ref": "#/x"}, {"type": "null"}]},
            "c": {"type": "integer", "exclusiveMinimum": 0, "examples": [3]},
            "d": {"const": "x"},
        }
    )
    assert converted["openapi"] == "3.0.3"
    assert converted["a"] == {"type": "string", "description": "d", "nullable": True}
    assert converted["b"] == {"allOf": [{"$ref": "#/x"}], "nullable": True}
    assert converted["c"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "example": 3}
    assert converted["d"] == {"enum": ["x"]}
