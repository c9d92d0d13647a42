"""The Bicep front end: .bicep files mapped onto the ARM template model.

A `.bicep` file becomes a `Document` of kind ARM_TEMPLATE and format "bicep" whose `data` is
the template `bicep build` would produce (with expression trees where Bicep has expressions,
see `preflight.bicep.compiler`) and whose `positions` map every JSON pointer of that template
to the Bicep line and column it came from. Every ARM and Key Vault rule then runs unchanged.
A `.bicepparam` file becomes an ARM_PARAMETERS document (format "bicepparam") paired with the
template its `using` names (`preflight.bicep.params`).

The front end plugs into the layers below it when imported (the engine imports it): the
document layer's loaders for the two formats (`documents.register_front_end`), and the ARM
parameter model's finder of the `.bicepparam` files that name a template
(`arm.parameters.register_parameter_finder`). Neither layer imports this package.

Nothing here imports the parser (`preflight.bicep.syntax`) until a Bicep file is loaded.
"""
from __future__ import annotations

import os
from typing import Any

from .. import fs
from ..arm.parameters import register_parameter_finder
from ..documents import register_front_end
from .links import bicepparam_for
from . import reuse  # noqa: F401 - the engine shares compiled modules through it

BICEP_FORMATS = ("bicep", "bicepparam")


def preload() -> None:
    """Import the parser and the compiler now: a scan about to fork workers that will load
    Bicep files, so that they share these modules instead of each importing them."""
    from . import compiler, syntax  # noqa: F401


def load_bicep(path: str, text: str) -> Any:
    """A Document for a .bicep file's text: the compiled template, or a PF001 error."""
    from ..documents import Document, Kind
    from ..loaders import LoadError
    from .compiler import compile_parsed, scanned_compile
    from .syntax import parse

    abspath = os.path.abspath(path)
    shared = reuse.current()
    kept = shared.documents.get(abspath) if shared is not None else None
    if kept is not None and kept[0] == text:  # scanned, and loaded again to place a finding in it
        compiled = kept[1]
        fs.replay(kept[2])
    elif (from_caller := scanned_compile(abspath, text)) is not None:  # compiled for a caller first
        compiled = from_caller
    else:
        try:
            parsed = parse(text)
        except RecursionError:
            return Document(path, Kind.ARM_TEMPLATE, "bicep", text=text,
                            error=LoadError("invalid Bicep: nested too deeply"))
        error = parsed.error
        if error is not None:
            return Document(path, Kind.ARM_TEMPLATE, "bicep", text=text,
                            error=LoadError(error.message, error.line, error.col))
        try:
            with fs.recording() as deps:
                compiled = compile_parsed(parsed, abspath, module=True)
        except RecursionError:
            return Document(path, Kind.ARM_TEMPLATE, "bicep", text=text,
                            error=LoadError("invalid Bicep: nested too deeply"))
        if shared is not None:
            shared.documents.put(abspath, (text, compiled, deps), len(text))
    doc = Document(path, Kind.ARM_TEMPLATE, "bicep", text=text, data=compiled.template)
    doc.positions = compiled.positions  # type: ignore[misc]  # replaces the lazy JSON lookup
    doc.cache["bicep.notes"] = compiled.notes
    doc.cache["bicep.modules"] = compiled.modules
    doc.cache["bicep.symbols"] = compiled.symbols
    doc.cache["bicep.note-origins"] = compiled.note_origins
    doc.cache["bicep.unread"] = compiled.unread
    return doc


def load_bicepparam(path: str, text: str) -> Any:
    from .params import load_bicepparam as load
    return load(path, text)


def module_calls(doc: Any, pointer: str) -> list:
    """The Bicep module calls (`preflight.bicep.compiler.Module`: symbol, path, line), outermost
    first, through which the generated template reaches `pointer`; [] when not in a module or
    not Bicep. The outermost call's line is in `doc`, each inner one's in the module before it."""
    modules = getattr(doc, "cache", {}).get("bicep.modules") if doc is not None else None
    if not modules:
        return []
    return [module for _, module in _calls_to(modules, pointer)]


