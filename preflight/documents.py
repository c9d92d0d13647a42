"""Documents: one file of a known kind, classified by its content and loaded once.

Classification is cheap on purpose: the file name's ending picks the format, a substring sniff
of the text rejects files that cannot be ours without parsing them, and only then is the file
parsed and its top-level shape checked. Unknown files are skipped silently.
"""
from __future__ import annotations

import ast
import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from .loaders import (JsonPositions, LoadError, Templated, TextLines, TooLargeToCheck, UnsupportedTag, decode,
                      load_json, load_yaml, load_yaml_untagged, lowered, split_pointer, yaml_positions)


class Kind(str, enum.Enum):
    ARM_TEMPLATE = "arm-template"
    ARM_PARAMETERS = "arm-parameters"
    CONDA = "conda-environment"
    DEPLOY_V1 = "deploy-config-v1"
    INFERENCE_V1 = "inference-config-v1"
    ONLINE_DEPLOYMENT_V2 = "online-deployment-v2"
    BATCH_DEPLOYMENT_V2 = "batch-deployment-v2"
    ENDPOINT_V2 = "endpoint-v2"
    SCORING_SCRIPT = "scoring-script"
    ENVIRONMENT_V1 = "environment-v1"  # azureml_environment.json: `python.condaDependencies`
    ENVIRONMENT_V2 = "environment-v2"  # v2 environment YAML: `image`/`build` and `conda_file`

    def __str__(self) -> str:
        return self.value


JSON_SUFFIXES = (".json", ".jsonc")
YAML_SUFFIXES = (".yml", ".yaml")
PY_SUFFIXES = (".py",)
BICEP_SUFFIXES = (".bicep", ".bicepparam")  # read by the Bicep front end (preflight.bicep)
SUFFIXES = JSON_SUFFIXES + YAML_SUFFIXES + PY_SUFFIXES + BICEP_SUFFIXES

# Front ends: formats another package reads into documents. The document layer knows their file
# endings and kinds (classification stays cheap); their parsers plug in here, so this layer never
# imports them: `preflight.bicep` registers "bicep" and "bicepparam", and the engine imports it.
FrontEndLoader = Callable[[str, str], "Document"]
_FRONT_ENDS: dict[str, FrontEndLoader] = {}


def register_front_end(fmt: str, load: FrontEndLoader) -> None:
    """Read files of format `fmt` with `load(path, text) -> Document` (its errors as PF001)."""
    _FRONT_ENDS[fmt] = load

_ARM_TEMPLATE_SCHEMA = re.compile(r"deploymentTemplate\.json#?", re.I)
_ARM_PARAMS_SCHEMA = re.compile(r"deploymentParameters\.json#?", re.I)
# Keys only a v1 deploy configuration has (azureml-core's `deploy_config_dict_to_obj` reads these).
_V1_DEPLOY_KEYS = {"computeType", "autoScaler", "containerResourceRequirements", "numReplicas",
                   "scoringTimeoutMs", "maxConcurrentRequestsPerContainer", "dnsNameLabel"}
_V2_BATCH_MARKERS = ("batchdeployment", "mini_batch_size", "output_action", "compute:")


@dataclass
class Document:
    """A classified, loaded file. `path` is as the user gave it (relative stays relative)."""

    path: str
    kind: Kind | None
    format: str  # "json" | "yaml" | "python"
    text: str = ""
    data: Any = None
    error: LoadError | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # models built once per document

    @cached_property
    def abspath(self) -> str:
        return os.path.abspath(self.path)

    @cached_property
    def directory(self) -> str:
        return os.path.dirname(self.abspath)

    @cached_property
    def lower_text(self) -> str:
        """The text lower-cased, for case-insensitive searches of ASCII words (computed once)."""
        return lowered(self.text)

    @cached_property
    def positions(self) -> Mapping[str, tuple[int, int]]:
        """Pointer -> (line, column); computed on first use, i.e. only for files with findings
        (for JSON, only for the pointers looked up)."""
        if self.format == "json":
            return JsonPositions(self.text)
        if self.format == "yaml":
            return yaml_positions(self.text)
        return {"": (1, 1)}

    def locate(self, pointer: str) -> tuple[int, int]:
        """Line and column for a pointer; the nearest existing ancestor when it has none."""
        positions = self.positions
        parts = split_pointer(pointer)
        while True:
            key = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)
            if key in positions:
                return positions[key]
            if not parts:
                return 1, 1
            parts.pop()

    def get(self, pointer: str, default: Any = None) -> Any:
        """The value at a JSON pointer in the loaded data, or `default`."""
        node = self.data
        for part in split_pointer(pointer):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return node


