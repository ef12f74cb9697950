"""The raw player schema: columns, types, allowed categories and ranges."""

from __future__ import annotations

from dataclasses import dataclass

ID_COLUMN = "PlayerID"
LABEL_COLUMN = "EngagementLevel"
LABELS: tuple[str, ...] = ("High", "Medium", "Low")


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column with an inclusive range; ``integer`` columns reject fractions."""

    name: str
    low: float
    high: float
    integer: bool = True


@dataclass(frozen=True)
class CategoryColumn:
    """A text column restricted to a set of categories."""

    name: str
    allowed: tuple[str, ...]


# Ranges are what a game can plausibly report, wider than today's data, so they catch errors, not drift.
NUMERIC_COLUMNS: tuple[NumericColumn, ...] = (
    NumericColumn("Age", 5, 120),
    NumericColumn("PlayTimeHours", 0, 168, integer=False),
    NumericColumn("InGamePurchases", 0, 1),
    NumericColumn("SessionsPerWeek", 0, 200),
    NumericColumn("AvgSessionDurationMinutes", 0, 1440, integer=False),
    NumericColumn("PlayerLevel", 0, 100_000),
    NumericColumn("AchievementsUnlocked", 0, 100_000),
)
CATEGORY_COLUMNS: tuple[CategoryColumn, ...] = (
    CategoryColumn("Gender", ("Female", "Male")),
    CategoryColumn("Location", ("Asia", "Europe", "Other", "USA")),
    CategoryColumn("GameGenre", ("Action", "RPG", "Simulation", "Sports", "Strategy")),
    CategoryColumn("GameDifficulty", ("Easy", "Hard", "Medium")),
)
LABEL_SPEC = CategoryColumn(LABEL_COLUMN, LABELS)

FEATURE_COLUMNS: tuple[str, ...] = (
    "Age",
    "Gender",
    "Location",
    "GameGenre",
    "PlayTimeHours",
    "InGamePurchases",
    "GameDifficulty",
    "SessionsPerWeek",
    "AvgSessionDurationMinutes",
    "PlayerLevel",
    "AchievementsUnlocked",
)
NUMERIC_FEATURES: tuple[str, ...] = tuple(c.name for c in NUMERIC_COLUMNS)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(c.name for c in CATEGORY_COLUMNS)
DEMOGRAPHIC_COLUMNS: tuple[str, ...] = ("Age", "Gender", "Location")


def required_columns(require_label: bool) -> tuple[str, ...]:
    """Columns a raw file must have.

    Args:
        require_label: Whether the label column is required (training data) or optional (scoring batches).

    Returns:
        The required column names, in the canonical order.

    """
    return (ID_COLUMN, *FEATURE_COLUMNS, *((LABEL_COLUMN,) if require_label else ()))
