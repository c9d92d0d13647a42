"""Edits to a file's text: what the fix command plans (`Change`, `Note`, `FilePlan`) and how
a change is spliced into YAML or JSON text without reformatting the rest (`YamlText`,
`JsonText`, `apply_changes`). Shared by the conda fixes (preflight.fix) and the template
fixes (preflight.fix_templates); writing the result to disk is preflight.fix's.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .documents import Document
from .loaders import JSON_STRING, LoadError, TextLines, json_positions, load_json, split_pointer


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



class EditError(Exception):
    """A change that cannot be spliced into this text safely."""



@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str



def newline(text: str) -> str:
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
            return len(self.text), newline(self.text)
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
        nl = newline(self.text)
        return Splice(at, at, f"{lead}{prefix}{self.render(value, None, False)}{nl}")

    def pip_section(self, pointer: str, values: list[str], conda_pip: str | None) -> Splice:
        """A new `- pip:` item (after `- pip` itself when missing) at the end of `dependencies`."""
        last = self._block_list(pointer).value[-1]
        _, prefix = self._item_line(last)
        at, lead = self._after_line(last)
        nl = newline(self.text)
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
            return Splice(end, end, f",{newline(self.text)}{indent}{json.dumps(value, ensure_ascii=False)}")
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
            if added is None or not (deps and isinstance(deps[-1], dict) and deps[-1].get("pip") is added):
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
