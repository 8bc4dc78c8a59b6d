"""Hardware profiles from TOML files a user writes, and the built-in profiles by name.

A profile file is flat TOML: ``kind`` (``"digital"``, ``"imc"`` or ``"neuromorphic"``), optionally ``base``
(the name of a built-in profile to start from, see :func:`builtin_profiles`), and the fields of that kind's
dataclass, with units in their names::

    # my_rram.toml: SpikeSim's RRAM with a cheaper ADC
    kind = "imc"
    base = "spikesim-rram-65nm"
    name = "rram-65nm-cheap-adc"
    adc_energy_pj = 1.0

Without ``base`` every field without a default must be given. Errors (:class:`ProfileError`) name the file
and the field: unknown field (with the closest valid name), wrong type, negative value, missing field.

Example
-------
>>> profile = profile_from_dict({"kind": "digital", "name": "mine", "mac_energy_pj": 2.0,
...                              "accumulate_energy_pj": 0.5})
>>> profile.mac_energy_pj
2.0
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from snnrl.hardware._validation import ProfileError, describe_expected, expected_kind
from snnrl.hardware.digital import (DIGITAL_45NM_FP16, DIGITAL_45NM_FP32, DIGITAL_45NM_INT8, DIGITAL_45NM_INT16,
                                    DIGITAL_45NM_INT32, DigitalProfile)
from snnrl.hardware.imc import SPIKESIM_RRAM_65NM, ImcProfile
from snnrl.hardware.neuromorphic import LOIHI_2018, NeuromorphicProfile
from snnrl.io import atomic_write_text

__all__ = ["ProfileError", "load_profile", "profile_from_dict", "profile_to_toml", "save_profile",
           "builtin_profiles", "PROFILE_KINDS"]

PROFILE_KINDS: Mapping[str, type] = MappingProxyType({"digital": DigitalProfile, "imc": ImcProfile,
                                                      "neuromorphic": NeuromorphicProfile})


def builtin_profiles() -> dict[str, DigitalProfile | ImcProfile | NeuromorphicProfile]:
    """Built-in profiles by the name a TOML ``base`` uses."""
    return {
        "digital-45nm-fp32": DIGITAL_45NM_FP32,
        "digital-45nm-fp16": DIGITAL_45NM_FP16,
        "digital-45nm-int32": DIGITAL_45NM_INT32,
        "digital-45nm-int16": DIGITAL_45NM_INT16,
        "digital-45nm-int8": DIGITAL_45NM_INT8,
        "spikesim-rram-65nm": SPIKESIM_RRAM_65NM,
        "loihi-2018": LOIHI_2018,
    }


def _kind_of(profile: Any) -> str:
    for kind, cls in PROFILE_KINDS.items():
        if isinstance(profile, cls):
            return kind
    raise TypeError(f"Not a hardware profile: {type(profile).__name__}.")


def profile_from_dict(data: Mapping[str, Any], *, source: str = "profile"
                      ) -> DigitalProfile | ImcProfile | NeuromorphicProfile:
    """Build a profile from a parsed TOML table (see the module docstring); ``source`` prefixes errors."""
    data = dict(data)
    kind = data.pop("kind", None)
    if not isinstance(kind, str) or kind not in PROFILE_KINDS:
        raise ProfileError(f"{source}: field 'kind' must be one of {sorted(PROFILE_KINDS)}, received {kind!r}. "
                           'Add e.g. kind = "digital" at the top of the file.')
    cls = PROFILE_KINDS[kind]
    base_name = data.pop("base", None)
    values: dict[str, Any] = {}
    if base_name is not None:
        builtins = builtin_profiles()
        if not isinstance(base_name, str) or base_name not in builtins:
            raise ProfileError(f"{source}: field 'base' names no built-in profile: received {base_name!r}, "
                               f"expected one of {sorted(builtins)}.")
        base = builtins[base_name]
        if not isinstance(base, cls):
            raise ProfileError(f"{source}: base {base_name!r} is a {_kind_of(base)} profile but kind is {kind!r}. "
                               "Use a base of the same kind.")
        values = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ProfileError(f"{source}: unknown field '{key}' for kind '{kind}'.{hint} Valid fields: "
                               f"{', '.join(fields)}.")
        base_type, optional = expected_kind(hints[key])
        if base_type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # TOML writes 4 for 4.0
        if not _has_type(value, base_type):
            raise ProfileError(f"{source}: field '{key}' has the wrong type: expected "
                               f"{describe_expected(base_type, optional, key)}, received {value!r} "
                               f"({type(value).__name__}). Fix the value in the file.")
        values[key] = value
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        bases = ", ".join(n for n, p in builtin_profiles().items() if isinstance(p, cls))
        raise ProfileError(f"{source}: missing required field{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(repr(m) for m in missing)} for kind '{kind}'. Add "
                           f"{'them' if len(missing) > 1 else 'it'}, or start from a built-in with "
                           f'base = "..." ({bases}).')
    try:
        return cls(**values)
    except ProfileError as exc:
        raise ProfileError(f"{source}: {exc}") from None


def _has_type(value: Any, base: str) -> bool:
    if base == "bool":
        return isinstance(value, bool)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, float)
    return isinstance(value, str)


def load_profile(path: str | os.PathLike[str]) -> DigitalProfile | ImcProfile | NeuromorphicProfile:
    """Read a profile from the TOML file ``path`` (errors name the file and the field)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"No profile file at '{source}'. Check the path, or write one with "
                           "snnrl.hardware.profiles.save_profile(profile, path).") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"'{source}' is not UTF-8 text ({exc.reason} at byte {exc.start}); a profile is a TOML "
                           "text file, is it corrupt or a binary file?") from None
    except OSError as exc:
        raise ProfileError(f"Cannot read profile file '{source}' ({type(exc).__name__}: {exc.strerror}).") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"'{source}' is not valid TOML: {exc}. Fix the syntax (key = value per line).") from None
    return profile_from_dict(data, source=f"'{source}'")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_to_toml(profile: DigitalProfile | ImcProfile | NeuromorphicProfile) -> str:
    """The TOML text that :func:`load_profile` reads back into an equal profile."""
    lines = [f'kind = "{_kind_of(profile)}"']
    for f in dataclasses.fields(profile):
        value = getattr(profile, f.name)
        if value is not None:
            lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_profile(profile: DigitalProfile | ImcProfile | NeuromorphicProfile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as TOML to ``path`` atomically (a starting point to edit)."""
    return atomic_write_text(path, profile_to_toml(profile))
