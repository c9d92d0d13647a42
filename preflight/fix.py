"""Autofix for environments: pin unpinned packages from a lock, add the missing serving package.

    preflight fix PATH... [--pins LOCK] [--diff]        (or `preflight scan --fix`)

What gets fixed is what the ENV rules report (the same predicates, the same configuration):
ENV004/ENV005 packages are pinned to the version the lock names, when that version satisfies the
constraint already written; ENV001 adds `azureml-defaults` and ENV003 adds
`azureml-inference-server-http`, pinned from the lock when it has them.

Edits are minimal text splices at the positions the YAML composer (or the JSON tokenizer) gives
for each value, so everything else in the file stays byte for byte: comments, order, quoting,
indentation (even when it differs between lists), line endings, a BOM. A round-trip dumper
re-indents every list to one style; a splice does not. Every edited text is parsed again and
must equal the original data with exactly the intended changes, or the file is left alone and
the fix reported as not applied. Files are written by write_fixed_file: atomically (a temporary
file in the same folder, same mode, owner and group, then a rename), never through a symlink that
leaves the scanned tree, never over a read-only file or one that changed since it was read; and
only files under the paths asked for are touched.
"""
from __future__ import annotations

import copy
import difflib
import errno
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import fs
from .conda import (AZUREML_DEFAULTS, INFERENCE_SERVER, V1_MINIMUM, CondaPackage, PipRequirement, parse_matchspec,
                    parse_pip_line, unpinned_conda_packages, unpinned_pip_requirements, v1_serving, v2_serving)
from .documents import Document, Kind
from .loaders import (JSON_STRING, FileTooLarge, LoadError, TextLines, TooDeep, decode, encode_like, json_positions,
                      load_json, load_yaml, read_regular_file, split_pointer)
from .project import V1_SCORING, V2_SCORING, held_environments, pin_policy


class PinsError(Exception):
    """The lock given with --pins cannot be read; the CLI exits 2."""


# ----------------------------------------------------------------------------- the lock

@dataclass
class Pins:
    """Exact versions from a lock: `pip freeze`, `conda list --export`, `conda list`,
    `conda env export`, or `pip list --format=json`. Packages conda lists from the `pypi`
    channel (build `pypi_0`) were installed by pip and count as pip pins."""

    source: str
    pip: dict[str, str] = field(default_factory=dict)  # canonical name -> version
    conda: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.pip or self.conda)

    # A package is usually the same release whichever installer put it in the tested environment
    # (`pip freeze` also lists conda-installed packages): look in the other list second.
    def for_conda(self, name: str) -> str | None:
        return self.conda.get(name) or self.pip.get(name)

    def for_pip(self, name: str) -> str | None:
        return self.pip.get(name) or self.conda.get(name)


MAX_PINS_BYTES = 16 * 1024 * 1024


def load_pins(path: str) -> Pins:
    """The lock at `path`: a regular file only (a FIFO or a device must not hang the run)."""
    try:
        raw = read_regular_file(path, MAX_PINS_BYTES)
    except OSError as exc:
        raise PinsError(f"--pins {path}: cannot read: {exc.strerror or exc}") from None
    except FileTooLarge as exc:
        raise PinsError(f"--pins {path}: {exc.size:,} bytes, over the {MAX_PINS_BYTES:,}-byte limit") from None
    try:
        pins = parse_pins(decode(raw), os.path.basename(path))
    except LoadError as exc:
        raise PinsError(f"--pins {path}: {exc.message}") from None
    if not pins:
        raise PinsError(f"--pins {path}: no package versions found (expected `pip freeze`, "
                        "`conda list --export` or `conda env export` output)")
    return pins


_CONDA_EXPORT = re.compile(r"^([A-Za-z0-9_.\-]+)=([^=\s]+)(?:=(\S+))?$")
_VERSIONISH = re.compile(r"^\d[0-9A-Za-z.+!_-]*$")


