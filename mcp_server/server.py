"""The MCP tools: one per operator API operation, named after its operationId, with the same parameters.

Over stdio the bearer token comes from ``OPERATOR_TOKEN`` (the process belongs to one person or agent). Over
streamable HTTP each request's own ``Authorization`` header is passed on, so the caller's role applies and this
server holds no token.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from mcp_server.operator_client import OperatorClient, OperatorError

INSTRUCTIONS = (
    "Drive the ML lifecycle of one game title through its operator API. Start with get_status. Long actions "
    "(start_pipeline_run) return a run id at once: follow it with get_pipeline_run until finished is true. "
    "promote_candidate only promotes a candidate that beats production; rollback_production puts the previous "
    "version back. Under PROMOTION_POLICY=manual a winner waits: approve_version or reject_version it (approver "
    "role). cleanup_resources is a dry run unless dry_run is false and confirm_environment repeats the "
    "environment."
)


def build_server(api: OperatorClient, token: str | None) -> MCPServer:
    """Build the MCP server.

    Args:
        api: The operator API client.
        token: The bearer token for calls without an ``Authorization`` header of their own (stdio).

    Returns:
        The server with one tool per operation.

    """
    server = MCPServer(name="engagement-mlops-operator", instructions=INSTRUCTIONS)

    def call(ctx: Context, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        headers = ctx.headers if ctx is not None else None
        forwarded = (headers or {}).get("authorization")
        try:
            return api.call(method, path, forwarded or token, query, body)
        except OperatorError as error:
            raise ToolError(str(error)) from None

    @server.tool()
    def get_status(ctx: Context) -> dict[str, Any]:
        """Show which model versions are in production, waiting as candidate, and kept as previous.

        Each comes with its test scores and the last selection decision. Call this first.
        """
        return dict(call(ctx, "GET", "/status"))

    @server.tool()
    def start_pipeline_run(ctx: Context, pipeline: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a Mage pipeline run and return its run id at once.

        Pipelines: data_preparation, training, model_selection, batch_inference, performance_monitoring,
        performance_reports, retraining, online_inference. variables are data only, e.g.
        {"batch_date": "2026-11-23"}. Follow the run with get_pipeline_run.
        """
        return dict(call(ctx, "POST", f"/pipelines/{_segment(pipeline)}/runs", body={"variables": variables or {}}))

    @server.tool()
    def get_pipeline_run(ctx: Context, pipeline: str, run_id: int) -> dict[str, Any]:
        """Show the status of a pipeline run: initial, running, completed, failed or cancelled.

        A failed run also names its failed blocks and first error. Poll every few seconds until finished is true.
        """
        return dict(call(ctx, "GET", f"/pipelines/{_segment(pipeline)}/runs/{int(run_id)}"))

    @server.tool()
    def promote_candidate(ctx: Context) -> dict[str, Any]:
        """Compare the candidate with production on the same recent players; promote it only if it wins.

        Returns the decision and its reason; promoted false changes nothing.
        """
        return dict(call(ctx, "POST", "/promotions"))

    @server.tool()
    def rollback_production(ctx: Context, reason: str = "rolled back through the MCP server") -> dict[str, Any]:
        """Put the previous model version back into production at once; reason goes into the audit log."""
        return dict(call(ctx, "POST", "/rollbacks", body={"reason": reason}))

    @server.tool()
    def approve_version(ctx: Context, version: str, reason: str) -> dict[str, Any]:
        """Approve a model version waiting for approval (or running as the canary), and promote it.

        Needs the approver role; reason goes into the audit log.
        """
        return dict(call(ctx, "POST", f"/versions/{_segment(version)}/approval", body={"reason": reason}))

    @server.tool()
    def reject_version(ctx: Context, version: str, reason: str) -> dict[str, Any]:
        """Reject a model version: it is never promoted. Needs the approver role; reason goes into the audit log."""
        return dict(call(ctx, "POST", f"/versions/{_segment(version)}/rejection", body={"reason": reason}))

    @server.tool()
    def get_latest_decision(ctx: Context, day: str | None = None) -> dict[str, Any]:
        """Show the latest nightly monitoring decision, or that of day (YYYY-MM-DD).

        It says whether live quality dropped and retraining started, and whether the drift tests warned.
        """
        return dict(call(ctx, "GET", "/decisions/latest", {"day": day}))

    @server.tool()
    def get_live_quality(ctx: Context, day: str | None = None, days: int = 7) -> dict[str, Any]:
        """Show the accuracy of what production served (and of a shadow candidate) per labelled day.

        The window is days long and ends on day (default: the latest night).
        """
        return dict(call(ctx, "GET", "/live-quality", {"day": day, "days": days}))

    @server.tool()
    def get_online_quality(ctx: Context, day: str | None = None, days: int = 7) -> dict[str, Any]:
        """Show the accuracy of what serving answered players online, per day, variant and version.

        From the prediction log joined with labels: production, a canary challenger and a shadow, with the
        decision the rules would take on the challenger (not applied). The window is days long, ending on day.
        """
        return dict(call(ctx, "GET", "/prediction-log/quality", {"day": day, "days": days}))

    @server.tool()
    def cleanup_resources(
        ctx: Context, environment: str, dry_run: bool = True, confirm_environment: str | None = None
    ) -> dict[str, Any]:
        """List the AWS resources tagged with this title and environment, and delete them if confirmed.

        Deletes only when dry_run is false and confirm_environment repeats the environment.
        """
        body = {"environment": environment, "dry_run": dry_run, "confirm_environment": confirm_environment}
        return dict(call(ctx, "POST", "/cleanup", body=body))

    @server.tool()
    def list_titles(ctx: Context) -> dict[str, Any]:
        """List every game title of this install: state, production version, last runs and last decision.

        A create under way shows state creating and its run ids; a stopped one shows failed and why.
        """
        return dict(call(ctx, "GET", "/titles"))

    @server.tool()
    def create_title(ctx: Context, name: str, source_uri: str | None = None) -> dict[str, Any]:
        """Create a game title from a seed player CSV and return at once (needs the operator role).

        name: 3-42 lowercase letters, digits and dashes. source_uri: s3:// URI of the CSV inside the new title's
        prefix, e.g. s3://mlops/<name>/raw/players.csv. The create sets up data, MLflow model, Evidently dashboard
        and Mage schedules, then trains to a production model: follow it with list_titles until state is ready.
        """
        return dict(call(ctx, "POST", "/titles", body={"name": name, "source_uri": source_uri}))

    return server


def _segment(value: str) -> str:
    """Quote a value so it stays one path segment of the URL."""
    import urllib.parse

    return urllib.parse.quote(str(value), safe="")
