"""Parameter values and parameter files.

Precedence when a template reads `parameters('x')`, highest first:
  1. `--param x=VALUE` (Options.params);
  2. the parameter file being evaluated (`parameters.x.value`; `parameters.x.reference`, a Key
     Vault secret reference, is Unknown(secret));
  3. the template's `defaultValue` (itself an expression, evaluated in the template);
  4. otherwise Unknown ("no value"), or null for a `nullable` parameter.

Which parameter files a template is evaluated with:
  - `--parameters FILE` (Options.parameter_files): applied to every scanned template that
    declares at least one of the file's parameters (a file for another template shares none);
  - otherwise the template's own defaults, and each file paired with it in its folder:
    `X.json` with `X.parameters.json` and `X.parameters.<anything>.json` (so `azuredeploy.json`
    with `azuredeploy.parameters.json`), and a portal export's `template.json` with
    `parameters.json`. The defaults are kept beside paired files because a default is what any
    run that omits the parameter gets: a default `[]` for access policies is no mitigation.
Each is one `ParameterSet`; the template is evaluated once per set and a finding that holds
under several sets is reported once, naming them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .. import fs
from ..documents import load_document
from ..loaders import FileTooLarge, LoadError, decode, join_pointer, load_json
from .evaluator import Input
from .template import kitem
from .values import PLACEHOLDER, Unknown, pipeline_substituted

MAX_PARAMETER_FILE_BYTES = 4 * 1024 * 1024
# The Azure quickstart templates' test harness replaces these values before deploying
# (GEN-UNIQUE, GEN-UNIQUE-8, GEN-PASSWORD, GET-PREREQ-<output>): they are not the values deployed.
_PLACEHOLDER = re.compile(r"^(?:GEN|GET-PREREQ)-[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*$")
# The Azure Developer CLI substitutes `${NAME}` and `${NAME=default}` in a parameter file from its
# environment (`azd env set`, the shell) before deploying: the value is the environment's, which
# may override the default written there.
_SUBSTITUTION = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(?::?[-=])[^}]*)?\}")
MAX_SUBSTITUTED = 10_000  # strings of one value inspected for substitutions


@dataclass
class ParameterFile:
    """A parsed parameter file: each parameter's value (or secret reference) and pointer."""

    path: str  # as it should appear in messages (relative stays relative)
    abspath: str
    values: dict[str, Input] = field(default_factory=dict)  # by lower-cased name
    names: dict[str, str] = field(default_factory=dict)  # lower -> as written
    pointers: dict[str, str] = field(default_factory=dict)  # lower -> pointer of the value
    # Its values hold `${NAME}` substitutions: the Azure Developer CLI deploys it, and passes the
    # template only the parameters the template declares (ARM never sees the others).
    azd: bool = False


@dataclass
class ParameterSet:
    """The inputs of one evaluation of a template."""

    file: ParameterFile | None  # None: the template's defaults (plus --param)
    cli: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str | None:
        return self.file.path if self.file else None

    def inputs(self) -> dict[str, Input]:
        out = dict(self.file.values) if self.file else {}
        for name, value in self.cli.items():
            out[name.lower()] = Input("cli", value)
        return out


def read_parameter_file(data: Any, path: str, abspath: str, bare_ok: bool = False) -> ParameterFile | None:
    """A ParameterFile from loaded JSON; None when it is not a parameter file."""
    if not isinstance(data, dict):
        return None
    found = kitem(data, "parameters")
    base = ""
    if found is not None and isinstance(found[1], dict):
        params, base = found[1], join_pointer("", found[0])
    elif bare_ok and data and all(isinstance(v, dict) and (kitem(v, "value") or kitem(v, "reference"))
                                 for v in data.values()):
        params = data  # `az --parameters` also accepts a bare {"name": {"value": ...}} object
    else:
        return None
    pf = ParameterFile(path, abspath)
    for name, spec in params.items():
        if not isinstance(name, str) or not isinstance(spec, dict):
            continue
        lower = name.lower()
        pointer = join_pointer(base, name)
        value = kitem(spec, "value")
        if value is not None and isinstance(value[1], str) and _PLACEHOLDER.match(value[1]):
            pf.values[lower] = Input("placeholder", value[1], origin=path)
            pf.pointers[lower] = join_pointer(pointer, value[0])
        elif value is not None:
            budget = [MAX_SUBSTITUTED, 0]
            pf.values[lower] = Input("file", _substituted(value[1], budget, name, path), origin=path)
            pf.pointers[lower] = join_pointer(pointer, value[0])
            pf.azd = pf.azd or budget[1] > 0
        elif kitem(spec, "reference") is not None:
            pf.values[lower] = Input("secret", None, origin=path)
            pf.pointers[lower] = pointer
        else:
            continue
        pf.names[lower] = name
    return pf


