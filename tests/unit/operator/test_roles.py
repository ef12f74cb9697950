"""Roles of the operator API: who may read, act and approve; which tokens the API refuses to start with."""

from __future__ import annotations

import pytest

from machine_learning.errors import ConfigurationError
from machine_learning.operator.roles import Permission, Role, check_access, role_tokens
from machine_learning.settings import Settings

TOKENS = {Role.VIEWER: "v" * 24, Role.OPERATOR: "o" * 24, Role.APPROVER: "a" * 24}


@pytest.mark.parametrize(
    ("token", "needed", "status"),
    [
        (None, Permission.READ, 401),
        ("", Permission.READ, 401),
        ("x" * 24, Permission.READ, 401),
        ("v" * 23, Permission.READ, 401),
        ("v" * 24, Permission.READ, 200),
        ("v" * 24, Permission.OPERATE, 403),
        ("v" * 24, Permission.APPROVE, 403),
        ("o" * 24, Permission.READ, 200),
        ("o" * 24, Permission.OPERATE, 200),
        ("o" * 24, Permission.APPROVE, 403),
        ("a" * 24, Permission.READ, 200),
        ("a" * 24, Permission.OPERATE, 403),
        ("a" * 24, Permission.APPROVE, 200),
    ],
)
def test_each_role_gets_exactly_its_permissions(token: str | None, needed: Permission, status: int) -> None:
    access = check_access(token, TOKENS, needed)
    assert access.status == status
    assert access.allowed is (status == 200)


def test_a_refusal_names_the_role_and_never_the_token() -> None:
    access = check_access("v" * 24, TOKENS, Permission.OPERATE)
    assert "viewer" in access.reason and "operator" in access.reason
    assert "v" * 24 not in access.reason
    assert "x" * 24 not in check_access("x" * 24, TOKENS, Permission.READ).reason


def test_an_empty_role_token_matches_nothing() -> None:
    assert check_access("", {Role.VIEWER: ""}, Permission.READ).status == 401


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "OPERATOR_VIEWER_TOKEN is empty"),
        (
            {"operator_viewer_token": "v" * 24, "operator_operator_token": "short"},
            "OPERATOR_OPERATOR_TOKEN is too short",
        ),
        (
            {
                "operator_viewer_token": "s" * 24,
                "operator_operator_token": "s" * 24,
                "operator_approver_token": "a" * 24,
            },
            "must differ",
        ),
    ],
)
def test_the_api_refuses_missing_short_or_shared_tokens(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        role_tokens(Settings().with_overrides(overrides))


def test_distinct_long_tokens_are_accepted() -> None:
    settings = Settings().with_overrides({f"operator_{r.value}_token": t for r, t in TOKENS.items()})
    assert role_tokens(settings) == TOKENS