def parse_pins(text: str, source: str) -> Pins:
    """The versions a lock names. TooDeep (a LoadError) for a document nested too deep to read;
    other syntax errors fall back to reading the text line by line."""
    pins = Pins(source)
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = load_json(stripped)
        except TooDeep:
            raise
        except LoadError:
            items = None
        if isinstance(items, list):  # pip list --format=json
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("version"), str):
                    pins.pip[canonicalize_name(item["name"])] = item["version"]
            return pins
    if re.search(r"^dependencies\s*:", text, re.M):  # conda env export
        try:
            data = load_yaml(text)
        except TooDeep:
            raise
        except LoadError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("dependencies"), list):
            for item in data["dependencies"]:
                if isinstance(item, str):
                    _add_conda_line(pins, item.strip())
                elif isinstance(item, dict) and isinstance(item.get("pip"), list):
                    for line in item["pip"]:
                        if isinstance(line, str):
                            _add_pip_line(pins, line)
            return pins
    for line in text.splitlines():
        body = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not body or body.startswith("-"):
            continue
        if "==" in body or " @ " in body:
            _add_pip_line(pins, body)
        elif _CONDA_EXPORT.match(body):
            _add_conda_line(pins, body)
        else:
            columns = body.split()  # `conda list`: name version build [channel]
            if 2 <= len(columns) <= 4 and _VERSIONISH.match(columns[1]):
                target = pins.pip if (len(columns) == 4 and columns[3] == "pypi") else pins.conda
                target[canonicalize_name(columns[0])] = columns[1]
    return pins


def _add_pip_line(pins: Pins, line: str) -> None:
    req = parse_pip_line(line, "")
    if req.kind != "requirement" or not req.name or not req.specifier:
        return
    exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
    if exact:
        pins.pip[req.name] = exact[0]


def _add_conda_line(pins: Pins, line: str) -> None:
    spec = line.split("::", 1)[-1]
    m = _CONDA_EXPORT.match(spec)
    if not m:
        return
    name, version, build = canonicalize_name(m.group(1)), m.group(2), m.group(3) or ""
    if build.startswith("pypi"):
        pins.pip[name] = version
    else:
        pins.conda[name] = version


# ----------------------------------------------------------------------------- planning

@dataclass(frozen=True)
class Change:
    op: str  # "replace" (a list item), "append" (to a list), "pip-section" (a new `pip:` list), "pip-package"
    pointer: str  # replace: the item; append: the list; pip-section/pip-package: the dependencies list
    value: str
    description: str


@dataclass(frozen=True)
class Note:
    pointer: str
    message: str
    fixes: int = 1  # how many planned fixes it stands for


@dataclass
class FilePlan:
    doc: Document
    changes: list[Change] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)  # fixes that could not be applied, and why
    original: str = ""
    new: str = ""
    written: bool = False

    @property
    def path(self) -> str:
        return self.doc.path

    def refuse(self, message: str) -> None:
        """Keep the file as it is, and say why every planned change was dropped."""
        for change in self.changes:
            self.notes.append(Note(change.pointer, f"{change.description}: {message}"))
        self.changes = []
        self.new = self.original

    def refuse_file(self, reason: str) -> None:
        """Keep the file as it is for a reason of the whole file's: one note, at its top."""
        undone = ", ".join(change.description for change in self.changes)
        self.notes.append(Note("", f"{reason} ({undone})", fixes=len(self.changes)))
        self.changes = []
        self.new = self.original


def plan_document(doc: Document, ctx: Any, pins: Pins | None, reported: Callable[[str, str], bool]) -> FilePlan:
    """The fixes for one document. `reported(rule_id, pointer)` says whether the scan reports
    that finding (rule selected for this file, not suppressed inline): only those are fixed."""
    plan = FilePlan(doc, original=doc.text, new=doc.text)
    if doc.error is not None:
        return plan
    for held in held_environments(doc, ctx):
        env = held.env
        policy = pin_policy(doc, ctx)
        if pins is not None:
            for package in unpinned_conda_packages(env, policy):
                if reported("ENV004", package.pointer):
                    _plan_conda_pin(plan, package, pins)
            for req in unpinned_pip_requirements(env, policy):
                if reported("ENV005", req.pointer):
                    _plan_pip_pin(plan, req, pins)
        anchor = _anchor(env)
        v1 = [u for u in held.uses_for(V1_SCORING) if not u.exempt]
        if v1 and v1_serving(env).state == "missing" and reported("ENV001", anchor):
            _plan_serving_package(plan, env, AZUREML_DEFAULTS, pins, minimum=V1_MINIMUM)
        v2 = [u for u in held.uses_for(V2_SCORING) if not u.exempt]
        if v2 and v2_serving(env).state == "missing" and reported("ENV003", anchor):
            _plan_serving_package(plan, env, INFERENCE_SERVER, pins)
    return plan


def _plan_conda_pin(plan: FilePlan, package: CondaPackage, pins: Pins) -> None:
    version = pins.for_conda(package.name)
    if version is None:
        plan.notes.append(Note(package.pointer, f"conda package '{package.name}': no version for it in {pins.source}"))
        return
    new, problem = repin_conda(package, version)
    if problem:
        plan.notes.append(Note(package.pointer, f"conda package '{package.name}': {problem}"))
    else:
        plan.changes.append(Change("replace", package.pointer, new, f"pinned {new.split('::')[-1]}"))


