#!/usr/bin/env python3
"""Apply the project's compatibility patches to the installed mage-ai, once.

Usage: <app venv>/bin/python scripts/patch_mage.py [--check]

Each patch names the mage-ai version it was written for and the SHA-256 of the file before and after. The
script applies a patch only to that exact file (hunk by hunk, each hunk must match exactly once), verifies the
result's hash, and does nothing when the file already has the patched hash. A file patched by an earlier
version of a patch (``superseded``: its diff kept in patches/superseded/) is first put back to the original by
reversing that diff, so an existing venv is upgraded without reinstalling mage-ai. Any other version or content is an
error: the patch must be reviewed, not forced. ``--check`` only reports (exit 1 when a patch is not applied).
Standard library only; run it with the interpreter of the venv that holds mage-ai.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Patch:
    """One patch file for one file of one mage-ai version."""

    diff: Path
    version: str
    target: str  # path inside the mage_ai package
    original_sha256: str
    patched_sha256: str
    superseded: tuple[tuple[Path, str], ...] = ()  # (earlier diff, the hash it produced)


PATCHES = (
    Patch(
        diff=ROOT / "patches" / "mage_ai_0.9.80_api_runs.patch",
        version="0.9.80",
        target="server/api/runs.py",
        original_sha256="d0509aab45dcef31a28a7cd9f3a90047444907af976f12f1360a3b75c815843c",
        patched_sha256="7b0d4187668bc2c0d933ffd0b0ff3f0246064cdabd471b5f7e8f7d03157dcd93",
        superseded=(
            (
                ROOT / "patches" / "superseded" / "mage_ai_0.9.80_api_runs.v1.patch",
                "95f1ca3d5697f029274e8e1226ecacd75005fbd847eb099a6aa836e7532fe7c1",
            ),
        ),
    ),
    Patch(  # uses helpers the runs.py patch adds, so it comes second
        diff=ROOT / "patches" / "mage_ai_0.9.80_api_triggers.patch",
        version="0.9.80",
        target="server/api/triggers.py",
        original_sha256="8f85468c908b3ec48c892306f131ac5773d936b34fc3b65b77a2a61824d560bf",
        patched_sha256="b6bab2ff4c342c287748031eb1018620d88accecfb21ebca5f0210338bfccc9a",
    ),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hunks(diff_text: str) -> list[tuple[str, str]]:
    """Return (old text, new text) per hunk of a single-file unified diff."""
    result: list[tuple[list[str], list[str]]] = []
    in_hunk = False
    for line in diff_text.splitlines(keepends=True):
        if line.startswith("@@"):
            result.append(([], []))
            in_hunk = True
        elif in_hunk and line[:1] in (" ", "-", "+"):
            old, new = result[-1]
            if line[0] != "+":
                old.append(line[1:])
            if line[0] != "-":
                new.append(line[1:])
        elif in_hunk and line.strip() == "":
            old, new = result[-1]  # a context line that was an empty line
            old.append("\n")
            new.append("\n")
    return [("".join(old), "".join(new)) for old, new in result]


def apply(diff: Path, target: str, source: str, reverse: bool = False) -> str:
    for old, new in hunks(diff.read_text()):
        if reverse:
            old, new = new, old
        if source.count(old) != 1:
            raise SystemExit(f"error: a hunk of {diff.name} does not match {target} exactly once")
        source = source.replace(old, new)
    return source


def mage_file(target: str) -> Path:
    spec = importlib.util.find_spec("mage_ai")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: mage_ai is not installed in this interpreter; run with the app venv's python")
    return Path(next(iter(spec.submodule_search_locations))) / target


def process(patch: Patch, check_only: bool) -> bool:
    """Apply one patch if needed; return whether it is applied afterwards."""
    installed = importlib.metadata.version("mage-ai")
    if installed != patch.version:
        raise SystemExit(
            f"error: {patch.diff.name} is for mage-ai {patch.version}, but {installed} is installed; check whether "
            "the new version still needs it and update patches/ and scripts/patch_mage.py"
        )
    path = mage_file(patch.target)
    source = path.read_text()
    current = sha256(source.encode())
    if current == patch.patched_sha256:
        print(f"mage-ai {installed}: {patch.diff.name} already applied")
        return True
    for earlier, produced in patch.superseded:
        if current == produced:
            source = apply(earlier, patch.target, source, reverse=True)
            current = sha256(source.encode())
    if current != patch.original_sha256:
        raise SystemExit(f"error: {path} has unexpected content (sha256 {current}); reinstall mage-ai {installed}")
    if check_only:
        print(f"mage-ai {installed}: {patch.diff.name} NOT applied (run scripts/patch_mage.py)")
        return False
    patched = apply(patch.diff, patch.target, source)
    if sha256(patched.encode()) != patch.patched_sha256:
        raise SystemExit(f"error: applying {patch.diff.name} gave unexpected content; {path} left unchanged")
    temporary = path.with_suffix(".py.patching")
    temporary.write_text(patched)
    temporary.replace(path)  # atomic: the module is either the original or the patched file
    print(f"mage-ai {installed}: applied {patch.diff.name}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only; exit 1 if a patch is not applied")
    args = parser.parse_args()
    applied = [process(patch, args.check) for patch in PATCHES]
    return 0 if all(applied) else 1


if __name__ == "__main__":
    sys.exit(main())
