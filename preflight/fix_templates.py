"""Autofix for ARM JSON and Bicep templates: Key Vault API versions that retire (KV019).

    preflight fix PATH... [--keyvault-api-version YYYY-MM-DD] [--diff]

Every Key Vault control-plane API version before 2026-02-01 retires on 2027-02-27. For each
`Microsoft.KeyVault/*` resource the scan reports (KV019, after selection, configuration and
inline suppressions) and whose text is in the file, the literal apiVersion is raised to the
target version (default 2026-02-01; `--keyvault-api-version` or `keyvault-api-version` in the
configuration, never a preview nor older than 2026-02-01). In Bicep the version is the part after
`@` in the type string.

From API 2026-02-01 a new vault defaults to Azure RBAC, which ignores access policies. So a
deployed (not `existing`) `Microsoft.KeyVault/vaults` without `enableRbacAuthorization` also
gets `enableRbacAuthorization: false`, as the first member of its `properties`, so the bump
changes nothing about who can read the vault. A vault whose setting is true, false, a parameter
or an expression keeps it as written. A vault whose `properties` is not an object in the text
(a variable, `union(...)`) is not bumped at all: the explicit setting could not be added.

The machinery is the environment fixer's (preflight.fix): splices at exact positions, so
comments, order, quoting, indentation and line endings stay byte for byte; the edited text is
parsed again and must equal the original with exactly the intended changes (JSON: the loaded
data; Bicep: the syntax tree, positions aside), or the file is left alone; the atomic write and
the rule that only files under the given paths are written are fix.py's. A resource declared in
another file (a Bicep module, a linked template) is fixed in that file when it is among the
files being fixed, else named in a note.
"""
from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from .arm.expressions import Call, Index, Literal, Member, Node, compile_string
from .arm.template import ABSENT
from .arm.vaults import (MINIMUM_API, KeyVaultRead, RetiringApi, api_date, is_preview, keyvault_reads,
                         retiring_api_versions)
from .config import Config
from .contract import Context
from .documents import Document
from .edits import Change, EditError, FilePlan, JsonText, Note, Splice, newline
from .loaders import JSON_STRING, LoadError, TextLines, load_json, split_pointer

RULES = ("KV019",)


@dataclass(frozen=True)
class TemplateChange(Change):
    """A resource's apiVersion raised (at `pointer`), and `enableRbacAuthorization: false`
    added to the `properties` at `properties` when that is not None."""

    properties: str | None = None
    resource_type: str = ""
    position: tuple[int, int] | None = None  # of a Bicep `existing` resource's type string (no pointer)



@dataclass(frozen=True)
class ReadChange(Change):
    """The version arguments of the `reference()` / `list*()` calls on Key Vault resources in
    the expression string at `pointer` raised to `value`."""

    calls: tuple[Call, ...] = ()
    versions: tuple[str, ...] = ()  # the versions they are called with now


DEFAULT_API = MINIMUM_API  # see KV019's documentation for why not a newer one
RBAC = "enableRbacAuthorization"


class ApiVersionError(ValueError):
    """An unusable --keyvault-api-version (the CLI exits 2 with it)."""


def target_version(cli_value: str | None, config: Config | None) -> str:
    """The version retiring Key Vault apiVersions are raised to."""
    value, where = cli_value, "--keyvault-api-version"
    if not value and config is not None and config.get("keyvault-api-version"):
        value = config.get("keyvault-api-version")
        where = f"{config.path or 'configuration'}: 'keyvault-api-version'"
    if not value:
        return DEFAULT_API
    value = str(value).strip()
    day = api_date(value)
    if day is None:
        raise ApiVersionError(f"{where}: {value!r} is not an API version (YYYY-MM-DD)")
    if is_preview(value):
        raise ApiVersionError(f"{where}: {value!r} is a preview; give a stable version")
    if day < MINIMUM_API:
        raise ApiVersionError(f"{where}: {value} retires on 2027-02-27 too; give {MINIMUM_API} or later")
    return value


# ----------------------------------------------------------------------------- planning

