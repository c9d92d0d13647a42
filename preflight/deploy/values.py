"""Values of deploy configurations as the Azure ML tools read them: numbers (never a YAML
boolean), quantities, fields with their JSON pointers, and how to show a value in a message.
Nothing here raises on a value of the wrong type."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, TypeGuard

from ..loaders import join_pointer


def is_number(value: Any) -> TypeGuard[int | float]:
    """An int or a finite float; YAML booleans are ints in Python but never numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole(value: Any) -> bool:
    return is_number(value) and (isinstance(value, int) or float(value).is_integer())


def exact(value: int | float | Fraction) -> Fraction:
    """A number as an exact fraction of what was written: 0.7 is 7/10, not the nearest double."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    return Fraction(Decimal(repr(value)))


def num(value: int | float | Fraction) -> str:
    """A quantity for messages: 20 (not 20.0), 0.7, 285.71."""
    if isinstance(value, Fraction):
        value = float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def show(value: Any) -> str:
    """A value as the user wrote it, for messages: 20, 0.7, 'abc', true, null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, Fraction):
        return f"{float(value):g}"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Field:
    """One key of a config: its dotted name, JSON pointer, and value (None when absent)."""

    path: tuple[str, ...]
    pointer: str
    value: Any
    present: bool

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def given(self) -> bool:
        """Present with a value: the Azure ML parsers treat `key: null` like a missing key."""
        return self.present and self.value is not None


def field_at(data: Any, path: tuple[str, ...]) -> Field:
    node, pointer = data, ""
    for i, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            for rest in path[i:]:
                pointer = join_pointer(pointer, rest)
            return Field(path, pointer, None, False)
        node, pointer = node[key], join_pointer(pointer, key)
    return Field(path, pointer, node, True)


# ------------------------------------------------------------------ Kubernetes quantities

_QUANTITY = re.compile(r"([+-]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30}))"
                       r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d{1,3})?")
_BINARY_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIX: dict[str, Fraction | int] = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3,
    "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def parse_quantity(text: Any) -> Fraction | None:
    """A Kubernetes resource quantity (`500m`, `0.5`, `1Gi`, `200Mi`, `1e3`) as an exact number
    of base units (cores, bytes), or None when it is not one. Only strings are quantities:
    that is what the v2 schema accepts (`fields.String`)."""
    if not isinstance(text, str):
        return None
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    number, suffix = match.groups()
    try:
        value = Fraction(Decimal(number))
    except (InvalidOperation, ValueError):
        return None
    if not suffix:
        return value
    if suffix in _BINARY_SUFFIX:
        return value * _BINARY_SUFFIX[suffix]
    if suffix in _DECIMAL_SUFFIX:
        return value * _DECIMAL_SUFFIX[suffix]
    return value * Fraction(10) ** int(suffix[1:])