def _plan_pip_pin(plan: FilePlan, req: PipRequirement, pins: Pins) -> None:
    name = req.name or req.text.strip()
    if req.source is not None:
        plan.notes.append(Note(req.pointer, f"pip package '{name}' is in {req.where}: pin it there"))
        return
    if req.is_vcs:
        plan.notes.append(Note(req.pointer, f"pip package '{name}': a VCS reference; pin a commit hash by hand"))
        return
    version = pins.for_pip(req.name or "")
    if version is None:
        plan.notes.append(Note(req.pointer, f"pip package '{name}': no version for it in {pins.source}"))
        return
    new, problem = repin_pip(req, version)
    if problem:
        plan.notes.append(Note(req.pointer, f"pip package '{name}': {problem}"))
    else:
        plan.changes.append(Change("replace", req.pointer, new, f"pinned {new.strip()}"))


def _plan_serving_package(plan: FilePlan, env: Any, name: str, pins: Pins | None,
                          minimum: Version | None = None) -> None:
    line = name
    version = pins.for_pip(name) if pins is not None else None
    if version is not None:
        try:
            too_old = minimum is not None and Version(version) < minimum
        except InvalidVersion:
            plan.notes.append(Note(_anchor(env), f"add {name}: {pins.source} has an invalid version {version!r}"))
            return
        if too_old:
            plan.notes.append(Note(_anchor(env), f"add {name}: {pins.source} pins {version}, below {minimum}; "
                                                 "update the lock"))
            return
        line = f"{name}=={version}"
    if env.pip_pointers:
        pip_list = env.pip_pointers[-1]
        plan.changes.append(Change("append", pip_list, line, f"added {line}"))
    elif env.dependencies_pointer is not None:
        plan.changes.append(Change("pip-section", env.dependencies_pointer, line, f"added {line}"))
        if env.conda_package("pip") is None:
            pip_version = pins.for_conda("pip") if pins is not None else None
            conda_pip = f"pip={pip_version}" if pip_version else "pip"
            plan.changes.append(Change("pip-package", env.dependencies_pointer, conda_pip, f"added {conda_pip}"))
    else:
        plan.notes.append(Note(_anchor(env), f"add {name}: the environment has no `dependencies` list"))


def _anchor(env: Any) -> str:
    return env.pip_pointers[-1] if env.pip_pointers else (env.dependencies_pointer or env.base)


# ----------------------------------------------------------------------------- rewriting one entry

_PIP_HEAD = re.compile(r"^\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?")


def repin_pip(req: PipRequirement, version: str) -> tuple[str, str | None]:
    """The requirement line pinned to `version` (name, extras, marker and comment kept as
    written), or a reason it cannot be done safely."""
    try:
        wanted = Version(version)
    except InvalidVersion:
        return "", f"the lock's version {version!r} is not a valid version"
    if req.specifier and not req.specifier.contains(wanted, prereleases=True):
        return "", f"the lock has {version}, outside `{req.specifier}` as written"
    text = req.text
    if "--hash" in text:
        return "", "the line carries hashes; pin it by hand"
    head = _PIP_HEAD.match(text)
    if head is None or req.url:
        return "", "cannot rewrite this line safely"
    rest = text[head.end():]
    tail_at = re.search(r";|\s#", rest)
    tail = rest[tail_at.start():] if tail_at else ""
    new = head.group().rstrip() + "==" + version + tail
    try:
        parsed = Requirement(new.split(" #", 1)[0].strip())
    except InvalidRequirement:
        return "", "cannot rewrite this line safely"
    same = (canonicalize_name(parsed.name) == req.name and frozenset(parsed.extras) == req.extras
            and (str(parsed.marker) if parsed.marker else None) == req.marker)
    if not same or str(parsed.specifier) != f"=={version}":
        return "", "cannot rewrite this line safely"
    return new, None


_CONDA_HEAD = re.compile(r"^\s*(?:[^\s:]+::)?[A-Za-z0-9_.\-]+")


