"""The lines of a ``results.jsonl``: read defensively, checked field by field, and tied to the
machine they were measured on.

A results file is written by this package, but it lives on disk for months: a line can be cut
short by a kill, edited by hand, or come from another tool. Reading never raises on a line: a
line that is not JSON, not an object, not a workbench record, or a trial record whose fields have
the wrong types (or numbers no float can hold) is skipped with a warning naming the file and the
line, and every other line is kept.

Each header names the machine it was written on; a trial belongs to the machine named in its
own ``machine`` field (written since schema 1 + machine ids), else to the header above it.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.parsing import whole_number

# What makes two sets of numbers comparable: the same host, CPU, GPU and software.
MACHINE_KEYS = ("hostname", "cpu_model", "gpu_name", "tensorflow", "keras")
MACHINE_WORDS = {"hostname": "hostname", "cpu_model": "CPU", "gpu_name": "GPU",
                 "tensorflow": "TensorFlow", "keras": "Keras"}
INT_LIMIT = 2**63  # what pandas and numpy can hold in an int column
_warned: set[tuple[str, int, str]] = set()


class RecordError(ValueError):
    """A record whose fields cannot be a trial result (the message names the field)."""


def machine_id(env: dict[str, Any] | None) -> str:
    """A short, stable id of a machine and its software: ``hostname-1a2b3c``."""
    env = env if isinstance(env, dict) else {}
    blob = json.dumps([str(env.get(k)) for k in MACHINE_KEYS])
    return f"{env.get('hostname') or 'unknown'}-{hashlib.sha256(blob.encode()).hexdigest()[:6]}"


def machine_differences(there: dict[str, Any], here: dict[str, Any]) -> list[str]:
    """What differs between two environments, in words: ``["hostname 'a' there, 'b' here"]``."""
    there = there if isinstance(there, dict) else {}
    return [f"{MACHINE_WORDS[k]} {there.get(k)!r} there, {here.get(k)!r} here"
            for k in MACHINE_KEYS if there.get(k) != here.get(k)]


def _number(name: str, value: Any) -> float:
    """A float field: numbers, numeric strings (an older writer's numpy scalars), None as NaN."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordError(f"field {name!r} is {type(value).__name__}, not a number")
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise RecordError(f"field {name!r} is {str(value)[:40]!r}, not a number a float can hold") from None
    if math.isinf(number):
        raise RecordError(f"field {name!r} is {str(value)[:40]!r}, not a finite number")
    return number


def _coerce(name: str, kind: str, value: Any, optional: bool) -> Any:
    """``value`` checked (and converted where lossless) for a field annotated ``kind``."""
    base = kind.replace(" | None", "").strip()
    if value is None and (optional or "None" in kind):
        return None
    if base == "float":
        return _number(name, value)
    if base == "int":
        number = whole_number(value)
        if number is None or abs(number) >= INT_LIMIT:
            raise RecordError(f"field {name!r} is {str(value)[:40]!r}, not a whole number")
        return number
    if base == "str":
        if not isinstance(value, str):
            raise RecordError(f"field {name!r} is {type(value).__name__}, not text")
        return value
    if base == "bool":
        if not isinstance(value, bool):
            raise RecordError(f"field {name!r} is {str(value)[:40]!r}, not true or false")
        return value
    if base.startswith("list"):
        if not isinstance(value, list):
            raise RecordError(f"field {name!r} is {type(value).__name__}, not a list")
        return [str(v) for v in value] if base == "list[str]" else value
    if base.startswith("dict"):
        if not isinstance(value, dict):
            raise RecordError(f"field {name!r} is {type(value).__name__}, not an object")
    return value  # another type (an enum): its class checks it


def checked_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for dataclass ``cls`` from ``data``: unknown keys dropped (a newer
    writer's fields), each known one checked against its annotation; :class:`RecordError`
    names a missing or wrong field."""
    if not isinstance(data, dict):
        raise RecordError(f"a {type(data).__name__}, not a JSON object")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        if f.name not in data:
            if required:
                raise RecordError(f"field {f.name!r} is missing")
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        kwargs[f.name] = _coerce(f.name, kind, data[f.name], optional=f.default is None)
    return kwargs


@dataclass
class Lines:
    """What one read of a results file found: objects by line number, and lines skipped."""

    objects: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def read_lines(path: Path) -> Lines:
    """Every line of ``path`` that is a JSON object; the others listed with the reason."""
    found = Lines()
    if not path.exists():
        return found
    # errors="replace": a stray byte spoils its own line (then not JSON), not the whole file
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # cut short, not JSON, 5,000-digit ints, [[[[...
                found.skipped.append((lineno, "not valid JSON (a line cut short by a kill, or edited)"))
                continue
            if not isinstance(obj, dict):
                found.skipped.append((lineno, f"a JSON {type(obj).__name__}, not a record"))
            elif obj.get("record") not in ("header", "trial"):
                found.skipped.append((lineno, f"not a workbench record (record={repr(obj.get('record'))[:40]})"))
            elif obj["record"] == "header" and not isinstance(obj.get("environment", {}), dict):
                found.skipped.append((lineno, "a header whose environment is not an object"))
            else:
                found.objects.append((lineno, obj))
    return found


def warn_skipped(path: Path, lineno: int, reason: str) -> None:
    """One line on stderr per bad line per process: the file, the line, why, and that the rest is kept."""
    key = (str(path), lineno, reason)
    if key not in _warned:
        _warned.add(key)
        print(f"workbench: skipping line {lineno} of {path}: {reason}; the other lines are kept", file=sys.stderr)
