"""Headless Chromium for the browser tier: Debian's Chromium driven by Playwright, skipped when it is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium (Playwright's own browser download is never used)."""
    if CHROMIUM is None:
        pytest.skip("no Chromium found: install it with `apt-get install -y chromium` to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()