def repin_conda(package: CondaPackage, version: str) -> tuple[str, str | None]:
    """The MatchSpec pinned to `version` (`name=X.Y.Z`, or `name==X.Y` for shorter versions; the
    space form stays a space form), or a reason it cannot be done safely."""
    if package.form == "bracket":
        return "", "bracket syntax; pin it by hand"
    if not re.fullmatch(r"[0-9A-Za-z.+_!]+", version):
        return "", f"the lock's version {version!r} is not a plain version"
    if package.version:
        alternatives = package.alternatives()
        try:
            wanted = Version(version)
        except InvalidVersion:
            wanted = None
        if alternatives is None or wanted is None:
            return "", f"cannot compare `{package.version}` with the lock's {version}"
        if alternatives and not any(s.contains(wanted, prereleases=True) for s in alternatives):
            return "", f"the lock has {version}, outside `{package.version}` as written"
    head = _CONDA_HEAD.match(package.text)
    if head is None:
        return "", "cannot rewrite this entry safely"
    if package.form == "space":
        new = f"{head.group()} {version}"
    else:
        new = head.group() + ("=" if len(version.split(".")) >= 3 else "==") + version
    check = parse_matchspec(new, package.pointer)
    if check.name != package.name or not check.is_pinned():
        return "", "cannot rewrite this entry safely"
    return new, None


# ----------------------------------------------------------------------------- splicing text

class EditError(Exception):
    """A change that cannot be spliced into this text safely."""


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


class YamlText:
    """Positions of the values of one YAML text, from PyYAML's composer (pure Python, so marks
    are character offsets)."""

    def __init__(self, text: str):
        self.text = text
        self.nodes: dict[str, yaml.Node] = {}
        self.flow: set[str] = set()
        self.aliased: set[str] = set()
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        seen: dict[int, str] = {}
        work = [(root, "", False)] if root is not None else []
        while work:
            node, pointer, in_flow = work.pop()
            if id(node) in seen:
                self.aliased.add(pointer)
                self.aliased.add(seen[id(node)])
                continue
            seen[id(node)] = pointer
            self.nodes[pointer] = node
            if in_flow:
                self.flow.add(pointer)
            child_flow = in_flow or bool(getattr(node, "flow_style", False))
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    name = str(key.value).replace("~", "~0").replace("/", "~1")
                    work.append((value, f"{pointer}/{name}", child_flow))
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    work.append((item, f"{pointer}/{index}", child_flow))

    def _node(self, pointer: str) -> yaml.Node:
        if pointer in self.aliased:
            raise EditError("the value is a YAML alias or anchor")
        node = self.nodes.get(pointer)
        if node is None:
            raise EditError("the value is no longer where it was")
        return node

    def render(self, value: str, style: str | None, in_flow: bool) -> str:
        if style == "'":
            return "'" + value.replace("'", "''") + "'"
        if style == '"':
            return json.dumps(value, ensure_ascii=False)
        plain_ok = not (in_flow and any(c in value for c in ",[]{}"))
        if plain_ok:
            try:
                plain_ok = yaml.safe_load(f"- {value}") == [value]
            except yaml.YAMLError:
                plain_ok = False
        return value if plain_ok else "'" + value.replace("'", "''") + "'"

    def replace(self, pointer: str, value: str) -> Splice:
        node = self._node(pointer)
        if not isinstance(node, yaml.ScalarNode) or node.style in ("|", ">"):
            raise EditError("not a one-line value")
        if node.start_mark.line != node.end_mark.line:
            raise EditError("the value spans several lines")
        return Splice(node.start_mark.index, node.end_mark.index, self.render(value, node.style, pointer in self.flow))

    def _item_line(self, node: yaml.Node) -> tuple[int, str]:
        """(offset of the line start, `  - ` prefix) of a block sequence item."""
        start = self.text.rfind("\n", 0, node.start_mark.index) + 1
        prefix = self.text[start:node.start_mark.index]
        if not re.fullmatch(r"[ \t]*-[ \t]+", prefix):
            raise EditError("the list is not written one item per line")
        return start, prefix

    def _after_line(self, node: yaml.Node) -> tuple[int, str]:
        """The offset just after the line where `node` ends, and a newline to prepend if the
        text ends on that line without one."""
        end = self.text.find("\n", node.end_mark.index)
        if end < 0:
            return len(self.text), _newline(self.text)
        return end + 1, ""

    def _block_list(self, pointer: str) -> yaml.SequenceNode:
        node = self._node(pointer)
        if not isinstance(node, yaml.SequenceNode) or node.flow_style or pointer in self.flow or not node.value:
            raise EditError("the list is empty or written inline ([...])")
        last = node.value[-1]
        if not isinstance(last, yaml.ScalarNode) or last.start_mark.line != last.end_mark.line:
            raise EditError("the list's last item is not a one-line value")
        return node

    def append(self, pointer: str, value: str) -> Splice:
        last = self._block_list(pointer).value[-1]
        _, prefix = self._item_line(last)
        at, lead = self._after_line(last)
        nl = _newline(self.text)
        return Splice(at, at, f"{lead}{prefix}{self.render(value, None, False)}{nl}")

    def pip_section(self, pointer: str, values: list[str], conda_pip: str | None) -> Splice:
        """A new `- pip:` item (after `- pip` itself when missing) at the end of `dependencies`."""
        last = self._block_list(pointer).value[-1]
        _, prefix = self._item_line(last)
        at, lead = self._after_line(last)
        nl = _newline(self.text)
        dash = len(prefix) - len(prefix.lstrip(" \t"))
        lines = [f"{prefix}{conda_pip}"] if conda_pip else []
        lines.append(f"{prefix}pip:")
        lines += [f"{' ' * (dash + 4)}- {self.render(v, None, False)}" for v in values]
        return Splice(at, at, lead + nl.join(lines) + nl)


