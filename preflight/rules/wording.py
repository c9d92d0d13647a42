"""How findings name other files and long values, so that a message's first line stays short
(about 160 characters: one line of a terminal or a CI log). The long explanation of a rule is
its documentation (`preflight rule ID`), not its message."""
from __future__ import annotations

import os
from typing import Iterable

from preflight.documents import Document
from preflight.text import clip

__all__ = ["clip", "listing", "near"]


def near(path: str, doc: Document) -> str:
    """Another file as seen from the reported document's folder (`deployment.yml`,
    `../deploy/score.py`): the reader is already looking at the document."""
    shown = os.path.relpath(os.path.abspath(path), doc.directory)
    return shown.replace(os.sep, "/")


def listing(items: Iterable[str], budget: int = 60, sentence: bool = True) -> str:
    """Items as a list in a sentence ("a, b and c"; "a, b, c" without `sentence`) while they fit
    in `budget` characters (at least one is shown), then "a, b and 5 more"."""
    items = list(items)
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) + 2 > budget:
            break
        shown.append(item)
        used += len(item) + 2
    rest = len(items) - len(shown)
    if rest:
        return ", ".join(shown) + f" and {rest} more"
    if not sentence or len(shown) < 2:
        return ", ".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]
