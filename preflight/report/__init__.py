"""Reporters: findings -> text for people or machines. One module per format."""
from __future__ import annotations

import importlib
from typing import Callable

FORMATS = ("text", "json")


def reporter(name: str) -> Callable[..., str]:
    """`render(result, color=False) -> str` of the named format, imported only when used."""
    return importlib.import_module(f"preflight.report.{name}_report").render