class JsonText:
    """Positions of the array items of one JSON text (strings only are edited)."""

    _STRING = re.compile(JSON_STRING, re.S)

    def __init__(self, text: str):
        self.text = text
        self.positions = json_positions(text)
        self.lines = TextLines(text)

    def _offset(self, pointer: str) -> int:
        if pointer not in self.positions:
            raise EditError("the value is no longer where it was")
        line, column = self.positions[pointer]
        return self.lines.starts[line - 1] + column - 1

    def _string_at(self, pointer: str) -> tuple[int, int]:
        start = self._offset(pointer)
        m = self._STRING.match(self.text, start)
        if m is None:
            raise EditError("not a string")
        return m.start(), m.end()

    def replace(self, pointer: str, value: str) -> Splice:
        start, end = self._string_at(pointer)
        return Splice(start, end, json.dumps(value, ensure_ascii=False))

    def append(self, pointer: str, value: str, count: int) -> Splice:
        if count == 0:
            raise EditError("the list is empty")
        last = f"{pointer}/{count - 1}"
        start, end = self._string_at(last)
        previous_line = self.positions.get(f"{pointer}/{count - 2}", (None,))[0] if count > 1 else None
        line, column = self.positions[last]
        if previous_line is not None and previous_line != line:
            indent = self.text[self.lines.starts[line - 1]: start]
            if indent.strip():
                raise EditError("cannot tell the list's layout")
            return Splice(end, end, f",{_newline(self.text)}{indent}{json.dumps(value, ensure_ascii=False)}")
        return Splice(end, end, f", {json.dumps(value, ensure_ascii=False)}")


def apply_changes(plan: FilePlan) -> None:
    """Splice every planned change into the text and verify the result; on any doubt, keep
    the file unchanged and turn the changes into notes."""
    if not plan.changes:
        return
    text = plan.original
    try:
        splices = _splices(plan.doc, text, plan.changes)
    except (EditError, yaml.YAMLError, LoadError) as exc:
        plan.refuse(f"not applied: {exc}")
        return
    new = text
    for splice in sorted(splices, key=lambda s: (s.start, s.end), reverse=True):
        new = new[:splice.start] + splice.text + new[splice.end:]
    expected = _expected_data(plan.doc.data, plan.changes)
    try:
        got = load_json(new) if plan.doc.format == "json" else yaml.safe_load(new)
    except (LoadError, yaml.YAMLError):
        got = _Mismatch
    if got != expected:
        plan.refuse("not applied: the edit would change more than this entry")
        return
    plan.new = new


_Mismatch = object()


def _splices(doc: Document, text: str, changes: list[Change]) -> list[Splice]:
    out: list[Splice] = []
    if doc.format == "json":
        editor_json = JsonText(text)
        appended: dict[str, int] = {}
        for change in changes:
            if change.op == "replace":
                out.append(editor_json.replace(change.pointer, change.value))
            elif change.op == "append":
                items = doc.get(change.pointer)
                count = len(items) if isinstance(items, list) else 0
                if appended.get(change.pointer):
                    raise EditError("two additions to one JSON list")
                appended[change.pointer] = 1
                out.append(editor_json.append(change.pointer, change.value, count))
            else:
                raise EditError("adding a `pip` section to JSON; add it by hand")
        return out
    editor = YamlText(text)
    pip_package = next((c.value for c in changes if c.op == "pip-package"), None)
    appends: dict[str, list[str]] = {}
    sections: dict[str, list[str]] = {}
    for change in changes:
        if change.op == "replace":
            out.append(editor.replace(change.pointer, change.value))
        elif change.op == "append":
            appends.setdefault(change.pointer, []).append(change.value)
        elif change.op == "pip-section":
            sections.setdefault(change.pointer, []).append(change.value)
    for pointer, values in sections.items():
        out.append(editor.pip_section(pointer, values, pip_package))
    for pointer, values in appends.items():
        splices = [editor.append(pointer, v) for v in values]
        out.append(Splice(splices[0].start, splices[0].end, "".join(s.text for s in splices)))
    return out


