"""Bad input to every CLI surface: one line naming the problem, the right exit code, nothing written, no call.

Each case is one row of the surfaces x bad-input table (README, "Bad input"). The refusals need no server, so
the cases run offline: every connection is refused and recorded, and must not be attempted.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from machine_learning.cli import main
from tests.badinput.conftest import tree
from tests.conftest import DATASET

pytestmark = pytest.mark.badinput

PLAYERS = b"\n".join(gzip.decompress(DATASET.read_bytes()).splitlines()[:21]) + b"\n"
HEADER, FIRST_ROW = PLAYERS.splitlines()[:2]
FILES: dict[str, bytes] = {
    "players.csv": PLAYERS,
    "scores.quarantine.csv": PLAYERS,
    "empty.csv": b"",
    "empty.csv.gz": gzip.compress(b""),
    "bom-only.csv": b"\xef\xbb\xbf\r\n",
    "binary.csv": bytes(range(256)) * 8,
    "latin1.csv": HEADER + b"\n" + FIRST_ROW.replace(b"Male", b"M\xe4le") + b"\n",
    "twice.csv": HEADER + b",Age\n" + FIRST_ROW + b",99\n",
    "header-only.csv": HEADER + b"\n",
    "damaged.csv.gz": gzip.compress(PLAYERS)[:40],
    "taken.csv": b"an earlier result",
}
# (case id, argv with {w} for the workspace, exit code, a fragment of the message)
CASES = [
    # every file-reading command: empty, binary, not UTF-8, duplicated columns, folders, missing files
    *[
        (f"{command}-{name}", [command, "--input", "{w}/" + name], 1, message)
        for command in ("prepare", "upload", "train")
        for name, message in [
            ("empty.csv", "is empty"),
            ("empty.csv.gz", "is empty"),
            ("bom-only.csv", "is empty"),
            ("binary.csv", "binary data"),
            ("latin1.csv", "not UTF-8"),
            ("twice.csv", "names column(s) Age more than once"),
            ("header-only.csv", "has a header but no rows"),
            ("damaged.csv.gz", "damaged gzip"),
            ("nosuch.csv", "does not exist"),
            ("folder", "is a folder, not a file"),
            ("folder-link", "is a folder, not a file"),
        ]
    ],
    ("predict-empty-gzip", ["predict", "--input", "{w}/empty.csv.gz", "--output", "{w}/p.csv"], 1, "is empty"),
    ("predict-missing", ["predict", "--input", "{w}/nosuch.csv", "--output", "{w}/p.csv"], 1, "does not exist"),
    # train --params: refused before the data is published or an MLflow run is opened
    (
        "params-not-json",
        ["train", "--input", "{w}/players.csv", "--params", "{max_iter: 5"],
        1,
        "params is not valid JSON",
    ),
    ("params-array", ["train", "--params", "[5]"], 1, "params must be a JSON object"),
    ("params-wrong-type", ["train", "--params", '{"classifier__max_iter": "5"}'], 1, "must be an integer"),
    ("params-unknown", ["train", "--params", '{"classifier__random_state": 1}'], 1, "cannot be set by a run"),
    ("params-nan", ["train", "--params", '{"classifier__learning_rate": NaN}'], 1, "finite number"),
    ("params-huge", ["train", "--params", '{"classifier__max_iter": 1e400}'], 1, "classifier__max_iter"),
    ("params-negative", ["train", "--params", '{"classifier__max_leaf_nodes": -1}'], 1, "classifier__max_leaf_nodes"),
    # predict outputs: never the input, never silently over an existing file, no folders made, known formats
    ("output-is-input", ["predict", "--input", "{w}/players.csv", "--output", "{w}/players.csv"], 1, "is the input"),
    ("output-link-to-input", ["predict", "--input", "{w}/players.csv", "--output", "{w}/link.csv"], 1, "is the input"),
    (
        "quarantine-is-input",
        ["predict", "--input", "{w}/scores.quarantine.csv", "--output", "{w}/scores.csv"],
        1,
        "is the input",
    ),
    ("output-exists", ["predict", "--input", "{w}/players.csv", "--output", "{w}/taken.csv"], 1, "pass --overwrite"),
    (
        "output-folder-missing",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/new/p.csv"],
        1,
        "create it first",
    ),
    (
        "output-suffix",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.xlsx"],
        1,
        "must end in .csv or .parquet",
    ),
    ("output-is-folder", ["predict", "--input", "{w}/players.csv", "--output", "{w}/folder"], 1, "must end in .csv"),
    ("output-folder-named-csv", ["predict", "--input", "{w}/players.csv", "--output", "{w}/dir.csv"], 1, "is a folder"),
    ("input-is-folder", ["predict", "--input", "{w}/folder", "--output", "{w}/p.csv"], 1, "is a folder, not a file"),
    (
        "model-version-traversal",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.csv", "--model-version", "../../x"],
        1,
        "model version must be",
    ),
    (
        "model-version-text",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.csv", "--model-version", "latest"],
        1,
        "model version must be",
    ),
    (
        "chunk-rows-zero",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.csv", "--chunk-rows", "0"],
        2,
        "must be between 1",
    ),
    (
        "chunk-rows-negative",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.csv", "--chunk-rows", "-5"],
        2,
        "must be between 1",
    ),
    (
        "chunk-rows-huge",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.csv", "--chunk-rows", "99999999999"],
        2,
        "must be between 1",
    ),
    (
        "chunk-rows-text",
        ["predict", "--input", "{w}/players.csv", "--output", "{w}/p.csv", "--chunk-rows", "lots"],
        2,
        "not a whole number",
    ),
    # days that do not exist, numbers that make no sense
    ("upload-day-feb-30", ["upload", "--input", "{w}/players.csv", "--date", "2026-02-30"], 1, "2026-02-30"),
    ("predictions-day-month-13", ["predictions", "--date", "2026-13-01"], 1, "2026-13-01"),
    ("decision-day-words", ["decision", "--date", "yesterday"], 1, "yesterday"),
    ("predictions-limit-negative", ["predictions", "--date", "2026-11-23", "--limit", "-1"], 2, "must be between 0"),
    ("wait-run-timeout-nan", ["wait-run", "training", "1", "--timeout", "nan"], 2, "finite number above 0"),
    ("serving-check-wait-inf", ["serving-check", "--wait", "inf"], 2, "finite number above 0"),
    # run variables a run may not choose, refused before Mage is called
    (
        "variables-service",
        ["run-pipeline", "batch_inference", "--variables", '{"mlflow_tracking_uri": "http://x"}'],
        1,
        "'mlflow_tracking_uri' is not accepted",
    ),
    (
        "variables-bucket",
        ["run-pipeline", "data_preparation", "--variables", '{"s3_bucket": "other"}'],
        1,
        "'s3_bucket' is not accepted",
    ),
    (
        "variables-credential",
        ["run-pipeline", "training", "--variables", '{"AWS_SECRET_ACCESS_KEY": "x"}'],
        1,
        "come only from the server's environment",
    ),
    (
        "variables-unknown",
        ["run-pipeline", "model_selection", "--variables", '{"batch_date": "2026-11-23"}'],
        1,
        "allowed: game_title",
    ),
    (
        "variables-outside-prefix",
        ["run-pipeline", "batch_inference", "--variables", '{"input_uri": "s3://other/x.csv"}'],
        1,
        "input_uri must be an object under s3://mlops/demo-game/",
    ),
    (
        "variables-traversal",
        ["run-pipeline", "batch_inference", "--variables", '{"input_uri": "s3://mlops/demo-game/../x/a.csv"}'],
        1,
        "input_uri must be",
    ),
    (
        "variables-bad-day",
        ["run-pipeline", "performance_reports", "--variables", '{"batch_date": "2026-02-30"}'],
        1,
        "not a real day",
    ),
    ("variables-not-json", ["run-pipeline", "training", "--variables", "{"], 1, "--variables is not valid JSON"),
    ("variables-title", ["run-pipeline", "training", "--variables", '{"game_title": "../../x"}'], 1, "GAME_TITLE"),
    # rollout: versions, reasons, shares and modes are checked before MLflow is asked
    ("approve-not-a-version", ["approve", "latest", "--reason", "checked"], 1, "registered version number"),
    ("reject-traversal", ["reject", "../3", "--reason", "checked"], 1, "registered version number"),
    ("approve-no-reason", ["approve", "3"], 2, "--reason"),
    ("approve-blank-reason", ["approve", "3", "--reason", "  "], 1, "--reason must say why"),
    ("canary-nan-share", ["canary", "start", "3", "--share", "nan"], 1, "--share must be in (0, 1]"),
    ("canary-share-above-one", ["canary", "start", "3", "--share", "1.5"], 1, "--share must be in (0, 1]"),
    ("canary-bad-mode", ["canary", "start", "3", "--mode", "blue-green"], 2, "invalid choice"),
    # ids that would escape their folder
    ("online-result-traversal", ["online-result", "../processed/latest"], 1, "request_id"),
    ("online-result-unicode", ["online-result", "résultat"], 1, "request_id"),
]


@pytest.fixture
def work(workspace: Path) -> Path:
    for name, content in FILES.items():
        (workspace / name).write_bytes(content)
    (workspace / "folder").mkdir()
    (workspace / "dir.csv").mkdir()
    (workspace / "folder-link").symlink_to(workspace / "folder")
    (workspace / "link.csv").symlink_to(workspace / "players.csv")
    return workspace


@pytest.mark.parametrize(("argv", "code", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_is_refused_in_one_line_and_leaves_nothing(offline, work, tmp_path, capsys, argv, code, message):
    before, outside = tree(work), sorted(tmp_path.iterdir())

    try:
        returned = main([part.replace("{w}", str(work)) for part in argv])
    except SystemExit as usage:  # argparse: exit code 2 and a usage line
        returned = usage.code

    err = capsys.readouterr().err
    assert returned == code, err
    lines = err.strip().splitlines()
    assert message in lines[-1], err
    assert "Traceback" not in err
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert tree(work) == before, "a refused command changed the files"
    assert sorted(tmp_path.iterdir()) == outside, "a refused command created something beside the workspace"
    assert offline == [], "a refused command used the network"


def test_the_table_names_every_file_reading_command():
    ids = {case[0].split("-")[0] for case in CASES}
    assert {"prepare", "upload", "train", "predict", "params", "output", "variables"} <= ids