def substituted(value: Any, parameter: str, origin: str) -> Any:
    """A parameter file's value with each string that holds an environment substitution
    (`${NAME}`, `${NAME=default}`) or a pipeline token (`#_name_#`) replaced by an Unknown: what
    the Azure Developer CLI or the pipeline puts there is known only where it deploys. The rest
    of the value (an array's length, an object's other keys) stays known."""
    return _substituted(value, [MAX_SUBSTITUTED, 0], parameter, origin)


def _substituted(v: Any, budget: list[int], parameter: str, origin: str) -> Any:
    # Not a closure calling itself: that would be a reference cycle left for the collector on
    # every parameter value. budget: [strings left to inspect, substitutions found]
    budget[0] -= 1
    if budget[0] < 0:
        return v
    if isinstance(v, str):
        found = _SUBSTITUTION.findall(v) if "${" in v else []
        if not found:
            return pipeline_substituted(v)
        budget[1] += 1
        names = ", ".join(dict.fromkeys(f"${{{n}}}" for n in found))
        key = f"env:{v}" if _SUBSTITUTION.fullmatch(v) else None  # the same text, the same value
        plural = "s" if "," in names else ""
        return Unknown.because(PLACEHOLDER, f"parameter '{parameter}' ({v!r} in {origin}) is set from the "
                               f"environment variable{plural} {names} by the Azure Developer CLI at deployment",
                               key=key)
    if isinstance(v, list):
        return [_substituted(i, budget, parameter, origin) for i in v]
    if isinstance(v, dict):
        return {k: _substituted(i, budget, parameter, origin) for k, i in v.items()}
    return v


def load_parameter_file(abspath: str, shown: str, ctx: Any, bare_ok: bool = False) -> ParameterFile | None:
    """A parameter file from the scan's documents, or read from disk; None if unusable."""
    def build() -> ParameterFile | None:
        doc = ctx.document_at(abspath) if ctx is not None else None
        if doc is None and abspath.lower().endswith(".bicepparam"):
            doc = _front_end_document(abspath)
        if doc is not None:
            if doc.error is not None or doc.data is None:
                return None
            if "parameter-file" in doc.cache:  # a front end's own reading (.bicepparam)
                return doc.cache["parameter-file"](shown)
            return read_parameter_file(doc.data, shown, abspath, bare_ok)
        try:
            data = load_json(decode(fs.read(abspath, MAX_PARAMETER_FILE_BYTES)))
        except (OSError, FileTooLarge, LoadError, RecursionError, ValueError):
            return None
        return read_parameter_file(data, shown, abspath, bare_ok)

    if ctx is None:
        return build()
    # `shown` is in the key: the values it builds name the file as `shown`.
    return ctx.model(f"arm.parameter-file:{abspath}:{bare_ok}:{shown}", build, local=True)


def _front_end_document(abspath: str) -> Any:
    """A parameter file a front end reads (.bicepparam), loaded by the document layer; None
    when it cannot be read."""
    raw = fs.read_or_none(abspath, MAX_PARAMETER_FILE_BYTES)
    return load_document(abspath, raw, explicit=True) if raw is not None else None


