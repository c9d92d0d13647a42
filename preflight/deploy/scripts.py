"""Links from deploy configurations to scoring scripts: which configs of a scan run a script
(and with which models), and a script read as a tree without ever importing it."""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Iterable

from .. import fs
from ..contract import Context
from ..documents import Document, Kind
from ..loaders import FileTooLarge
from .v1 import V1Inference
from .v2 import OnlineDeployment



@dataclass(frozen=True)
class ScriptUse:
    """A config that runs a scoring script, and the models it deploys (None: not declared)."""

    config: Document
    model_names: frozenset[str] | None


def script_uses(ctx: Context) -> dict[str, list[ScriptUse]]:
    """Scoring script (absolute path) -> the deploy configs of this scan that run it."""
    return ctx.model("deploy.script_uses", lambda: _build_script_uses(
        ctx.documents_of(Kind.ONLINE_DEPLOYMENT_V2, Kind.INFERENCE_V1)))


def _build_script_uses(documents: Iterable[Document]) -> dict[str, list[ScriptUse]]:
    uses: dict[str, list[ScriptUse]] = {}
    for doc in documents:
        if doc.error is not None:
            continue
        script, names = None, None
        if doc.kind == Kind.ONLINE_DEPLOYMENT_V2:
            dep = OnlineDeployment.of(doc)
            script, names = dep.scoring_script(), dep.model_names()
        elif doc.kind == Kind.INFERENCE_V1:
            ic = V1Inference.of(doc)
            entry = ic.string("entryScript")
            script = ic.find(entry) if entry else None
        if script:
            uses.setdefault(os.path.normpath(os.path.abspath(script)), []).append(ScriptUse(doc, names))
    return uses


@dataclass
class ScriptSource:
    """A scoring script read for a config's check: its tree, or why it could not be read."""

    path: str
    tree: ast.Module | None = None
    problem: str | None = None
    line: int | None = None


MAX_SCRIPT_BYTES = 5 * 1024 * 1024


def read_script(path: str, ctx: Context | None) -> ScriptSource:
    """Parse a script with `ast` (never import it); reuse the scan's document when it has one."""
    doc = ctx.document_at(path) if ctx is not None else None
    if doc is not None and doc.kind == Kind.SCORING_SCRIPT:
        if doc.error is not None:
            return ScriptSource(path, None, doc.error.message, doc.error.line)
        return ScriptSource(path, doc.data)
    try:
        raw = fs.read(path, MAX_SCRIPT_BYTES)
    except FileTooLarge:
        return ScriptSource(path)  # too large to check; not a finding
    except OSError as exc:
        return ScriptSource(path, None, f"cannot be read: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ScriptSource(path, None, "is not UTF-8 text")
    try:
        return ScriptSource(path, ast.parse(text, filename=path))
    except SyntaxError as exc:
        return ScriptSource(path, None, f"invalid Python: {exc.msg}", exc.lineno)
    except (ValueError, RecursionError, MemoryError) as exc:
        return ScriptSource(path, None, f"invalid Python: {exc}")
