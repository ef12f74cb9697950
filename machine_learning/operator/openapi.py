"""The operator API's OpenAPI 3.0 document: converting FastAPI's 3.1 output, writing and checking the file.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12: ``anyOf`` with ``{"type": "null"}``, ``examples`` lists,
``const``, numeric ``exclusiveMinimum``); agents' action groups (Bedrock) read 3.0. The conversion maps each to its
3.0 form: ``nullable``, ``example``, ``enum`` and boolean ``exclusiveMinimum``.

``python -m machine_learning.operator.openapi`` rewrites ``machine_learning/operator/openapi.json``;
``--check`` fails when the file differs from what the code produces.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Sequence
from typing import Any

OPENAPI_VERSION = "3.0.3"


def to_openapi_30(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of an OpenAPI 3.1 document in OpenAPI 3.0 form.

    Args:
        schema: FastAPI's document.

    Returns:
        The same API described in OpenAPI 3.0.3.

    """
    converted = _convert(schema)
    converted["openapi"] = OPENAPI_VERSION
    return dict(converted)


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _convert(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del node[key]
            node["nullable"] = True
            if len(rest) == 1 and "$ref" not in rest[0]:
                node = {**rest[0], **node}
            elif len(rest) == 1:
                node["allOf"] = rest  # 3.0 ignores siblings of $ref: wrap it so nullable applies
            else:
                node[key] = rest
    if isinstance(node.get("examples"), list) and "type" in node:  # a schema's examples (3.1) -> example (3.0)
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node[bound]
            node[bound] = True
    return node


def render_openapi() -> str:
    """Return the document the code produces, as the committed file holds it."""
    from machine_learning.operator.app import OPENAPI_PATH, create_app  # noqa: F401 - path used by main
    from machine_learning.settings import Settings

    # Only to build the document: tokens that exist for no longer than this call, never served.
    throwaway = {f"operator_{role}_token": secrets.token_urlsafe(24) for role in ("viewer", "operator", "approver")}
    app = create_app(Settings().with_overrides(throwaway))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the document, or with ``--check`` compare it with the committed file.

    Returns:
        0 when written or in sync, 1 when ``--check`` finds a difference.

    """
    from machine_learning.operator.app import OPENAPI_PATH

    arguments = list(sys.argv[1:] if argv is None else argv)
    text = render_openapi()
    if "--check" in arguments:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != text:
            print(
                f"error: {OPENAPI_PATH} is out of date; run: python -m machine_learning.operator.openapi",
                file=sys.stderr,
            )
            return 1
        return 0
    OPENAPI_PATH.write_text(text)
    print(f"wrote {OPENAPI_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
