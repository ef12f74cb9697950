"""Who may do what in the operator API: three roles, one bearer token each, and a pure access check.

``viewer`` reads (status, runs, decisions, live quality); ``operator`` also acts (runs pipelines, promotes,
rolls back, cleans up); ``approver`` reads and approves or rejects versions under the promotion policy (kept
apart from ``operator``, so the person who starts a change is not the one who approves it).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from machine_learning.errors import ConfigurationError
from machine_learning.settings import Settings

MIN_TOKEN_LENGTH = 24


class Role(StrEnum):
    """A role of the operator API."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"


class Permission(StrEnum):
    """What an operation needs."""

    READ = "read"
    OPERATE = "operate"
    APPROVE = "approve"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.OPERATE}),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
}


@dataclass(frozen=True)
class Access:
    """The outcome of an access check: the HTTP status to answer when refused, and why."""

    allowed: bool
    status: int
    reason: str
    role: Role | None = None


def check_access(token: str | None, tokens: Mapping[Role, str], needed: Permission) -> Access:
    """Decide whether a bearer token may perform an operation (pure; constant-time comparisons).

    Args:
        token: The bearer token sent, or ``None`` when there was none.
        tokens: Each role's token.
        needed: The permission of the operation.

    Returns:
        Allowed with the caller's role; else refused with 401 (no or unknown token) or 403 (a role without the
        permission), and a reason that never repeats the token.

    """
    if not token:
        return Access(False, 401, "missing bearer token (Authorization: Bearer <token>)")
    role = next((r for r, known in tokens.items() if known and hmac.compare_digest(token, known)), None)
    if role is None:
        return Access(False, 401, "unknown bearer token")
    if needed not in PERMISSIONS[role]:
        allowed = [r.value for r, rights in PERMISSIONS.items() if needed in rights]
        return Access(False, 403, f"role {role.value} may not {needed.value}; needs one of {allowed}", role)
    return Access(True, 200, "", role)


def role_tokens(settings: Settings) -> dict[Role, str]:
    """Return each role's token from the settings, refusing missing, short or shared ones.

    Raises:
        ConfigurationError: A token is empty, shorter than 24 characters, or the same as another role's.

    """
    tokens = {
        Role.VIEWER: settings.operator_viewer_token,
        Role.OPERATOR: settings.operator_operator_token,
        Role.APPROVER: settings.operator_approver_token,
    }
    for role, token in tokens.items():
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"OPERATOR_{role.value.upper()}_TOKEN is {'empty' if not token else 'too short'}: the operator API "
                f"needs a token of at least {MIN_TOKEN_LENGTH} characters per role (make up generates them in "
                ".local/stack/stack.env)"
            )
    if len(set(tokens.values())) != len(tokens):
        raise ConfigurationError("the OPERATOR_*_TOKEN values must differ: one token per role")
    return tokens