# Front ends pair parameter files of their own with a template (preflight.bicep: the
# `.bicepparam` files whose `using` names it): `find(template_abspath, folder, names, ctx)`
# gets the names in the template's folder that the JSON naming convention did not pair.
ParameterFinder = Callable[[str, str, "Sequence[str]", Any], "list[str]"]
PARAMETER_FINDERS: list[ParameterFinder] = []


def register_parameter_finder(find: ParameterFinder) -> None:
    if find not in PARAMETER_FINDERS:
        PARAMETER_FINDERS.append(find)


_PAIRED = re.compile(r"^(?P<stem>.+?)\.parameters(?:\.[^/\\]+)?\.jsonc?$", re.I)


_TEMPLATE_SUFFIXES = (".jsonc", ".json", ".bicep")


def paired_files(template_abspath: str, ctx: Any = None) -> list[str]:
    """Parameter files beside a template, by naming convention, sorted."""
    folder, base = os.path.split(template_abspath)
    stem = base.lower()
    for suffix in _TEMPLATE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
            break
    if ".parameters" in stem:
        return []
    try:
        by_stem, unpaired = _folder_pairs(folder) if ctx is None else \
            ctx.model(f"arm.paired:{folder}", lambda: _folder_pairs(folder), local=True)
    except OSError:
        return []
    names = by_stem.get(stem)
    out = [os.path.join(folder, name) for name in names] if names else []
    for find in PARAMETER_FINDERS:
        out += [p for p in find(template_abspath, folder, unpaired, ctx) if p not in out]
    return [p for p in out if fs.isfile(p)] if out else out


def _folder_pairs(folder: str) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """A folder's parameter files by the lower-cased template stem they pair with (each list in
    sorted file-name order), and its other file names (for PARAMETER_FINDERS): read once per
    folder, not per template.
    A name pairs with at most one stem: `X.parameters[.*].json` with X, and `parameters.json`
    (which that pattern never matches) with `template`."""
    by_stem: dict[str, list[str]] = {}
    unpaired: list[str] = []
    for name in sorted(fs.listdir(folder)):
        m = _PAIRED.match(name) if ".parameters" in name.lower() else None
        if m:
            by_stem.setdefault(m.group("stem").lower(), []).append(name)
        elif name.lower() == "parameters.json":
            by_stem.setdefault("template", []).append(name)
        else:
            unpaired.append(name)
    return by_stem, tuple(unpaired)


def _shown(template_path: str, abspath: str) -> str:
    """A path for messages, relative like the template's path when the template's was."""
    if os.path.isabs(template_path):
        return abspath
    folder = os.path.dirname(template_path)
    return os.path.join(folder, os.path.basename(abspath)) if folder else os.path.basename(abspath)


def parameter_sets(doc: Any, ctx: Any, declared: set[str]) -> list[ParameterSet]:
    """The parameter sets a template document is evaluated with (see the module docstring).
    `declared` is the template's lower-cased parameter names."""
    options = getattr(ctx, "options", None)
    cli = {k: v for k, v in (getattr(options, "params", None) or {}).items() if k.lower() in declared}
    explicit = list(getattr(options, "parameter_files", ()) or ())
    files: list[ParameterFile] = []
    for path in explicit:
        pf = load_parameter_file(os.path.abspath(path), path, ctx, bare_ok=True)
        # A file meant for another template shares none of this one's parameter names; one that
        # shares some is applied (and any name it sets that the template lacks is reported).
        if pf is not None and set(pf.names) & declared:
            files.append(pf)
    if files:
        return [ParameterSet(pf, cli) for pf in files]
    sets = [ParameterSet(None, cli)]
    for abspath in paired_files(doc.abspath, ctx):
        pf = load_parameter_file(abspath, _shown(doc.path, abspath), ctx)
        if pf is not None:
            sets.append(ParameterSet(pf, cli))
    return sets


def undeclared_in_file(pf: ParameterFile, declared: set[str]) -> list[str]:
    """Names a parameter file sets that the template does not declare (ARM rejects them)."""
    return [pf.names[n] for n in pf.names if n not in declared]