def format_of(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    if lower.endswith(YAML_SUFFIXES):
        return "yaml"
    if lower.endswith(PY_SUFFIXES):
        return "python"
    if lower.endswith(BICEP_SUFFIXES):
        return "bicepparam" if lower.endswith(".bicepparam") else "bicep"
    return None


def load_document(path: str, raw: bytes, explicit: bool = False) -> Document | None:
    """Classify and load one file's bytes. None when the file is not of a kind preflight reads."""
    fmt = format_of(path)
    if fmt is None:
        return None
    try:
        text = decode(raw)
    except LoadError as exc:
        # A file with our ending that is not text is broken, whatever it was meant to be.
        return Document(path, None, fmt, error=exc)
    if fmt == "python":
        return _python_document(path, text, explicit)
    if fmt in ("bicep", "bicepparam"):
        load = _FRONT_ENDS.get(fmt)
        return load(path, text) if load is not None else None  # no front end plugged in: not read
    kind = _sniff(fmt, text)
    if kind is None:
        return None
    try:
        data = load_json(text) if fmt == "json" else load_yaml(text)
    except LoadError as exc:
        templated = _templated(fmt, text, exc)
        if templated is not None:
            error, filled = templated
            meant = _confirm(kind, filled, text, fmt)
            if meant is None and (explicit or _strong_yaml_marker(text)):
                meant = kind
            return Document(path, meant, fmt, text=text, error=error) if meant is not None else None
        # The sniff found a marker of a known kind; for JSON templates that is strong enough to
        # report the broken file. A YAML file that merely mentions `dependencies` is not, unless
        # its structure, read without the tag it was refused for, is one of ours.
        if kind in (Kind.ARM_TEMPLATE, Kind.ARM_PARAMETERS) or explicit or _strong_yaml_marker(text) \
                or (isinstance(exc, TooLargeToCheck) and (fmt == "json" or _conda_shaped(text))):
            return Document(path, kind, fmt, text=text, error=exc)
        if isinstance(exc, UnsupportedTag):
            meant = _confirm(kind, load_yaml_untagged(text), text, fmt)
            if meant is not None:
                return Document(path, meant, fmt, text=text, error=exc)
        return None
    kind = _confirm(kind, data, text, fmt)
    if kind is None:
        return None
    return Document(path, kind, fmt, text=text, data=data)


# What template tools (Jinja, Mustache, Go templates, envsubst-like scripts) fill in: `{{ x }}`
# and `{% ... %}` / `{# ... #}`, on one line. `${{ x }}` (GitHub and Azure Pipelines expressions)
# is plain YAML already, and stays an unknown value for the rules.
_PLACEHOLDER = re.compile(r"\{\{[^\n]*?\}\}|\{%[^\n]*?%\}|\{#[^\n]*?#\}")


def _templated(fmt: str, text: str, exc: LoadError) -> tuple[Templated, Any] | None:
    """When a YAML file fails to parse only because of its template placeholders (it parses once
    each is filled in with a plain word), the file is a template for a script, not broken: its
    Templated error (at the placeholder nearest before the parse error) and its filled-in data,
    to tell its kind. None when the file does not parse even so: a real syntax error."""
    if fmt != "yaml" or isinstance(exc, (UnsupportedTag, TooLargeToCheck)) or "{" not in text:
        return None
    placeholders = list(_PLACEHOLDER.finditer(text))
    if not placeholders:
        return None

    def fill(m: re.Match[str]) -> str:  # same length: positions stay where they were
        return "x" * len(m.group()) if m.group().startswith("{{") else " " * len(m.group())

    try:
        filled = load_yaml(_PLACEHOLDER.sub(fill, text))
    except LoadError:
        return None
    lines = TextLines(text)
    at = [m for m in placeholders if lines.position(m.start())[0] <= exc.line] or placeholders
    first = at[-1]
    line, column = lines.position(first.start())
    shown = first.group() if len(first.group()) <= 40 else first.group()[:37] + "..."
    return Templated(f"template placeholder `{shown}`: this file is YAML only once a script fills "
                     "it in; not checked", line, column), filled


def sniff(path: str, raw: bytes) -> Kind | None:
    """The likely kind of a file from its name and a substring look at its text, without
    parsing it; `load_document` confirms it. None for files that cannot be ours (or not text)."""
    fmt = format_of(path)
    if fmt is None or fmt == "python":
        return Kind.SCORING_SCRIPT if fmt else None
    if fmt in ("bicep", "bicepparam"):
        return Kind.ARM_TEMPLATE if fmt == "bicep" else Kind.ARM_PARAMETERS
    try:
        return _sniff(fmt, decode(raw))
    except LoadError:
        return None


def _sniff(fmt: str, text: str) -> Kind | None:
    """A guess from substrings alone; `_confirm` checks it against the parsed structure."""
    head = text[:4096]
    if fmt == "json":
        if _ARM_TEMPLATE_SCHEMA.search(head):
            return Kind.ARM_TEMPLATE
        if _ARM_PARAMS_SCHEMA.search(head):
            return Kind.ARM_PARAMETERS
        if '"resources"' in text:
            return Kind.ARM_TEMPLATE
        if '"entryScript"' in text:
            return Kind.INFERENCE_V1
        if any(f'"{k}"' in text for k in _V1_DEPLOY_KEYS):
            return Kind.DEPLOY_V1
        if '"condaDependencies"' in text or '"userManagedDependencies"' in text:
            return Kind.ENVIRONMENT_V1
        if '"dependencies"' in text:
            return Kind.CONDA
        return None
    # YAML
    if "entryScript" in text:
        return Kind.INFERENCE_V1
    if "endpoint_name" in text or "Deployment.schema" in head:
        return Kind.ONLINE_DEPLOYMENT_V2
    if "Endpoint.schema" in head or "auth_mode" in text:
        return Kind.ENDPOINT_V2
    if any(k in text for k in _V1_DEPLOY_KEYS):
        return Kind.DEPLOY_V1
    if "conda_file" in text or "environment.schema" in head.lower():
        return Kind.ENVIRONMENT_V2
    if "dependencies" in text:
        return Kind.CONDA
    return None


_CONDA_TOP_KEYS = frozenset({"name", "channels", "dependencies", "prefix", "variables", "channel_priority"})
_TOP_LEVEL_KEY = re.compile(r"^([^\s#:'\"-][^:\n]*):", re.M)


def _conda_shaped(text: str) -> bool:
    """Every top-level key is a conda environment's: a file too large to parse is reported only
    when it is one (a large lock file of another tool that mentions `dependencies` is not ours)."""
    keys = {m.group(1).strip() for m in _TOP_LEVEL_KEY.finditer(text)}
    return "dependencies" in keys and keys <= _CONDA_TOP_KEYS


def _strong_yaml_marker(text: str) -> bool:
    head = text[:4096]
    return bool(re.search(r"^(computeType|entryScript|endpoint_name)\s*:", text, re.M)) or (
        "azuremlschemas" in head or "azureml/schemas" in head)


def _confirm(guess: Kind, data: Any, text: str, fmt: str) -> Kind | None:
    if not isinstance(data, dict):
        if guess in (Kind.ARM_TEMPLATE, Kind.ARM_PARAMETERS) and _ARM_TEMPLATE_SCHEMA.search(text[:4096]):
            return guess  # a template whose top level is not an object: report it, don't skip it
        return None
    schema = str(data.get("$schema", ""))
    lower_schema = schema.lower()
    # Azure deploys templates and parameter files written in JSON only (Bicep has its own front
    # end): a YAML file with `resources` and `parameters` is a pipeline or a manifest, not ARM.
    if fmt == "json":
        if _ARM_TEMPLATE_SCHEMA.search(schema):
            return Kind.ARM_TEMPLATE
        if _ARM_PARAMS_SCHEMA.search(schema):
            return Kind.ARM_PARAMETERS
        if "resources" in data and "deploymenttemplate" in lower_schema \
                or not schema and _arm_template_shaped(data):
            return Kind.ARM_TEMPLATE
    if "entryScript" in data:
        return Kind.INFERENCE_V1
    if "batchdeployment" in lower_schema:
        return Kind.BATCH_DEPLOYMENT_V2
    if "onlinedeployment" in lower_schema:
        return Kind.ONLINE_DEPLOYMENT_V2
    if "endpoint.schema" in lower_schema:
        return Kind.ENDPOINT_V2
    if "endpoint_name" in data and "name" in data:
        if any(k in data for k in ("mini_batch_size", "output_action", "output_file_name",
                                   "max_concurrency_per_instance", "retry_settings")) \
                or data.get("type") == "model" and "compute" in data:
            return Kind.BATCH_DEPLOYMENT_V2
        return Kind.ONLINE_DEPLOYMENT_V2
    if "auth_mode" in data and "name" in data and "dependencies" not in data:
        return Kind.ENDPOINT_V2
    if "computeType" in data or sum(k in data for k in _V1_DEPLOY_KEYS) >= 1 and "dependencies" not in data:
        return Kind.DEPLOY_V1
    if "environment.schema" in lower_schema or _is_environment_v2(data):
        return Kind.ENVIRONMENT_V2
    if _is_environment_v1(data):
        return Kind.ENVIRONMENT_V1
    if _is_conda(data):
        return Kind.CONDA
    return None


def _arm_template_shaped(data: dict) -> bool:
    """A template without its `$schema`: `resources` as a list (or, with languageVersion 2.0, a
    mapping by symbolic name) beside `contentVersion`, which only ARM files have, or beside
    `parameters` when every resource names its `type` and `apiVersion` as ARM resources do."""
    resources = data.get("resources")
    if isinstance(resources, dict):
        resources = list(resources.values())
    if not isinstance(resources, list):
        return False
    if "contentVersion" in data:
        return True
    return "parameters" in data and bool(resources) and all(
        isinstance(r, dict) and "type" in r and "apiVersion" in r for r in resources)


def _is_conda(data: dict) -> bool:
    if "dependencies" not in data or isinstance(data["dependencies"], dict) or schema_like(data):
        return False  # a mapping of dependencies is npm's or composer's, not conda's
    # A conda environment's keys are few; a run configuration or a pipeline also says
    # `dependencies` but has other top-level keys. (`dependencies` of the wrong type is still a
    # conda file: a broken one, which ENV009 reports.)
    allowed = {"name", "channels", "dependencies", "variables", "prefix", "channel_priority"}
    return set(data) <= allowed


def _is_environment_v2(data: dict) -> bool:
    # A v2 environment asset: a base image or Docker build, plus a conda file (path or mapping).
    return "conda_file" in data and ("image" in data or "build" in data) and "endpoint_name" not in data


def _is_environment_v1(data: dict) -> bool:
    # An Azure ML v1 Environment definition (Environment.save_to_directory's JSON).
    python = data.get("python")
    return isinstance(python, dict) and any(
        k in python for k in ("condaDependencies", "userManagedDependencies", "condaDependenciesFile"))


def schema_like(data: dict) -> bool:
    return "$schema" in data


_SCORE_NAME = re.compile(r"(^|[\\/])(score|scoring)[^\\/]*\.py$", re.I)


def _python_document(path: str, text: str, explicit: bool) -> Document | None:
    """A scoring script: named score*.py, or defining both init() and run() at top level."""
    named = bool(_SCORE_NAME.search(path))
    if not named and not ("def init" in text and "def run" in text):
        return None
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return Document(path, Kind.SCORING_SCRIPT, "python", text=text,
                        error=LoadError(f"invalid Python: {exc.msg}", exc.lineno or 1, (exc.offset or 1)))
    except (ValueError, RecursionError, MemoryError) as exc:
        return Document(path, Kind.SCORING_SCRIPT, "python", text=text,
                        error=LoadError(f"invalid Python: {exc}"))
    if not named:
        top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if not {"init", "run"} <= top:
            return None
    return Document(path, Kind.SCORING_SCRIPT, "python", text=text, data=tree)
