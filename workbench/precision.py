"""Precision policies (Keras mixed precision). Runs inside the worker only."""

from __future__ import annotations

from typing import Any

from .config import PRECISIONS


def apply_policy(keras: Any, precision: str) -> None:
    """Set the global dtype policy; layers built (or rebuilt) after this use it."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    keras.mixed_precision.set_global_policy(precision)
