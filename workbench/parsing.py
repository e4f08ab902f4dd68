"""Parsers of what users type: memory sizes, image sizes, comma-separated lists, margins, paths.

Each parser takes a string (or the value a Python caller passes) and returns a clean value, or
raises :class:`ConfigError` naming the problem and the fix: never another exception, whatever
the input (the property-based tests in ``tests/unit/test_fuzz.py`` check that). Re-exported by
:mod:`workbench.config`, where the config dataclasses use them.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "tib": 2**40,
}
MAX_DIGITS = 30  # longer numbers are typos (Python refuses to parse over 4,300 digits anyway)
MAX_COUNT = 2**31 - 1  # batch sizes and image counts above this are typos, not settings


def parse_bytes(text: str | int | float) -> int:
    """Parse a memory size: ``"1.5GB"`` (10^9), ``"512MiB"`` (2^20), ``"2G"``, ``123456``.

    Decimal units (KB, MB, GB) are powers of 1000, binary units (KiB, MiB, GiB) powers of 1024.
    A negative size (``-1GB``) is read as a number, then refused as not positive.
    """
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise ConfigError(f"memory size {text!r} is not a size: write e.g. 2GB or 512MiB")
    if isinstance(text, int | float):
        try:
            value = float(text)
        except OverflowError:  # an int past float's range
            value = math.inf
        unit = ""
    else:
        m = re.fullmatch(r"\s*([-+]?)([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
        if not m or m.group(3).lower() not in _UNITS or len(m.group(2)) > MAX_DIGITS:
            raise ConfigError(
                f"memory size {text!r} is malformed: write a number and a unit, e.g. 1.5GB, 512MiB or 8GiB"
            )
        value, unit = float(m.group(1) + m.group(2)), m.group(3).lower()
    nbytes = value * _UNITS[unit]
    if not math.isfinite(nbytes) or nbytes <= 0:
        raise ConfigError(f"memory size {text!r} must be positive, e.g. 2GB")
    return int(nbytes)


def format_bytes(nbytes: float | int | None) -> str:
    """Human-readable binary size (``1.50 GiB``); ``n/a`` for a missing figure."""
    if nbytes is None or (isinstance(nbytes, float) and math.isnan(nbytes)):
        return "n/a"
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_margin(value: Any, *, typed: str | None = None) -> float:
    """A safety margin: the fraction of a budget kept free (0.1 keeps 10 %), from 0 to below 1.

    ``typed``: the text the user wrote, when ``value`` was parsed from it (the error then
    speaks in per cent, as the user did). Anything else (NaN, 1, a string) raises ConfigError.
    """
    number = float(value) if isinstance(value, numbers.Real) else math.nan  # numpy floats too
    if not 0 <= number < 1:
        if typed is not None:
            raise ConfigError(f"margin {typed!r} must be from 0 to below 100 %, e.g. 10%")
        raise ConfigError(f"margin {value!r} must be a fraction from 0 to below 1, e.g. 0.1 for 10 %")
    return number


def _share(text: str | float, what: str, example: str) -> float:
    """``10%`` or ``0.1`` -> 0.1; ConfigError naming ``what`` when it is not a number."""
    raw = str(text).strip()
    try:
        return float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is malformed: write {example}") from None


def parse_margin(text: str) -> float:
    """``10%`` or ``0.1`` -> 0.1."""
    return check_margin(_share(text, "margin", "10% or 0.1"), typed=text)


def parse_max_cv(text: str | float) -> float:
    """``5%`` or ``0.05`` -> 0.05 (the spread above which a trial is re-measured)."""
    value = _share(text, "--max-cv", "5% or 0.05")
    if not math.isfinite(value) or not value > 0:
        raise ConfigError(f"--max-cv {text!r} must be a positive share, e.g. 5%")
    return value


def whole_number(value: Any) -> int | None:
    """``value`` as an int when it is one (``8``, ``8.0``, ``"8"``), else None: no bools, no
    fractions, no infinities, no 5,000-digit strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()  # ASCII digits only: "²".isdigit() is True, and int("²") fails
        if re.fullmatch(rf"[-+]?[0-9]{{1,{MAX_DIGITS}}}", text):
            return int(text)
    return None


