"""Request and response bodies of the serving API; field rules mirror ``machine_learning.data.schema``.

Validation is strict: numbers must be JSON numbers (no ``"25"``), integer fields reject ``25.5`` and ``true``,
NaN and infinities are refused, categories are the schema's, and unknown fields are errors (they are usually
typos of a required one). The category literals are spelled out for type checkers and OpenAPI; a unit test
keeps them equal to the schema's allowed values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from machine_learning.data.schema import NUMERIC_COLUMNS
from machine_learning.export.schemas import OnnxExportInfo

MAX_PLAYERS = 10_000
MAX_PLAYER_ID = 2**62  # as in batch validation

Gender = Literal["Female", "Male"]
Location = Literal["Asia", "Europe", "Other", "USA"]
GameGenre = Literal["Action", "RPG", "Simulation", "Sports", "Strategy"]
GameDifficulty = Literal["Easy", "Hard", "Medium"]

_RANGES = {spec.name: spec for spec in NUMERIC_COLUMNS}


def _in_range(name: str) -> Any:
    """Return a Field limited to the schema's inclusive range of one numeric column."""
    spec = _RANGES[name]
    return Field(ge=spec.low, le=spec.high, description=f"{spec.low:g} to {spec.high:g}")


# A valid request: /docs shows it as the example body, and a unit test posts it.
EXAMPLE_PLAYER: dict[str, Any] = {
    "PlayerID": 9000,
    "Age": 43,
    "Gender": "Male",
    "Location": "Other",
    "GameGenre": "Strategy",
    "PlayTimeHours": 16.27,
    "InGamePurchases": 0,
    "GameDifficulty": "Medium",
    "SessionsPerWeek": 6,
    "AvgSessionDurationMinutes": 108.0,
    "PlayerLevel": 79,
    "AchievementsUnlocked": 25,
}
EXAMPLE_REQUEST: dict[str, Any] = {"players": [EXAMPLE_PLAYER]}


class Player(BaseModel):
    """One player's raw fields, as the game reports them."""

    model_config = ConfigDict(
        strict=True, extra="forbid", allow_inf_nan=False, frozen=True, json_schema_extra={"examples": [EXAMPLE_PLAYER]}
    )

    PlayerID: int = Field(ge=0, le=MAX_PLAYER_ID)
    Age: int = _in_range("Age")
    Gender: Gender
    Location: Location
    GameGenre: GameGenre
    PlayTimeHours: float = _in_range("PlayTimeHours")
    InGamePurchases: int = _in_range("InGamePurchases")
    GameDifficulty: GameDifficulty
    SessionsPerWeek: int = _in_range("SessionsPerWeek")
    AvgSessionDurationMinutes: float = _in_range("AvgSessionDurationMinutes")
    PlayerLevel: int = _in_range("PlayerLevel")
    AchievementsUnlocked: int = _in_range("AchievementsUnlocked")


class PredictRequest(BaseModel):
    """Players to score in one request."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]})

    players: list[Player] = Field(min_length=1, max_length=MAX_PLAYERS)


class PlayerPrediction(BaseModel):
    """One player's predicted engagement and the probability of each level."""

    model_config = ConfigDict(protected_namespaces=())

    PlayerID: int
    predicted_engagement: Literal["High", "Medium", "Low"]
    probability_High: float
    probability_Medium: float
    probability_Low: float
    model_version: str
    variant: Literal["production", "challenger"] = Field(
        "production", description="which model answered: production, or the challenger of a canary"
    )


class PredictResponse(BaseModel):
    """One prediction per input player, in input order."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    predictions: list[PlayerPrediction]


class ChallengerVersion(BaseModel):
    """The challenger serving beside production (a canary or a shadow)."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    mode: Literal["canary", "shadow"]
    share: float
    status: Literal["serving", "loading", "withdrawn"]
    withdrawn_reason: str | None = None
    loaded_at: str | None = None
    predictor: str | None = None
    last_reload_error: str | None = None


class ModelVersion(BaseModel):
    """The model currently serving, for clients that poll to notice a new one."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    loaded_at: str
    predictor: str = Field(
        description="'tl2cgen' (trees compiled to C), 'numpy' (no C compiler, or the compiled check failed) or "
        "'pipeline' (the plain scikit-learn pipeline)"
    )
    challenger: ChallengerVersion | None = Field(None, description="the challenger beside production, if any")
    onnx_export: OnnxExportInfo | None = Field(default=None, description="the ONNX model of GET /models/production")


class DependencyHealth(BaseModel):
    """Whether serving reaches one service it needs for new versions (the model in memory serves without)."""

    reachable: bool
    detail: str
    url: str


class Health(BaseModel):
    """Whether the API can score, what it serves and how the last reload went."""

    model_config = ConfigDict(protected_namespaces=())

    status: Literal["ok", "degraded", "no model"]
    model_name: str
    model_version: str | None = None
    loaded_at: str | None = None
    last_check_at: str | None = None
    last_reload_error: str | None = None
    reloading: str | None = None
    dependencies: dict[str, DependencyHealth] = {}


class Problem(BaseModel):
    """One reason a request was refused."""

    field: str
    reason: str
    type: str


class ErrorResponse(BaseModel):
    """A 4xx/5xx answer: a summary and, for invalid input, one entry per problem."""

    detail: str
    errors: list[Problem] = Field(default_factory=list)
    error_count: int = 0
