"""MCP server of the operator API: the same actions as tools, over stdio or streamable HTTP.

It runs in its own venv (``.local/venv-mcp``: the ``mcp`` SDK needs a newer pydantic than Mage allows) and is a
thin client of the operator API over HTTP; it imports nothing of ``machine_learning``.
"""
