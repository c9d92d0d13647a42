"""Inline suppressions: where a file says that a finding is known and accepted.

- A comment `# preflight: ignore[ENV005,ENV004]` (YAML, Python; `//` in JSON templates and in
  Bicep) hides those rules' findings on its own line; written alone on a line, it hides those
  on the next line.
- `# preflight: ignore-file[ENV005]` anywhere in a file hides the rule in the whole file.
- In JSON (ARM templates), `"metadata": {"preflight": {"ignore": ["KV003"]}}` on a resource (or
  any object: a parameter, a nested template) hides findings inside that object; on the template
  itself, in the whole file. ARM allows `metadata` everywhere and ignores its content.

Rule ids may be prefixes (`ignore[ENV]`). A selector that hides nothing is reported back (PF004)
so stale suppressions surface: see `preflight.filters`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .documents import Document
from .findings import Finding
from .loaders import join_pointer

_HASH = re.compile(r"(?:^|(?<=\s))#[ \t]*preflight:[ \t]*(ignore|ignore-file)\[([^\]\n]*)\]", re.M)
_SLASHES = re.compile(r"//[ \t]*preflight:[ \t]*(ignore|ignore-file)\[([^\]\n]*)\]")


@dataclass
class Suppression:
    selectors: tuple[str, ...]  # rule ids or prefixes, upper case
    line: int  # where it is written (for reporting it)
    column: int
    scope: str  # "lines" | "file" | "object"
    lines: tuple[int, ...] = ()  # scope "lines": the lines it covers
    prefix: str = ""  # scope "object": the JSON pointer of the object it covers
    pointer: str = ""  # scope "object": where the selectors are written
    used: set[str] = field(default_factory=set)

    def hides(self, finding: Finding) -> str | None:
        """The selector that hides `finding`, if this suppression covers it."""
        if self.scope == "lines" and finding.line not in self.lines:
            return None
        if self.scope == "object" and self.prefix and not (
                finding.pointer == self.prefix or finding.pointer.startswith(self.prefix + "/")):
            return None
        return next((s for s in self.selectors if finding.rule.startswith(s)), None)

    def where(self, selector: str) -> str:
        """Pointer of one selector in an ARM `metadata` list (for its line), else ''."""
        if self.scope != "object":
            return ""
        if self.pointer.endswith("/ignore") and selector in self.selectors:
            return join_pointer(self.pointer, self.selectors.index(selector))
        return self.pointer


def has_suppressions(doc: Document) -> bool:
    return bool(doc.text) and bool(parse(doc))


def parse(doc: Document) -> list[Suppression]:
    """Every suppression written in a document (cheap when there is none)."""
    if "preflight" not in doc.text:
        return []
    found = list(_comments(doc.text, _SLASHES if doc.format in ("json", "bicep", "bicepparam") else _HASH))
    if doc.format == "json" and doc.data is not None and '"preflight"' in doc.text:
        found += _metadata(doc)
    return found


def _comments(text: str, pattern: re.Pattern[str]) -> Iterator[Suppression]:
    for m in pattern.finditer(text):
        start_of_line = text.rfind("\n", 0, m.start()) + 1
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - start_of_line + 1
        selectors = _selectors(m.group(2).split(","))
        if m.group(1) == "ignore-file":
            yield Suppression(selectors, line, column, "file")
        else:
            alone = not text[start_of_line:m.start()].strip()
            yield Suppression(selectors, line, column, "lines", lines=(line, line + 1) if alone else (line,))


def _selectors(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.strip().upper() for s in items if isinstance(s, str) and s.strip()))


def _metadata(doc: Document) -> Iterator[Suppression]:
    """`metadata.preflight.ignore` on any object of a JSON document (iteratively: no depth limit)."""
    work: list[tuple[Any, str]] = [(doc.data, "")]
    while work:
        node, pointer = work.pop()
        if isinstance(node, dict):
            meta = node.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("preflight"), dict):
                written = join_pointer(join_pointer(join_pointer(pointer, "metadata"), "preflight"), "ignore")
                value = meta["preflight"].get("ignore", [])
                items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                # Its line is looked up only if it has to be reported (positions cost a parse).
                yield Suppression(_selectors(items), 0, 0, "object", prefix=pointer, pointer=written)
            work.extend((v, join_pointer(pointer, k)) for k, v in node.items())
        elif isinstance(node, list):
            work.extend((v, join_pointer(pointer, i)) for i, v in enumerate(node))