def parse_image_size(text: str | int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """``96`` -> (96, 96); ``"96x128"`` -> (96, 128) as (height, width); None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, tuple | list):
        if len(text) != 2:
            raise ConfigError(f"image size {text!r} must be (height, width)")
        sides = [whole_number(t) for t in text]
    elif isinstance(text, str):
        m = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", text)
        sides = [whole_number(m.group(1)), whole_number(m.group(2) or m.group(1))] if m else [None]
    else:
        sides = [whole_number(text)] * 2
    if any(s is None for s in sides):
        raise ConfigError(f"image size {text!r} is malformed: write 96 or 96x128 (height x width)")
    size = (int(sides[0]), int(sides[1]))  # type: ignore[arg-type]
    if min(size) < 8 or max(size) > 4096:
        raise ConfigError(f"image size {size[0]}x{size[1]} is out of range: use 8 to 4096 pixels a side")
    return size


def _items(text: Any) -> list[Any]:
    """The items of a comma-separated string, a list or tuple, or one bare value."""
    if isinstance(text, str):
        return [t.strip() for t in text.split(",") if t.strip()]
    if isinstance(text, list | tuple):
        return list(text)
    return [] if text is None else [text]


def parse_int_list(text: str | int | list[int] | tuple[int, ...], what: str) -> tuple[int, ...]:
    """``"1,8,32"`` -> (1, 8, 32), rejecting empty lists, zero, negatives and non-numbers."""
    items = _items(text)
    if not items:
        raise ConfigError(f"{what}: give at least one value, e.g. 1,8,32")
    out = []
    for item in items:
        value = whole_number(item)
        if value is None:
            raise ConfigError(f"{what}: {item!r} is not a whole number")
        if not 1 <= value <= MAX_COUNT:
            raise ConfigError(f"{what}: {value} is not allowed; use whole numbers from 1 to {MAX_COUNT:,}")
        out.append(value)
    return tuple(dict.fromkeys(out))  # keep order, drop repeats


def parse_name_list(text: str | list[str] | tuple[str, ...], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``"float32,mixed_bfloat16"`` -> validated tuple of names from ``allowed``."""
    items = [str(t).strip() for t in _items(text)]
    items = [t for t in items if t]
    if not items:
        raise ConfigError(f"{what}: choose at least one of {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise ConfigError(f"unknown {what[:-1] if what.endswith('s') else what} {item!r}: choose from {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


def parse_target_images(value: str | int | None) -> int | None:
    """The number of images of the real job: ``1200000``, ``"1,200,000"`` or ``"1_200_000"``;
    None (or blank) stays None. Zero, negatives and anything else are refused in one line."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    malformed = ConfigError(f"target images {value!r} is not a whole number: give the number of images "
                            "of the real job, e.g. --target-images 1200000")
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise malformed
    elif isinstance(value, bool):
        raise malformed
    else:
        try:
            text = str(int(value))
            if int(value) != value:
                raise ValueError
        except (TypeError, ValueError):
            raise malformed from None
    n = int(text)
    if n < 1:
        raise ConfigError(f"target images {n} is not allowed: give the number of images of the real job "
                          "(1 or more), e.g. --target-images 1200000")
    return n


def user_path(text: str, what: str) -> Path:
    """``text`` as a path, ``~`` expanded; :class:`ConfigError` when no file could have that
    name (a NUL byte, a name past the system's length limit, ``~nosuchuser``)."""
    try:
        path = Path(text).expanduser()
        path.exists()  # a name too long for the file system fails here, not later
    except (OSError, ValueError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{what} {text[:80]!r} is not a usable path ({reason}): check it") from None
    return path


def path_exists(text: str) -> bool:
    """Whether ``text`` names an existing file or folder (``~`` expanded); False for a name no
    file could have."""
    try:
        return Path(text).expanduser().exists()
    except (OSError, ValueError, RuntimeError):
        return False
