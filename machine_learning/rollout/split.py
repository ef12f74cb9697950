"""The sticky traffic split: which players the challenger gets, by a stable hash of their PlayerID.

A player's place in ``[0, 1)`` is SplitMix64 (Steele, Lea and Flood, 2014; the finaliser of Java's
``SplittableRandom``) of the PlayerID mixed with a salt, divided by 2**64. It is a fixed arithmetic function, so
the same player gets the same variant on every call, in every process and on every machine (Python's ``hash()``
is salted per process and would not). The salt is derived from the model name and the challenger's version
(blake2b), so each new challenger meets a fresh sample of players, while one challenger always meets the same
ones. The challenger takes the players whose place is below its share.

One player costs about a microsecond in plain Python; a big request is hashed in one vectorised numpy step
(hashing 10,000 IDs with hashlib would cost milliseconds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_SCALE = float(1 << 64)


def split_salt(model_name: str, challenger_version: str) -> int:
    """Return the 64-bit salt of one challenger of one model (stable: blake2b of both names)."""
    digest = hashlib.blake2b(f"{model_name}:{challenger_version}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def player_position(player_id: int, salt: int) -> float:
    """Return a player's stable place in ``[0, 1)`` for this salt (SplitMix64 of the ID xor the salt)."""
    z = ((player_id ^ salt) + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK
    return (z ^ (z >> 31)) / _SCALE


def positions(player_ids: Sequence[int] | np.ndarray, salt: int) -> np.ndarray:
    """Compute :func:`player_position` for many players at once (numpy, wrapping uint64 arithmetic)."""
    z = np.asarray(player_ids, dtype=np.int64).astype(np.uint64) ^ np.uint64(salt)
    with np.errstate(over="ignore"):
        z = z + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    z = z ^ (z >> np.uint64(31))
    return z.astype(np.float64) / _SCALE


def challenger_rows(player_ids: Sequence[int] | np.ndarray, share: float, salt: int) -> list[int]:
    """Return the request rows (indices) whose players the challenger gets.

    Args:
        player_ids: The request's PlayerIDs, in order (non-negative, as the schema requires).
        share: The challenger's share of players, 0 to 1.
        salt: From :func:`split_salt`.

    Returns:
        Row indices in order; empty when the share is 0.

    """
    if share <= 0.0:
        return []
    if share >= 1.0:
        return list(range(len(player_ids)))
    if len(player_ids) <= 16:  # one player, a handful: plain Python beats numpy's per-call cost
        return [row for row, player in enumerate(player_ids) if player_position(int(player), salt) < share]
    return np.flatnonzero(positions(player_ids, salt) < share).tolist()
