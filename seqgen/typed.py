"""Typed records from plain data: one validator for every config and checkpoint field.

Checkpoints and run files hold plain dicts; :func:`from_dict` turns one into a dataclass after
checking every key against the dataclass's fields and every value against its annotation, and
raises ``ValueError`` with a one-line reason (the caller adds which file or option it was).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def _check(value: Any, hint: Any, name: str) -> Any:
    """``value`` if it fits ``hint`` (ints widen to floats; lists become the annotated list)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check(value, option, name)
            except ValueError:
                continue
        raise ValueError(f"{name} = {value!r:.60} is not a {_name(hint)}")
    if hint is Any:
        return value
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) and value != math.inf:
                raise ValueError(f"{name} = {value!r} is not a number")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple) and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        items = [_check(v, inner, f"{name}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    elif origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
    raise ValueError(f"{name} = {value!r:.60} is not a {_name(hint)}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def from_dict(cls: type[T], data: Any, strict: bool = True) -> T:
    """An instance of dataclass ``cls`` from ``data``: unknown keys (if ``strict``), missing
    required keys and values of the wrong type raise ValueError naming the field."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown and strict:
        raise ValueError(f"unknown field {unknown[0]!r} (a {cls.__name__} has {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        if name not in data:
            no_default = f.default is dataclasses.MISSING
            if no_default and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"missing field {name!r}")
            continue
        values[name] = _check(data[name], hints[name], name)
    return cls(**values)