def plan_template(doc: Document, ctx: Context, reported: Callable[[str, str], bool], fixing: set[str]) -> FilePlan:
    """The fixes for one template. `reported(rule_id, pointer)`: whether the scan reports that
    finding; `fixing`: the real paths of every file this run may fix."""
    plan = FilePlan(doc, original=doc.text, new=doc.text)
    if doc.error is not None:
        return plan
    target = ctx.options.keyvault_api_version or DEFAULT_API
    inherited: list[RetiringApi] = []
    for use in retiring_api_versions(doc, ctx):
        if not reported("KV019", use.pointer):
            continue
        if doc.format == "bicep" and _inherits_version(doc, use):
            inherited.append(use)
        else:
            _plan_resource(plan, doc, use, target, fixing)
    _plan_reads(plan, doc, ctx, reported, target)
    raised = {getattr(c, "resource_type", "").lower() for c in plan.changes}
    for use in inherited:
        parent = use.type.rsplit("/", 1)[0]
        if parent.lower() not in raised:
            plan.notes.append(Note(use.pointer, f"`{use.type}` {use.display_name}: its version is its parent "
                                                f"resource's (`{parent}`); raise it there"))
    return plan


def _inherits_version(doc: Document, use: RetiringApi) -> bool:
    """A Bicep child resource declared inside its parent with a type without `@version`
    (`resource s 'secrets' = {...}`): it uses the parent's version, changed with the parent."""
    position = doc.positions.get(use.pointer) if use.local else None
    if position is None:
        return False
    lines = TextLines(doc.text)
    if not 1 <= position[0] <= len(lines.starts):
        return False
    m = re.match(r"'([^'\r\n]*)'", doc.text[lines.starts[position[0] - 1] + position[1] - 1:])
    return m is not None and "@" not in m.group(1)


def _plan_resource(plan: FilePlan, doc: Document, use: RetiringApi, target: str, fixing: set[str]) -> None:
    what = f"`{use.type}` {use.display_name}"
    elsewhere = _declared_in(doc, use)
    if elsewhere is not None:
        if os.path.realpath(elsewhere) not in fixing:
            plan.notes.append(Note(use.pointer, f"{what} is declared in {_shown(elsewhere, doc)}, which is not "
                                                f"among the files being fixed: fix it there"))
        return
    resource = use.resource
    if not use.literal:
        plan.notes.append(Note(use.pointer, f"{what}: apiVersion is `{resource.decl.api_version}`; set the value "
                                            f"it reads to {target} where it is defined"))
        return
    properties = None
    if use.is_vault and not use.existing:
        setting = resource.raw(f"properties/{RBAC}")
        if setting is None:
            plan.notes.append(Note(use.pointer, f"{what}: `{RBAC}` is null, which a new vault reads as true from "
                                                f"{MINIMUM_API} on: write false (access policies) or true, then "
                                                f"raise the apiVersion"))
            return
        if setting is ABSENT:
            if not isinstance(resource.raw("properties"), dict):
                plan.notes.append(Note(use.pointer, f"{what}: its `properties` are missing or not written as an "
                                                    f"object, so `{RBAC}: false` cannot be added; set `{RBAC}` "
                                                    f"explicitly (false keeps access policies), then raise the "
                                                    f"apiVersion"))
                return
            properties = resource.pointer_of("properties")
    also = f" and `{RBAC}: false` (it keeps its access policies)" if properties else ""
    plan.changes.append(TemplateChange("api-version", use.pointer, target,
                                       f"{what}: apiVersion {use.versions[0]} -> {target}{also}", properties,
                                       use.type))


def _plan_reads(plan: FilePlan, doc: Document, ctx: Context, reported: Callable[[str, str], bool], target: str) -> None:
    """One change per expression string whose Key Vault reads the scan reports."""
    by_string: dict[str, list[KeyVaultRead]] = {}
    for read in keyvault_reads(doc, ctx):
        if not reported("KV019", read.pointer):
            continue
        what = f"`{read.function}()` of `{read.type}`"
        if not read.local:
            plan.notes.append(Note(read.pointer, f"{what} is in a linked template: raise its apiVersion there"))
        elif not read.literal:
            plan.notes.append(Note(read.pointer, f"{what}: its apiVersion is an expression; set the value it reads "
                                                 f"to {target} where it is defined"))
        elif doc.format == "bicep":
            plan.notes.append(Note(read.pointer, f"{what}: raise its apiVersion argument to {target} by hand"))
        else:
            by_string.setdefault(read.string_pointer, []).append(read)
    for pointer, reads in by_string.items():
        versions = tuple(dict.fromkeys(r.version for r in reads))
        plan.changes.append(ReadChange("read-api-version", pointer, target,
                                       f"`{reads[0].function}()` of `{reads[0].type}`: apiVersion "
                                       f"{' and '.join(versions)} -> {target}",
                                       calls=tuple(r.call for r in reads), versions=versions))


