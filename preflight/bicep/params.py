""".bicepparam files: `using './main.bicep'` and `param x = value` (plus `var`s).

The file becomes an ARM_PARAMETERS document whose `data` has the shape of a JSON parameter
file (`{"parameters": {"x": {"value": ...}}}`) with every value the file fixes offline; values
that cannot be known offline (`readEnvironmentVariable()`, `getSecret()`, ...) stay out of
`data` and are handed to the evaluation as unknown values through the document's
`parameter-file` hook (see `preflight.arm.parameters.load_parameter_file`).
"""
from __future__ import annotations

import os
from typing import Any

from ..arm.values import INVALID, Unknown, find_unknown
from .links import using_target

PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"


def load_bicepparam(path: str, text: str) -> Any:
    from ..arm.evaluator import standalone_scope
    from ..arm.template import Template
    from ..documents import Document, Kind
    from ..loaders import LoadError, join_pointer
    from .compiler import compile_parsed
    from .syntax import parse

    try:
        parsed = parse(text, bicepparam=True)
    except RecursionError:
        return Document(path, Kind.ARM_PARAMETERS, "bicepparam", text=text,
                        error=LoadError("invalid Bicep: nested too deeply"))
    if parsed.error is not None:
        e = parsed.error
        return Document(path, Kind.ARM_PARAMETERS, "bicepparam", text=text, error=LoadError(e.message, e.line, e.col))
    abspath = os.path.abspath(path)
    compiled = compile_parsed(parsed, abspath)
    template = Template.from_json(compiled.template)
    scope = standalone_scope(template)
    values: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    positions: dict[str, tuple[int, int]] = {"": (1, 1), "/parameters": (1, 1)}
    for d in parsed.decls:
        if d.kind != "param" or not d.name:
            continue
        try:
            value = scope.frame.parameter(d.name)
        except RecursionError:
            unknown[d.name] = Unknown.because(INVALID, f"the value of '{d.name}' is nested too deeply")
            continue
        pointer = join_pointer("/parameters", d.name)
        positions[pointer] = d.name_pos
        if d.value is not None:
            positions[join_pointer(pointer, "value")] = d.value.pos
        if find_unknown(value) is not None:
            unknown[d.name] = value
        else:
            values[d.name] = {"value": value}
    data = {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0", "parameters": values}
    doc = Document(path, Kind.ARM_PARAMETERS, "bicepparam", text=text, data=data)
    doc.positions = positions  # type: ignore[misc]
    doc.cache["bicep.using"] = using_target(abspath, text)
    doc.cache["bicep.notes"] = compiled.notes
    doc.cache["parameter-file"] = lambda shown: _parameter_file(doc, shown, values, unknown, positions)
    return doc


def _parameter_file(doc: Any, shown: str, values: dict, unknown: dict, positions: dict) -> Any:
    from ..arm.evaluator import Input
    from ..arm.parameters import ParameterFile
    from ..loaders import join_pointer

    pf = ParameterFile(shown, doc.abspath)
    for name, item in values.items():
        lower = name.lower()
        pf.values[lower] = Input("file", item["value"], origin=shown)
        pf.names[lower] = name
        pf.pointers[lower] = join_pointer(join_pointer("/parameters", name), "value")
    for name, value in unknown.items():
        lower = name.lower()
        pf.values[lower] = Input("file", value, origin=shown)
        pf.names[lower] = name
        pf.pointers[lower] = join_pointer("/parameters", name)
    return pf
