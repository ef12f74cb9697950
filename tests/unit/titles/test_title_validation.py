"""Title names: safe as S3 prefixes, MLflow names and URL parts; everything else refused in one line."""

from __future__ import annotations

import pytest

from machine_learning.errors import InvalidInputError
from machine_learning.settings import Settings
from machine_learning.titles.registry import REGISTRY_KEY
from machine_learning.titles.validation import RESERVED_NAMES, check_title_name


@pytest.mark.parametrize("name", ["abc", "space-racer", "game2", "a1b", "x" * 42, "0-9"])
def test_safe_names_are_accepted_and_valid_as_game_title(name: str) -> None:
    assert check_title_name(name) == name
    assert Settings(game_title=name).model_name == f"{name}-engagement"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab", "must be 3-42 characters"),
        ("x" * 43, "must be 3-42 characters"),
        ("Space-Racer", "must be lowercase: try 'space-racer'"),
        ("space_racer", "not '_'"),
        ("space/racer", "not '/'"),
        ("../etc", "not './'"),
        ("space racer", "not ' '"),
        ("café", "not 'é'"),
        ("-space", "must start and end with a letter or a digit"),
        ("space-", "must start and end with a letter or a digit"),
        ("space--racer", "two dashes in a row"),
        ("mlflow", "is reserved"),
        (42, "must be text, got int"),
        (None, "must be text, got NoneType"),
    ],
)
def test_unsafe_names_are_refused_with_one_clear_line(name: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        check_title_name(name)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_reserved_name_is_refused() -> None:
    for name in RESERVED_NAMES:
        with pytest.raises(InvalidInputError, match="reserved"):
            check_title_name(name)


def test_the_registry_key_can_never_be_inside_a_title_prefix() -> None:
    first_segment = REGISTRY_KEY.split("/", 1)[0]
    with pytest.raises(InvalidInputError):
        check_title_name(first_segment)