def _declared_in(doc: Document, use: RetiringApi) -> str | None:
    """The file that declares the resource when it is not `doc` (a linked template, or the
    Bicep module file the resource comes from), else None."""
    if not use.local:
        return getattr(use.resource.document, "abspath", None) or "a linked template"
    from .bicep import module_calls

    calls = module_calls(doc, use.resource.pointer)
    if not calls:
        return None
    path = doc.abspath
    for call in calls:  # each module's path is relative to the file that calls it
        path = os.path.normpath(os.path.join(os.path.dirname(path), call.path))
    return path


def _shown(path: str, doc: Document) -> str:
    try:
        return os.path.relpath(path, os.path.dirname(doc.abspath))
    except ValueError:
        return path


# ----------------------------------------------------------------------------- applying

def apply_template(plan: FilePlan) -> None:
    """Splice the planned changes into the text and verify the result; a resource whose edit
    cannot be made safely becomes a note, and on any doubt about the whole the file is left
    unchanged."""
    if not plan.changes:
        return
    text = plan.original
    editor: _Editor = _BicepText(plan.doc) if plan.doc.format == "bicep" else _JsonText(plan.doc)
    splices: list[Splice] = []
    kept: list[Change] = []
    for change in plan.changes:
        try:
            splices += editor.splices(change)
            kept.append(change)
        except (EditError, LoadError) as exc:
            plan.notes.append(Note(change.pointer, f"{change.description.split(':')[0]}: {exc}"))
    plan.changes = kept
    if not kept:
        return
    new = text
    for splice in sorted(splices, key=lambda s: (s.start, s.end), reverse=True):
        new = new[:splice.start] + splice.text + new[splice.end:]
    if not editor.verify(new, kept):
        plan.refuse("not applied: the edit would change more than the apiVersion and the RBAC setting")
        return
    plan.new = new


