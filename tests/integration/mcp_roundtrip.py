"""An MCP client run from the mcp venv (the SDK's own ``Client``): list tools, call status, start a pipeline.

Usage: python mcp_roundtrip.py stdio|http URL_OR_- ; prints one JSON object. For stdio the server is started as
``python -m mcp_server`` with this environment (OPERATOR_URL, OPERATOR_TOKEN); for http it connects to URL with
``Authorization: Bearer $OPERATOR_TOKEN``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def roundtrip(server: Any) -> dict[str, Any]:
    async with Client(server) as client:
        tools = await client.list_tools()
        status = await client.call_tool("get_status", {})
        run = await client.call_tool("start_pipeline_run", {"pipeline": "training", "variables": {}})
        followed = await client.call_tool(
            "get_pipeline_run", {"pipeline": "training", "run_id": (run.structured_content or {}).get("run_id", 1)}
        )
        refused = await client.call_tool("start_pipeline_run", {"pipeline": "nope"})
        return {
            "tools": {tool.name: sorted(tool.input_schema.get("properties", {})) for tool in tools.tools},
            "status": status.structured_content,
            "status_error": status.is_error,
            "run": run.structured_content,
            "run_error": run.content[0].text if run.is_error else None,
            "followed": followed.structured_content,
            "refused": refused.content[0].text if refused.is_error else None,
        }


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "stdio":
        server: Any = StdioServerParameters(
            command=sys.executable, args=["-m", "mcp_server"], env=dict(os.environ), cwd=os.getcwd()
        )
    else:
        headers = {"Authorization": f"Bearer {os.environ['OPERATOR_TOKEN']}"}
        server = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    print(json.dumps(asyncio.run(roundtrip(server))))


if __name__ == "__main__":
    main()
