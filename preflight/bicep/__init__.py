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

from ..arm.parameters import register_parameter_finder
from ..documents import register_front_end
from .links import bicepparam_for

BICEP_FORMATS = ("bicep", "bicepparam")


def load_bicep(path: str, text: str) -> Any:
    """A Document for a .bicep file's text: the compiled template, or a PF001 error."""
    from ..documents import Document, Kind
    from ..loaders import LoadError
    from .compiler import compile_parsed
    from .syntax import parse

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
        compiled = compile_parsed(parsed, os.path.abspath(path))
    except RecursionError:
        return Document(path, Kind.ARM_TEMPLATE, "bicep", text=text,
                        error=LoadError("invalid Bicep: nested too deeply"))
    doc = Document(path, Kind.ARM_TEMPLATE, "bicep", text=text, data=compiled.template)
    doc.positions = compiled.positions  # type: ignore[misc]  # replaces the lazy JSON lookup
    doc.cache["bicep.notes"] = compiled.notes
    doc.cache["bicep.modules"] = compiled.modules
    doc.cache["bicep.symbols"] = compiled.symbols
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
    hits = [(prefix, module) for prefix, module in modules.items()
            if pointer == prefix or pointer.startswith(prefix + "/")]
    return [module for _, module in sorted(hits, key=lambda h: len(h[0]))]


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


register_front_end("bicep", load_bicep)
register_front_end("bicepparam", load_bicepparam)
register_parameter_finder(bicepparam_for)  # `using './main.bicep'` links