class _Editor:
    """Splices for one template text, at the positions its document gives."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.text = doc.text
        self.lines = TextLines(self.text)
        self.newline = newline(self.text)

    def splices(self, change: Change) -> list[Splice]:
        if isinstance(change, ReadChange):
            return self.read_versions(change)
        out = [self.version(change)]
        properties = getattr(change, "properties", None)
        if properties is not None:
            out.append(self.rbac_false(properties))
        return out

    def version(self, change: Change) -> Splice:
        raise NotImplementedError

    def read_versions(self, change: "ReadChange") -> list[Splice]:
        raise EditError("not an expression this editor changes")

    def rbac_false(self, pointer: str) -> Splice:
        raise NotImplementedError

    def verify(self, new: str, changes: list[Change]) -> bool:
        raise NotImplementedError

    def _skip(self, at: int) -> int:
        """The offset of the next character that is not blank or inside a comment."""
        text = self.text
        while at < len(text):
            if text[at] in " \t\r\n\ufeff":
                at += 1
            elif text.startswith("//", at):
                end = text.find("\n", at)
                at = len(text) if end < 0 else end
            elif text.startswith("/*", at):
                end = text.find("*/", at + 2)
                if end < 0:
                    raise EditError("an unterminated comment")
                at = end + 2
            else:
                break
        return at

    def _insert_first(self, brace: int, member: str, inline: str | None) -> Splice:
        """`member` as the first member of the object whose `{` is at `brace`: on a line of its
        own, with the first member's indentation, after the `{` line (so above any comment on
        the first member) when members start their lines; else `member + inline` before the
        first member (None: not possible)."""
        text = self.text
        first = self._skip(brace + 1)
        if first >= len(text) or text[first] == "}":
            raise EditError("its `properties` object is empty")
        line_start = text.rfind("\n", 0, first) + 1
        if line_start > brace:
            indent = text[line_start:first]
            if indent.strip():
                raise EditError("cannot tell the object's layout")
            at = text.find("\n", brace) + 1
            return Splice(at, at, f"{indent}{member}{(inline or '').rstrip()}{self.newline}")
        if inline is None:
            raise EditError("`properties` starts on the line of its `{`; add the setting by hand")
        return Splice(first, first, f"{member}{inline}")

    def _offset(self, position: tuple[int, int]) -> int:
        line, column = position
        if not 1 <= line <= len(self.lines.starts):
            raise EditError("the value is no longer where it was")
        return self.lines.starts[line - 1] + column - 1


class _JsonText(_Editor):
    """ARM JSON: a member's position is its key's (preflight.loaders.json_positions)."""

    _STRING = re.compile(JSON_STRING, re.S)

    def __init__(self, doc: Document):
        super().__init__(doc)
        self.json = JsonText(self.text)
        self.rewritten: dict[str, str] = {}  # expression strings with their reads raised

    def _value(self, pointer: str) -> int:
        key = self.json._offset(pointer)
        m = self._STRING.match(self.text, key)
        colon = self._skip(m.end()) if m is not None else -1
        if colon < 0 or not self.text.startswith(":", colon):
            raise EditError("the member is no longer where it was")
        return self._skip(colon + 1)

    def version(self, change: Change) -> Splice:
        m = self._STRING.match(self.text, self._value(change.pointer))
        if m is None:
            raise EditError("the apiVersion is not a string")
        return Splice(m.start(), m.end(), json.dumps(change.value))

    def read_versions(self, change: "ReadChange") -> list[Splice]:
        """Each quoted version in the string whose rewrite alone changes exactly one version
        argument of the calls (found by compiling the rewritten text, not by reading it), all
        of them; the string's other bytes stay."""
        at = self._offset_of_string(change.pointer)
        token = self._STRING.match(self.text, at)
        if token is None:
            raise EditError("the expression is not a string")
        raw = token.group()
        before = compile_string(json.loads(raw))
        if not isinstance(before, Node):
            raise EditError("the expression does not parse")
        expected = _bumped(before, set(change.calls), change.value)
        chosen: list[tuple[int, int]] = []
        for version in change.versions:
            quoted = f"'{version}'"
            start = raw.find(quoted)
            while start >= 0:
                span = (start + 1, start + 1 + len(version))
                alone = raw[:span[0]] + change.value + raw[span[1]:]
                if _bumped(_compiled(alone), set(change.calls), change.value) == expected:
                    chosen.append(span)
                start = raw.find(quoted, start + 1)
        chosen.sort()
        new = raw
        for begin, end in reversed(chosen):
            new = new[:begin] + change.value + new[end:]
        if not chosen or _compiled(new) != expected:
            raise EditError("cannot tell which text is the version argument; raise it by hand")
        self.rewritten[change.pointer] = json.loads(new)
        return [Splice(token.start() + begin, token.start() + end, change.value) for begin, end in chosen]

    def _offset_of_string(self, pointer: str) -> int:
        """The string at `pointer`: a member's value (its position is its key's) or an array
        item."""
        at = self.json._offset(pointer)
        m = self._STRING.match(self.text, at)
        if m is None:
            raise EditError("the value is no longer where it was")
        colon = self._skip(m.end())
        return self._skip(colon + 1) if self.text.startswith(":", colon) else at

    def rbac_false(self, pointer: str) -> Splice:
        at = self._value(pointer)
        if not self.text.startswith("{", at):
            raise EditError("`properties` is not an object")
        return self._insert_first(at, f'"{RBAC}": false', ", ")

    def verify(self, new: str, changes: list[Change]) -> bool:
        expected = copy.deepcopy(self.doc.data)
        for change in changes:
            parts = split_pointer(change.pointer)
            if isinstance(change, ReadChange):
                _set(expected, parts, self.rewritten[change.pointer])
                continue
            _walk(expected, parts[:-1])[parts[-1]] = change.value
            properties = getattr(change, "properties", None)
            if properties is not None:
                _walk(expected, split_pointer(properties))[RBAC] = False
        try:
            return load_json(new) == expected
        except (LoadError, RecursionError, ValueError):
            return False


