"""scripts/patch_mage.py: each patch turns the pinned original into the patched file, and a venv patched by an
earlier version of a patch is upgraded by reversing that earlier diff first."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SPEC = importlib.util.spec_from_file_location("patch_mage", ROOT / "scripts" / "patch_mage.py")
assert SPEC and SPEC.loader
patch_mage = importlib.util.module_from_spec(SPEC)
sys.modules["patch_mage"] = patch_mage  # dataclasses look their module up while it loads
SPEC.loader.exec_module(patch_mage)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("patch", patch_mage.PATCHES, ids=lambda patch: patch.target)
def test_the_installed_file_round_trips_to_the_original_and_back(patch):
    installed = patch_mage.mage_file(patch.target).read_text()
    assert _sha(installed) == patch.patched_sha256, "run `make setup`"

    original = patch_mage.apply(patch.diff, patch.target, installed, reverse=True)

    assert _sha(original) == patch.original_sha256
    assert _sha(patch_mage.apply(patch.diff, patch.target, original)) == patch.patched_sha256
    for earlier, produced in patch.superseded:
        earlier_text = patch_mage.apply(earlier, patch.target, original)
        assert _sha(earlier_text) == produced
        assert _sha(patch_mage.apply(earlier, patch.target, earlier_text, reverse=True)) == patch.original_sha256
