"""Data commands: upload, prepare, show predictions, simulate a day."""

from __future__ import annotations

import argparse
from typing import Any

from machine_learning.cli.common import _is_local, _step, bounded_int
from machine_learning.settings import Settings


def _prepare(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.data.prepare import check_quarantine_share, load_raw_players, publish_prepared
    from machine_learning.data.validate import validate_players
    from machine_learning.services import connect, upload_raw

    given = args.input or settings.raw_uri
    # Parse a local file before creating any client: a file that is not player data fails fast, offline,
    # and leaves nothing behind in S3.
    raw = _step(f"read {given}", lambda: load_raw_players(given, None if _is_local(given) else connect(settings).store))
    result = _step("validate", lambda: validate_players(raw))
    check_quarantine_share(result, settings.max_quarantine_share, given)
    services = connect(settings)
    source = _step("upload raw data", lambda: upload_raw(given, services.store, settings))
    prepared = _step("publish", lambda: publish_prepared(result, services.store, settings, source))
    print(
        f"prepared {prepared.processed_rows} of {prepared.input_rows} rows "
        f"({prepared.quarantined_rows} quarantined) -> {prepared.players_uri}"
    )
    for reason, count in prepared.quarantine_reasons.items():
        print(f"  quarantined: {reason}: {count} rows (see {prepared.quarantine_uri})")


def _upload(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.data.ingest import parse_raw_players
    from machine_learning.data.prepare import load_raw_players
    from machine_learning.inference.batch import as_day
    from machine_learning.services import connect, upload_batch, upload_raw
    from machine_learning.storage import read_source_bytes

    if args.date:  # a scoring batch: the label is optional
        parse_raw_players(read_source_bytes(args.input, None), args.input, require_label=False)
        print(upload_batch(args.input, connect(settings).store, settings, as_day(args.date)))
        return
    load_raw_players(args.input, None)  # refuse to upload a file that is not player data
    print(upload_raw(args.input, connect(settings).store, settings))


def _show_predictions(args: argparse.Namespace, settings: Settings) -> None:
    import pandas as pd

    from machine_learning.errors import NotFoundError
    from machine_learning.inference.batch import as_day
    from machine_learning.monitoring.quality import predictions_key
    from machine_learning.services import connect

    store, day = connect(settings).store, as_day(args.date)
    key = predictions_key(store, settings, day)
    if key is None:
        raise NotFoundError(f"no predictions published for {day}: run batch_inference for that day")
    frame = store.read_parquet(key)
    print(f"{len(frame)} predictions in {store.uri(key)}; first {args.limit}:")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(frame.head(args.limit).to_string(index=False))


def _simulate(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.simulation import run_simulation

    print(run_simulation(settings, args.day, args.players, args.drift, args.seed, args.source)["summary"])


def add_commands(commands: Any) -> None:
    """Register the data commands on the ``mlops`` sub-command parser."""
    prepare = commands.add_parser("prepare", help="validate raw data and publish the processed datasets")
    prepare.add_argument("--input", help="local CSV (uploaded to S3 first) or s3:// URI; default: the title's raw CSV")
    prepare.set_defaults(command=_prepare)
    upload = commands.add_parser("upload", help="check a raw CSV and copy it to the title's raw/ folder in S3")
    upload.add_argument("--input", required=True, help="local CSV (optionally .gz)")
    upload.add_argument("--date", help="upload as the scoring batch of this day (YYYY-MM-DD) instead of raw data")
    upload.set_defaults(command=_upload)
    show = commands.add_parser("predictions", help="show the batch predictions of a day")
    show.add_argument("--date", required=True, help="YYYY-MM-DD")
    show.add_argument("--limit", type=bounded_int(0, 10_000), default=5, help="rows to show (default 5)")
    show.set_defaults(command=_show_predictions)
    simulate = commands.add_parser("simulate", help="write one simulated day of players (Sundays: the week's labels)")
    simulate.add_argument("--day", required=True, help="YYYY-MM-DD")
    simulate.add_argument("--players", type=int, default=2000, help="players in the day's batch (default 2000)")
    simulate.add_argument(
        "--drift",
        action="append",
        default=[],
        metavar="KIND=STRENGTH",
        help="session_length, sessions_per_week, genre_mix, playtime (concept changes), casual_players or "
        "genre_players (label-consistent shifts), strength in [0, 1]; repeatable",
    )
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    simulate.add_argument("--source", help="labelled player CSV to draw from (default: SIMULATOR_SOURCE or data/)")
    simulate.set_defaults(command=_simulate)
