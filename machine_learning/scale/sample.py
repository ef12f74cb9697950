"""Sampling a large monitoring window before the nightly drift tests (pure: no I/O).

Evidently's tests on more than 1,000 rows compare distributions by distance, not by p-value: Wasserstein distance
(normed by the reference's standard deviation) for numeric columns and Jensen-Shannon distance for categorical ones
and the prediction, each failing above 0.1. A sample changes only how precisely those distances are estimated, so
the sample can be much smaller than the window without the tests becoming blind, while the tests' cost grows with
the rows.

Measured with ``bench/bench_drift_sample.py`` (40,034 reference rows from the shipped data; a window of 2,000,000
rows drawn from them with AvgSessionDurationMinutes scaled by the drift factor; 20 seeds per sample size; sd is
the standard deviation of the sampled score, max|d| its largest distance from the whole window's score):

=====  =========================  ======  ===========  ===========  ============
drift  column                     window  10,000 rows  50,000 rows  200,000 rows
                                          sd / max|d|  sd / max|d|  sd / max|d|
=====  =========================  ======  ===========  ===========  ============
1.00   AvgSessionDurationMinutes  0.0018  .0053/.0238  .0018/.0076  .0011/.0034
1.00   GameGenre                  0.0003  .0022/.0108  .0009/.0055  .0005/.0018
0.90   AvgSessionDurationMinutes  0.1935  .0122/.0293  .0040/.0069  .0020/.0038
0.90   GameGenre                  0.0008  .0023/.0098  .0013/.0048  .0007/.0019
0.85   AvgSessionDurationMinutes  0.2901  .0089/.0186  .0036/.0075  .0016/.0034
=====  =========================  ======  ===========  ===========  ============

So at the default ``DRIFT_SAMPLE_ROWS`` of 200,000 a sampled score stays within 0.004 of the whole window's: the
test decides differently from the whole window only for a column whose score is within 0.004 of the 0.1 threshold
(a 10 % shorter session scores 0.19, far above it; no drift scores 0.002, far below). At 10,000 rows that band
is about 0.03 wide, which would blur drift just under or over the threshold. The 0.1 threshold itself, and so the
smallest drift the tests call drift, does not change with the sample size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class SampledFrame:
    """The rows the nightly tests run on, and how they were chosen.

    Attributes:
        frame: The rows to test (in window order).
        window_rows: Rows in the whole window.
        size: Rows in ``frame``.
        seed: The sampling seed (None when the whole window is tested).
        reason: Why the window was or was not sampled.

    """

    frame: pd.DataFrame
    window_rows: int
    size: int
    seed: int | None
    reason: str

    @property
    def sampled(self) -> bool:
        """Whether the tests run on a sample."""
        return self.seed is not None

    def record(self) -> dict[str, Any]:
        """Return the facts to store with the night's decision."""
        return {
            "window_rows": self.window_rows,
            "sample_rows": self.size,
            "sample_seed": self.seed,
            "sampled": self.sampled,
            "reason": self.reason,
        }


def sample_current(frame: pd.DataFrame, limit: int, seed: int) -> SampledFrame:
    """Keep a window of at most ``limit`` rows whole, else draw a seeded uniform sample of ``limit`` rows.

    Uniform over rows, so each day of a multi-day window is represented in proportion to its rows. The sample is
    reproducible: the same window, limit and seed give the same rows, in window order.

    Args:
        frame: The scored rows of the window.
        limit: Largest window tested whole (``DRIFT_SAMPLE_ROWS``).
        seed: The sampling seed (``RANDOM_SEED``).

    Returns:
        The rows to test, with size, seed and reason.

    Raises:
        ValueError: ``limit`` is below 1.

    """
    if limit < 1:
        raise ValueError(f"the sample limit must be at least 1, got {limit}")
    rows = len(frame)
    if rows <= limit:
        return SampledFrame(frame, rows, rows, None, f"the window's {rows:,} rows are tested whole (limit {limit:,})")
    sample = frame.sample(n=limit, random_state=seed).sort_index()
    reason = f"the window's {rows:,} rows are more than {limit:,}: a uniform sample of {limit:,} (seed {seed})"
    return SampledFrame(sample, rows, limit, seed, reason)