def _expected_data(data: Any, changes: list[Change]) -> Any:
    expected = copy.deepcopy(data)
    pip_package = next((c.value for c in changes if c.op == "pip-package"), None)
    added: list[str] | None = None
    for change in changes:
        parts = split_pointer(change.pointer)
        if change.op == "replace":
            parent = _walk(expected, parts[:-1])
            parent[int(parts[-1]) if isinstance(parent, list) else parts[-1]] = change.value
        elif change.op == "append":
            _walk(expected, parts).append(change.value)
        elif change.op == "pip-section":
            deps = _walk(expected, parts)
            if not (deps and isinstance(deps[-1], dict) and deps[-1].get("pip") is added):
                if pip_package:
                    deps.append(pip_package)
                added = []
                deps.append({"pip": added})
            added.append(change.value)
    return expected


def _walk(node: Any, parts: list[str]) -> Any:
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


# ----------------------------------------------------------------------------- writing

def inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def scanned_trees(paths: list[str]) -> list[str]:
    """The folders a fix may write in: each folder given, and the folder of each file given."""
    out = []
    for p in paths:
        p = os.path.abspath(p)
        out.append(os.path.realpath(p if os.path.isdir(p) else os.path.dirname(p)))
    return out


# A temporary file is `.NAME.PID.TOKEN.preflight-tmp` beside the file it replaces: hidden, and
# naming the process that made it, so a later run can tell a leftover of a killed run (its process
# gone) from a write in progress, and never mistakes anything else for one.
TEMP_SUFFIX = ".preflight-tmp"
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>[1-9][0-9]{0,9})\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX), re.S)
# A write takes seconds at most: a temporary file untouched for an hour belongs to no live write,
# whatever process now has its pid.
STALE_AFTER_NS = 3600 * 10**9
CHANGED = "changed while fixing, not written"
# Opening never follows a symlink at the last step (ELOOP instead), nor leaks into a child.
_OPEN_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class NotWritten(Exception):
    """A fixed file was left exactly as it was; the message says why, in one line."""


def write_fixed_file(path: str, original: bytes, new: bytes, roots: list[str] | None = None) -> None:
    """Replace the content of the file at `path`, which the fix was computed from `original`, with
    `new`, all at once, or raise NotWritten and leave it as it was.

    Refused: a file outside `roots` (when given) once links are resolved, a file this user may
    not write or that has no write permission bit at all (so even root leaves a read-only file
    alone), and a file whose owner or group the rewritten file could not keep. The new content
    goes to a temporary file created exclusively in the same folder (never through a link), with
    the original's mode, owner and group, flushed to disk; just before the rename the original is
    read again and must still be the same file with the same bytes, size and modification time,
    so a change made meanwhile by someone else (an append, an editor's save) is never lost. A
    symlink inside the roots is kept: its target is replaced."""
    real = os.path.realpath(path)
    if roots is not None and not inside(real, roots):
        raise NotWritten("not applied: the file is a symlink to outside the scanned folders")
    try:
        before = _unchanged(real, original)
        _check_writable(real, before)
        fd, tmp = _create_temp(real)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(new)
                f.flush()
                _keep_owner(f.fileno(), before)  # first: a change of owner clears set-id bits
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), stat.S_IMODE(before.st_mode))
                else:  # pragma: no cover - Windows before Python 3.13
                    os.chmod(tmp, stat.S_IMODE(before.st_mode))
                os.fsync(f.fileno())
            if _identity(_unchanged(real, original)) != _identity(before):
                raise NotWritten(CHANGED)
            os.replace(tmp, real)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise NotWritten(f"not written: {exc.strerror or exc}") from None


def _unchanged(real: str, original: bytes) -> os.stat_result:
    """The status of the file at `real`, after checking it is still a regular file (not a link
    swapped in) holding exactly `original`."""
    try:
        fd = os.open(real, os.O_RDONLY | _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOENT):
            raise NotWritten(CHANGED) from None
        raise
    try:
        status = os.fstat(fd)
        chunks, size = [], 0
        while size <= len(original):  # one byte more than expected is enough to see a change
            chunk = os.read(fd, len(original) + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if not stat.S_ISREG(status.st_mode) or b"".join(chunks) != original:
        raise NotWritten(CHANGED)
    return status


def _identity(status: os.stat_result) -> tuple[int, ...]:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_mode,
            status.st_uid, status.st_gid)


