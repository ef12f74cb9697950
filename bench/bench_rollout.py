"""Print the canary split's share of 10,000 distinct players and the rollout's cost on the request path.

A benchmark prints figures; it asserts nothing. Run with `make bench-rollout`. Two models are fitted on the
shipped data (the default pipeline and a weaker one), as serving prepares them; no server is needed. The cost is
measured on the scoring step of one-player requests (decoded body in, response bytes out, no HTTP), alternating
between today's production-only path and the same request through a 10 % canary and a 10 % shadow.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from machine_learning.settings import Settings

DATASET = Path(__file__).resolve().parent.parent / "data" / "online_gaming_behavior_dataset.csv.gz"
CALLS = 5_000


def main() -> None:
    from machine_learning.data.ingest import parse_raw_players
    from machine_learning.data.schema import FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN
    from machine_learning.data.validate import validate_players
    from machine_learning.inference.model import LoadedModel
    from machine_learning.registry import VersionInfo
    from machine_learning.rollout.router import build_rollout
    from machine_learning.rollout.split import challenger_rows, split_salt
    from machine_learning.serving.bulk import decode_request, encode_predictions
    from machine_learning.serving.provider import prepare_model
    from machine_learning.training.model import build_pipeline

    players = validate_players(parse_raw_players(DATASET.read_bytes(), DATASET.name)).clean
    ids = np.arange(5_000_000, 5_010_000)
    print("split: share of 10,000 distinct players at --share 0.1, per challenger version")
    for version in ("2", "3", "4"):
        chosen = challenger_rows(ids, 0.1, split_salt("demo-game-engagement", version))
        again = challenger_rows(ids[::-1].copy(), 0.1, split_salt("demo-game-engagement", version))
        sticky = {int(ids[r]) for r in chosen} == {int(ids[::-1][r]) for r in again}
        print(f"  v{version}: {len(chosen) / len(ids):.2%} (same players in another order: {sticky})")

    cache = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    models = {}
    for version, params in (("1", {"classifier__max_bins": 5}), ("2", None)):
        fitted = build_pipeline(random_state=42, params=params).fit(
            players[list(FEATURE_COLUMNS)], players[LABEL_COLUMN]
        )
        models[version] = LoadedModel("demo-game-engagement", version, fitted, cache / version)
    production = prepare_model(models["1"])
    settings = Settings(serving_token="bench", serving_reload_seconds=3600)  # noqa: S106 - no server is started
    rollouts = {}
    for mode in ("canary", "shadow"):
        info = VersionInfo("demo-game-engagement", "2", "bench", {"rollout_share": "0.1", "rollout_mode": mode})
        rollout = build_rollout(settings, lookup=lambda info=info: info, load=lambda version: models[version])
        rollout.refresh()  # load the challenger now instead of in the background thread
        rollouts[mode] = rollout
    print(f"predictor: {production.predictor.kind}")
    rows = players[[ID_COLUMN, *FEATURE_COLUMNS]].head(CALLS).to_dict(orient="records")
    bodies = [json.dumps({"players": [row]}).encode() for row in rows]
    times: dict[str, list[float]] = {"production only": [], "canary 10%": [], "shadow 10% (answer)": []}
    for body in bodies:
        request = decode_request(body)
        started = time.perf_counter()
        encode_predictions(production.name, production.version, production.predictor.classes, request.player_ids,
                           production.predictor.predict_proba(request.columns))  # fmt: skip
        times["production only"].append(time.perf_counter() - started)
        for mode, label in (("canary", "canary 10%"), ("shadow", "shadow 10% (answer)")):
            rollout = rollouts[mode]
            started = time.perf_counter()
            plan = rollout.plan()
            if plan is None:
                raise RuntimeError("the challenger did not load")
            _, shadow = rollout.answer(plan, production, request)
            times[label].append(time.perf_counter() - started)
            if shadow is not None:
                shadow.func(*shadow.args)  # in the server this runs after the response went out
    base = float(np.median(times["production only"]))
    print(f"one-player scoring step, {CALLS:,} calls each, alternating:")
    for label, values in times.items():
        median, p99 = float(np.median(values)), float(np.percentile(values, 99))
        extra = (median - base) * 1e6
        print(f"  {label:<20} median {median * 1e6:7.1f} us  p99 {p99 * 1e6:8.1f} us  (+{extra:.1f} us)")
    figures = rollouts["shadow"].challenger_stats.to_dict()
    print(f"shadow: {figures['shadow_compared']} players scored, agreement with production "
          f"{figures['shadow_agreement']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
