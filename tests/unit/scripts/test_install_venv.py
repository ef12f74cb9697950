"""scripts/install_venv.py says what it installs, counts against the lock, and fails with pip's log named."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT


@pytest.fixture
def installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_venv_script", ROOT / "scripts" / "install_venv.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_lock_is_counted_by_its_pins(installer: ModuleType, tmp_path: Path) -> None:
    lock = tmp_path / "app.lock"
    lock.write_text("# generated\nalpha==1.0\nbeta==2.0 ; python_version >= '3'\n\n")
    assert installer.count_locked(lock) == 2


def test_pip_lines_are_sorted_into_phases(installer: ModuleType) -> None:
    assert installer.classify("Collecting numpy==1.26.4 (from -r app.lock (line 3))\n") == "collect"
    assert installer.classify("Requirement already satisfied: six in ./lib\n") == "collect"
    assert installer.classify("Installing collected packages: six, numpy\n") == "install"
    assert installer.classify("  Downloading numpy-1.26.4.whl (18 MB)\n") is None


def _fake_venv(tmp_path: Path, exit_code: int) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        'echo "Collecting alpha==1.0"\n'
        'echo "Installing collected packages: alpha"\n'
        f'[ "$4" = "-r" ] && echo "ERROR: no matching distribution" && exit {exit_code}\n'
        "exit 0\n"
    )
    python.chmod(0o755)
    return venv


def test_a_good_install_prints_its_phases_and_the_log(installer: ModuleType, tmp_path: Path, capsys) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("alpha==1.0\n")
    log = tmp_path / "install.log"
    code = installer.main(
        [
            "--venv",
            str(_fake_venv(tmp_path, 0)),
            "--lock",
            str(lock),
            "--label",
            "x",
            "--log",
            str(log),
            "--expect",
            "about 1 min",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "installing the x venv" in out and "1 packages" in out and "about 1 min" in out
    assert "installing the packages" in out and f"pip's output is in {log}" in out
    assert "Collecting alpha" in log.read_text()


def test_a_failed_install_names_the_log_in_one_line(installer: ModuleType, tmp_path: Path, capsys) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("alpha==1.0\n")
    log = tmp_path / "install.log"
    code = installer.main(
        ["--venv", str(_fake_venv(tmp_path, 1)), "--lock", str(lock), "--label", "x", "--log", str(log)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "ERROR: no matching distribution" in err
    assert err.strip().splitlines()[-1] == f"error: installing {lock} failed; pip's full output is in {log}"