def _calls_to(modules: dict, pointer: str) -> list[tuple[str, Any]]:
    """(pointer of the generated deployment, module call) for the module calls whose template
    holds `pointer`, outermost first: its prefixes that end a segment, each looked up (a file
    that calls AVM modules has hundreds of module calls, a pointer a few segments)."""
    hits = []
    end = pointer.find("/", 1)
    while True:
        prefix = pointer if end < 0 else pointer[:end]
        module = modules.get(prefix)
        if module is not None:
            hits.append((prefix, module))
        if end < 0:
            return hits
        end = pointer.find("/", end + 1)


def symbol_of(doc: Any, pointer: str) -> tuple[str, str] | None:
    """(symbol, name as written in Bicep) of the resource the generated template has at
    `pointer` (`resource keyVault ... = { name: 'kv-${suffix}' }` -> ('keyVault',
    "'kv-${suffix}'")); None when not compiled from Bicep."""
    symbols = getattr(doc, "cache", {}).get("bicep.symbols") if doc is not None else None
    return symbols.get(pointer) if symbols else None


def via(resource: Any) -> str:
    """' (through module ...)' for a DeployedResource reached through Bicep modules, else ''.
    For messages: `f"vault {name}{via(resource)} ..."`."""
    calls = module_calls(getattr(resource, "document", None), getattr(resource, "pointer", ""))
    if not calls:
        return ""
    return " (through " + " and its ".join(m.describe() for m in calls) + ")"


class Definition:
    """Where a finding on a Bicep file's generated template is fixed: the module file that
    declares the resource (its path as the scan shows it, the pointer inside the module's own
    template, and the document to locate that pointer in), and the chain of module calls
    (file shown, line) from the scanned file to it."""

    def __init__(self, path: str, pointer: str, document: Any, calls: list[tuple[str, int]], via: str):
        self.path = path
        self.pointer = pointer
        self.document = document
        self.calls = calls
        self.via = via  # the ' (through module ...)' text `via` put in messages about it


def defined_at(doc: Any, pointer: str, document_at: Any) -> Definition | None:
    """The module file where the part of `doc`'s generated template at `pointer` is written,
    when it comes from a local module (Bicep or JSON) inside the repository; None otherwise
    (the scanned file's own resource, a registry module's resource, a module that cannot be
    read). `document_at(abspath)` loads a document (the scan's store: a recorded dependency)."""
    modules = getattr(doc, "cache", {}).get("bicep.modules") if doc is not None else None
    if not modules:
        return None
    hits = _calls_to(modules, pointer)
    if not hits:
        return None
    from .files import named_path

    shown_folder = os.path.dirname(doc.path)
    here, target, inner, calls = doc.abspath, None, "", []
    for prefix, module in hits:
        nxt = named_path(module.path, here, doc.abspath) if module.path and ":" not in module.path else None
        if nxt is None:
            break  # a registry module, or one outside the repository: reported at its call
        calls.append((_shown(here, doc, shown_folder), module.line))
        here, target, inner = nxt, nxt, pointer[len(prefix):]
    if target is None:
        return None
    module_doc = document_at(target)
    if module_doc is None or module_doc.error is not None:
        return None
    via = " (through " + " and its ".join(m.describe() for _, m in hits) + ")"
    return Definition(_shown(target, doc, shown_folder), inner, module_doc, calls, via)


def _shown(abspath: str, doc: Any, shown_folder: str) -> str:
    """A path as the scan shows paths: relative to the scanned file's folder as the user named it."""
    if os.path.normcase(abspath) == os.path.normcase(doc.abspath):
        return doc.path
    return os.path.normpath(os.path.join(shown_folder, os.path.relpath(abspath, os.path.dirname(doc.abspath))))


def note_defined_at(doc: Any, note: tuple[int, int, str], document_at: Any) -> tuple[Definition, int, int, str] | None:
    """For a PF010 note a Bicep file repeats from a module it calls: (where the note is written,
    its line, column and own message), when that module file is inside the repository."""
    origin = getattr(doc, "cache", {}).get("bicep.note-origins", {}).get(note)
    if origin is None:
        return None
    module_file, line, column, message, calls = origin
    module_doc = document_at(module_file)
    if module_doc is None:
        return None
    shown_folder = os.path.dirname(doc.path)
    chain = [(_shown(path, doc, shown_folder), call_line) for path, call_line in calls]
    return Definition(_shown(module_file, doc, shown_folder), "", module_doc, chain, ""), line, column, message


register_front_end("bicep", load_bicep)
register_front_end("bicepparam", load_bicepparam)
register_parameter_finder(bicepparam_for)  # `using './main.bicep'` links
