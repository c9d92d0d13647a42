"""Which `.bicepparam` files belong to a template: their `using '<path>'` statement.

Cheap on purpose (a regular expression on the file's head, no parser): it runs for every
template whose folder holds a `.bicepparam` file.
"""
from __future__ import annotations

import os
import re
from functools import partial
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from ..contract import Context

_USING = re.compile(r"^[ \t]*using[ \t]+'([^'\n]*)'", re.M)
MAX_BYTES = 1024 * 1024


def using_path(text: str) -> str | None:
    """The path a .bicepparam file's `using` statement names, as written (None: none)."""
    m = _USING.search(text)
    return m.group(1) if m else None


def using_target(bicepparam_abspath: str, text: str | None = None) -> str | None:
    """The absolute path of the template a .bicepparam file is for, or None."""
    if text is None:
        from .files import read_regular
        raw = read_regular(bicepparam_abspath, MAX_BYTES)
        if raw is None:
            return None
        from ..loaders import LoadError, decode
        try:
            text = decode(raw)
        except LoadError:
            return None
    rel = using_path(text)
    if not rel or rel.startswith(("br:", "br/", "ts:", "ts/")) or "://" in rel:
        return None
    from .files import named_path
    return named_path(rel, bicepparam_abspath)  # None outside the repository: it pairs with nothing


def bicepparam_for(template_abspath: str, folder: str, listing: Sequence[str], ctx: Context | None = None) -> list[str]:
    """The .bicepparam files (beside the template, or scanned anywhere) whose `using` names it."""
    names = _bicepparam_names(listing)
    if not names and (ctx is None or not _scanned_using(ctx)):  # most templates: nothing to compare
        return []
    want = os.path.normcase(os.path.normpath(template_abspath))
    out: list[str] = []
    for name in names:
        path = os.path.join(folder, name)
        target: str | None = using_target(path) if ctx is None else \
            ctx.model(f"bicep.using:{path}", partial(using_target, path), local=True)
        if target is not None and os.path.normcase(target) == want:
            out.append(path)
    if ctx is not None:
        for abspath in _scanned_using(ctx).get(want, ()):
            if abspath not in out:
                out.append(abspath)
    return out


# The last folder listing looked through, and its .bicepparam names: the templates of a folder
# are checked one after another, each given the same listing. Only a tuple is remembered (it
# cannot change), and it is kept here, so the identity compared stays its own.
_last_listing: tuple[tuple[str, ...], list[str]] = ((), [])


def _bicepparam_names(listing: Sequence[str]) -> list[str]:
    global _last_listing
    if _last_listing[0] is listing:
        return _last_listing[1]
    names = [name for name in listing if name.lower().endswith(".bicepparam")]
    if isinstance(listing, tuple):
        _last_listing = (listing, names)
    return names


def _scanned_using(ctx: Context) -> dict[str, list[str]]:
    """The scanned .bicepparam documents by the template their `using` names (normcased), each
    list in the scan's document order. The scan keeps every parameter document from its first
    pass on, before any rule runs, so an index built once holds the same documents, in the same
    order, as a walk over `documents_of` for each template."""
    def build() -> dict[str, list[str]]:
        from ..documents import Kind
        index: dict[str, list[str]] = {}
        for doc in ctx.documents_of(Kind.ARM_PARAMETERS):
            if doc.format != "bicepparam":
                continue
            target = doc.cache.get("bicep.using")
            if target is not None:
                index.setdefault(os.path.normcase(target), []).append(doc.abspath)
        return index

    index: dict[str, list[str]] = ctx.model("bicep.using-index", build)
    return index
