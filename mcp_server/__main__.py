"""``python -m mcp_server [--transport stdio|streamable-http] [--host H] [--port P]`` from the mcp venv.

Reads ``OPERATOR_URL`` (the operator API) and, for stdio, ``OPERATOR_TOKEN`` (a role's bearer token).
"""

from __future__ import annotations

import argparse
import os
import sys

from mcp_server.operator_client import OperatorClient
from mcp_server.server import build_server


def main() -> int:
    """Run the MCP server on the chosen transport."""
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description="MCP server of the operator API")
    parser.add_argument("--transport", choices=("stdio", "streamable-http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="streamable HTTP: the address to listen on")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("MCP_PORT", "8091")), help="streamable HTTP port"
    )
    args = parser.parse_args()
    url = os.environ.get("OPERATOR_URL", "http://127.0.0.1:8090")
    if args.transport == "stdio":
        token = os.environ.get("OPERATOR_TOKEN")
        if not token:
            print("error: set OPERATOR_TOKEN to a role's token of the operator API", file=sys.stderr)
            return 2
        build_server(OperatorClient(url), token).run("stdio")
    else:  # each HTTP request brings its own Authorization header
        build_server(OperatorClient(url), None).run("streamable-http", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
