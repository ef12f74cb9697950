"""The snapshot check: whole files are parsed once, damaged ones moved aside and named."""

from __future__ import annotations

from machine_learning.monitoring.snapshots import set_aside_damaged_snapshots


def test_only_damaged_files_are_moved_and_a_whole_file_is_parsed_once(tmp_path, monkeypatch):
    snapshots = tmp_path / "project-1" / "snapshots"
    snapshots.mkdir(parents=True)
    (snapshots / "good.json").write_text('{"id": "good"}')
    (snapshots / "bad.json").write_text('{"id": "ba')

    moved = set_aside_damaged_snapshots(str(tmp_path))

    assert len(moved) == 1 and str(snapshots / "bad.json") in moved[0]
    assert (tmp_path / "damaged" / "project-1" / "bad.json").exists() and (snapshots / "good.json").exists()
    monkeypatch.setattr("machine_learning.monitoring.snapshots._is_whole_json", lambda path: False)
    assert set_aside_damaged_snapshots(str(tmp_path)) == []  # unchanged since it was checked


def test_an_s3_workspace_or_a_missing_folder_is_not_checked(tmp_path):
    assert set_aside_damaged_snapshots("s3://bucket/evidently") == []
    assert set_aside_damaged_snapshots(str(tmp_path / "nope")) == []