class _BicepText(_Editor):
    """Bicep: an apiVersion's position is its type string's; a property's is its key's."""

    _TYPE = re.compile(r"'([^'\\$\r\n]*)@([^'\\$\r\n@]*)'")
    _KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|'[^'\\$\r\n]*'")

    def _position(self, pointer: str, change: Change | None = None) -> tuple[int, int]:
        position = getattr(change, "position", None) or self.doc.positions.get(pointer)
        if position is None:
            raise EditError("the value is no longer where it was")
        return position

    def _at(self, pointer: str, change: Change | None = None) -> int:
        return self._offset(self._position(pointer, change))

    def version(self, change: Change) -> Splice:
        m = self._TYPE.match(self.text, self._at(change.pointer, change))
        if m is None:
            raise EditError("the type is not a plain string `'Type@version'`")
        return Splice(m.start(2), m.end(2), change.value)

    def rbac_false(self, pointer: str) -> Splice:
        at = self._at(pointer)
        key = self._KEY.match(self.text, at)
        if key is None or key.group().strip("'").lower() != "properties":
            raise EditError("`properties` is no longer where it was")
        colon = self._skip(key.end())
        brace = self._skip(colon + 1) if self.text.startswith(":", colon) else -1
        if brace < 0 or not self.text.startswith("{", brace):
            raise EditError("`properties` is not written as an object")
        return self._insert_first(brace, f"{RBAC}: false", None)

    def verify(self, new: str, changes: list[Change]) -> bool:
        from .bicep.syntax import parse

        try:
            before, after = parse(self.text), parse(new)
        except RecursionError:
            return False
        if [(p.message, p.fatal) for p in before.problems] != [(p.message, p.fatal) for p in after.problems]:
            return False
        types = {self._position(c.pointer, c): c.value for c in changes}
        properties = {self._position(p) for p in (getattr(c, "properties", None) for c in changes) if p is not None}
        return _Shape({}, set()).of(after.decls) == _Shape(types, properties).of(before.decls)


class _Shape:
    """A Bicep syntax tree without positions, as nested tuples; with the intended changes
    applied: the resources whose type strings start at `types` get the new version, and the
    `properties` keys at `properties` get `enableRbacAuthorization: false` first."""

    FALSE = ("x", "lit", False, None, None, None)

    def __init__(self, types: dict[tuple[int, int], str], properties: set[tuple[int, int]]):
        self.types = types
        self.properties = properties

    def of(self, node: Any) -> Any:
        from .bicep.syntax import Decl, Prop, X

        if isinstance(node, X):
            return ("x", node.kind, self.of(node.a), self.of(node.b), self.of(node.c), self.of(node.d))
        if isinstance(node, Prop):
            value = self.of(node.value)
            if node.pos in self.properties and isinstance(node.value, X) and node.value.kind == "obj":
                value = ("x", "obj", (("prop", RBAC, self.FALSE, ()),) + value[2], None, None, None)
            return ("prop", node.key, value, self.of(node.decorators))
        if isinstance(node, Decl):
            rtype = node.type
            if node.kind == "resource" and node.extra in self.types and isinstance(rtype, str):
                rtype = rtype.rsplit("@", 1)[0] + "@" + self.types[node.extra]
            extra = node.extra if isinstance(node.extra, list) else None
            return ("decl", node.kind, node.name, self.of(node.value), rtype, self.of(node.decorators),
                    node.existing, extra)
        if isinstance(node, (list, tuple)):
            return tuple(self.of(item) for item in node)
        return node


def _walk(node: Any, parts: list[str]) -> Any:
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _set(node: Any, parts: list[str], value: Any) -> None:
    parent = _walk(node, parts[:-1])
    parent[int(parts[-1]) if isinstance(parent, list) else parts[-1]] = value


def _compiled(raw_json_string: str) -> Any:
    try:
        return compile_string(json.loads(raw_json_string))
    except ValueError:
        return None


def _bumped(node: Any, calls: set[Call], version: str) -> Any:
    """An expression tree with the version argument of each of `calls` set to `version`."""
    if isinstance(node, Call):
        args = tuple(_bumped(a, calls, version) for a in node.args)
        if node in calls and len(args) > 1:
            args = (args[0], Literal(version)) + args[2:]
        return Call(node.name, args, node.spelling)
    if isinstance(node, Member):
        return Member(_bumped(node.target, calls, version), node.name)
    if isinstance(node, Index):
        return Index(_bumped(node.target, calls, version), _bumped(node.index, calls, version))
    return node
