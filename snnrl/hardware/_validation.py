"""Field checks shared by the hardware profiles (private).

Every profile is a frozen dataclass whose annotations say what a field holds: ``str`` (a name), ``bool``
(a switch), ``int`` (a count, >= 1), ``float`` (an energy, area, time or rate, finite and >= 0) or
``float | None``. :func:`check_profile_fields` checks a profile against its annotations and raises
:class:`ProfileError` naming the field, what was expected, what was received, and how to fix it.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

__all__ = ["ProfileError", "check_profile_fields", "expected_kind", "describe_expected"]


class ProfileError(ValueError):
    """A hardware profile has a missing, unknown, mistyped or out-of-range field."""


def expected_kind(annotation: Any) -> tuple[str, bool]:
    """``(base, optional)`` for a field annotation: base is 'str', 'bool', 'int' or 'float'."""
    optional = False
    args = typing.get_args(annotation)
    if args and type(None) in args:
        optional = True
        (annotation,) = [a for a in args if a is not type(None)]
    for base in (bool, int, float, str):  # bool before int: bool is an int subclass
        if annotation is base:
            return base.__name__, optional
    raise TypeError(f"unsupported profile field annotation {annotation!r}")


def describe_expected(base: str, optional: bool, name: str) -> str:
    """Words for what a field accepts (used in error messages)."""
    unit = ""
    for suffix, words in (("_pj", " (energy in pJ)"), ("_um2", " (area in µm²)"), ("_mm2", " (area in mm²)"),
                          ("_mhz", " (frequency in MHz)"), ("_ns", " (time in ns)"), ("_nm", " (length in nm)")):
        if name.endswith(suffix) or f"{suffix}_" in name:
            unit = words
    text = {"str": "a string", "bool": "true or false", "int": "an integer >= 1",
            "float": f"a number >= 0{unit}"}[base]
    return text + (" (or omitted)" if optional else "")


def _check_value(kind: str, name: str, base: str, optional: bool, value: Any) -> None:
    expected = describe_expected(base, optional, name)
    received = f"{value!r} ({type(value).__name__})"
    fix = f"Set '{name}' to {expected}."
    if value is None:
        if optional:
            return
        raise ProfileError(f"{kind} profile field '{name}' expects {expected}, received None. {fix}")
    if base == "str":
        ok = isinstance(value, str) and value.strip() != ""
    elif base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProfileError(f"{kind} profile field '{name}' has the wrong type: expected {expected}, "
                               f"received {received}. {fix}")
        ok = value >= 1
    else:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ProfileError(f"{kind} profile field '{name}' has the wrong type: expected {expected}, "
                               f"received {received}. {fix}")
        if not math.isfinite(value):
            raise ProfileError(f"{kind} profile field '{name}' must be finite, received {value!r}. {fix}")
        ok = value >= 0
        if not ok:
            raise ProfileError(f"{kind} profile field '{name}' cannot be negative: expected {expected}, "
                               f"received {value!r}. {fix}")
    if not ok:
        raise ProfileError(f"{kind} profile field '{name}': expected {expected}, received {received}. {fix}")


def check_profile_fields(profile: Any, *, kind: str) -> None:
    """Check every field of the dataclass ``profile`` against its annotation (see module docstring)."""
    hints = typing.get_type_hints(type(profile))
    for f in dataclasses.fields(profile):
        base, optional = expected_kind(hints[f.name])
        _check_value(kind, f.name, base, optional, getattr(profile, f.name))
