"""Shared fixtures: tiny, fast trial settings and an isolated cache for the demo assets.

Helpers that are not fixtures live in :mod:`tests.helpers`; the browser fixtures in
``tests/browser/conftest.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers import FAST  # noqa: E402
from workbench.config import DataSpec, ModelSpec, TrialConfig  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Demo assets (trained model, cached arrays) go to one cache per test session, unless the
    caller points WORKBENCH_CACHE somewhere already (CI may keep one between steps)."""
    if "WORKBENCH_CACHE" not in os.environ:
        os.environ["WORKBENCH_CACHE"] = str(tmp_path_factory.mktemp("workbench-cache"))


@pytest.fixture
def tiny_trial():
    """Factory for a tiny-CNN trial on synthetic images (a real model, real TF, in a process)."""

    def make(batch_size: int = 8, count: int = 32, image_size: int = 32, **kw) -> TrialConfig:
        kw.setdefault("timing", FAST)
        return TrialConfig(
            model=ModelSpec("tiny", image_size=image_size),
            data=DataSpec("synthetic", count=count),
            batch_size=batch_size,
            **kw,
        )

    return make