def _check_writable(real: str, status: os.stat_result) -> None:
    # The rename needs only the folder's write permission: the file's own must be checked here.
    # os.access says yes to root for any file, hence the mode bits too.
    if not status.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise NotWritten(f"read-only (mode {stat.S_IMODE(status.st_mode):04o}), not written")
    if not os.access(real, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        raise NotWritten("not writable by this user, not written")


def _keep_owner(fd: int, status: os.stat_result) -> None:
    if not hasattr(os, "fchown"):  # pragma: no cover - no owners to keep (Windows)
        return
    made = os.fstat(fd)
    if (made.st_uid, made.st_gid) == (status.st_uid, status.st_gid):
        return
    try:
        os.fchown(fd, status.st_uid, status.st_gid)
    except PermissionError:
        pass  # only an owner change this user may not make; checked below
    made = os.fstat(fd)
    if (made.st_uid, made.st_gid) != (status.st_uid, status.st_gid):
        raise NotWritten(f"owned by {status.st_uid}:{status.st_gid}, which a rewritten file could not keep "
                         f"(it would be {made.st_uid}:{made.st_gid}), not written")


def _create_temp(real: str) -> tuple[int, str]:
    """A new temporary file beside `real`: O_EXCL fails on any existing name, a dangling symlink
    included, so the file is never created through a link."""
    directory, name = os.path.split(real)
    while len(os.fsencode(name)) > 200:  # room for the rest within a file name's 255 bytes
        name = name[:-1]
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", directory)


def remove_stale_temp_files(directory: str, started_ns: int) -> list[str]:
    """Remove the temporary files an interrupted fix left in `directory`, and return their paths.

    Removed: a file named exactly as write_fixed_file names them, a regular file (not a link or a
    folder) with one name, owned by this user, last written before this run started (`started_ns`,
    time.time_ns()), whose process is no longer running or which has not been written for an hour
    (its pid may have been reused). A write in progress in a running fix is left alone; so is
    everything else."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None:
            continue
        try:
            status = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (not stat.S_ISREG(status.st_mode) or status.st_nlink != 1 or status.st_mtime_ns >= started_ns
                or (hasattr(os, "geteuid") and status.st_uid != os.geteuid())):
            continue
        if status.st_mtime_ns >= started_ns - STALE_AFTER_NS and _process_running(int(match.group("pid"))):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed


def _process_running(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists (another user's): running
        return True
    return True


def write_plan(plan: FilePlan, roots: list[str], original: bytes) -> None:
    """Write one file's fixes; `original` is the file's content they were planned from."""
    if plan.new == plan.original:
        return
    try:
        write_fixed_file(plan.doc.abspath, original, encode_like(original, plan.new), roots)
    except NotWritten as exc:
        plan.refuse_file(str(exc))
        return
    plan.written = True


def diff(plan: FilePlan) -> str:
    if plan.new == plan.original:
        return ""
    lines = difflib.unified_diff(plan.original.splitlines(keepends=True), plan.new.splitlines(keepends=True),
                                 fromfile=f"a/{plan.path}", tofile=f"b/{plan.path}")
    out = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return out


# ----------------------------------------------------------------------------- one run

ENV_KINDS = (Kind.CONDA, Kind.ENVIRONMENT_V1, Kind.ENVIRONMENT_V2, Kind.INFERENCE_V1, Kind.ONLINE_DEPLOYMENT_V2,
             Kind.BATCH_DEPLOYMENT_V2)


@dataclass
class FixResult:
    plans: list[FilePlan]
    pins: Pins | None
    removed: list[str] = field(default_factory=list)  # temporary files left by an interrupted fix

    @property
    def changed(self) -> list[FilePlan]:
        return [p for p in self.plans if p.new != p.original]

    @property
    def notes(self) -> list[tuple[FilePlan, Note]]:
        return [(p, n) for p in self.plans for n in p.notes]


def run(paths: list[str], options: Any, pins: Pins | None, write: bool = True) -> FixResult:
    """Plan (and unless `write` is False, apply) the fixes for the files under `paths`."""
    from .contract import load_rule_packs

    started_ns = time.time_ns()
    load_rule_packs()
    with fs.scanning(paths):  # what the files name stays inside their repository, as in a scan
        return _run(paths, options, pins, write, started_ns)


def _run(paths: list[str], options: Any, pins: Pins | None, write: bool, started_ns: int) -> FixResult:
    from .discover import Skipped, discover
    from .documents import load_document
    from .documents import sniff
    from .engine import LINKING_KINDS, DocumentStore, ScanContext
    from .loaders import read_regular_file

    store = DocumentStore(options)
    filt = _finding_filter(options, store)
    documents: list[tuple[Document, bytes]] = []
    seen: set[str] = set()  # a file reached twice (through a symlink) is fixed once
    for item in discover(paths, options.exclude):
        if isinstance(item, Skipped) or (filt is not None and filt.excluded(item.path)):
            continue
        try:
            raw = read_regular_file(item.path, options.max_file_bytes)
        except Exception:  # noqa: BLE001 - unreadable or too large: scan reports it, fix skips it
            continue
        kind = sniff(item.path, raw)
        if kind is None or kind == Kind.SCORING_SCRIPT:
            continue
        doc = load_document(item.path, raw, explicit=item.explicit)
        if doc is None or doc.kind not in ENV_KINDS + (Kind.ARM_TEMPLATE,) or doc.error is not None:
            continue
        real = os.path.realpath(doc.abspath)
        if real in seen:
            continue
        seen.add(real)
        documents.append((doc, raw))
        if kind in LINKING_KINDS or doc.kind in LINKING_KINDS:
            store.retain(doc)
    ctx = ScanContext(options, store)
    roots = scanned_trees(paths)
    removed = []
    if write:  # every folder of a file fix considered, once
        folders = {os.path.dirname(os.path.realpath(doc.abspath)): os.path.dirname(doc.path) for doc, _ in documents}
        for real, shown in folders.items():
            if inside(real, roots):
                removed += [os.path.join(shown, os.path.basename(p)) for p in remove_stale_temp_files(real, started_ns)]
    plans = []
    fixing = {os.path.realpath(doc.abspath) for doc, _ in documents}
    for doc, raw in documents:
        if doc.kind == Kind.ARM_TEMPLATE:  # Key Vault API versions (preflight.fix_templates)
            from .fix_templates import RULES, apply_template, plan_template

            plan = plan_template(doc, ctx, _reported(doc, ctx, filt, RULES), fixing)
            apply_template(plan)
        else:
            plan = plan_document(doc, ctx, pins, _reported(doc, ctx, filt))
            apply_changes(plan)
        if write:
            write_plan(plan, roots, raw)
        if plan.changes or plan.notes:
            plans.append(plan)
    return FixResult(plans, pins, removed)


FIXED_RULES = ("ENV001", "ENV003", "ENV004", "ENV005")


def _finding_filter(options: Any, store: Any) -> Any:
    """The scan's filter stage (per-file configuration, inline suppressions), when present."""
    try:
        from .filters import FindingFilter
    except ImportError:  # pragma: no cover - an engine without a filter stage
        return None
    return FindingFilter(options, store.get)


def _reported(doc: Document, ctx: Any, filt: Any, rule_ids: tuple[str, ...] = FIXED_RULES) -> Callable[[str, str], bool]:
    """Run the fixable rules on `doc` as the scan would and keep what survives filtering."""
    from .contract import REGISTRY, rule_enabled
    from .engine import check_document

    rules = [REGISTRY[i] for i in rule_ids if i in REGISTRY and rule_enabled(i, ctx.options)]
    if filt is not None:
        rules = filt.rules_for(doc, rules)
    findings = check_document(doc, ctx, rules)
    if filt is not None:
        findings = filt.document(doc, findings, rules)
    keys = {(f.rule, f.pointer) for f in findings}
    return lambda rule_id, pointer: (rule_id, pointer) in keys


def summary(result: FixResult, wrote: bool) -> str:
    out = [f"removed {path}: a temporary file left by an interrupted fix" for path in result.removed]
    fixed = 0
    for plan in result.plans:
        if plan.new != plan.original and plan.changes:
            done = ", ".join(c.description for c in plan.changes)
            out.append(f"{'fixed' if wrote else 'would fix'} {plan.path}: {done}")
            fixed += len(plan.changes)
        for note in plan.notes:
            line, column = plan.doc.locate(note.pointer)
            out.append(f"{plan.path}:{line}:{column}: not fixed: {note.message}")
    files = len([p for p in result.plans if p.new != p.original])
    left = sum(note.fixes for _, note in result.notes)
    verb = "Fixed" if wrote else "Would fix"
    out.append(f"{verb} {fixed} problem{'s' if fixed != 1 else ''} in {files} file{'s' if files != 1 else ''}"
               + (f"; {left} could not be fixed." if left else "."))
    if result.pins is None:
        out.append("Unpinned packages are pinned only from a lock: pass --pins FILE (pip freeze or conda list --export).")
    return "\n".join(out) + "\n"
