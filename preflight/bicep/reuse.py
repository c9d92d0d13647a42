"""Compiled Bicep modules, reused by every file of a scan that calls them (in one process).

A module is compiled once per calling file without this: AVM's resource modules are each called
by their own `main.bicep` tests, so most compiles were of a module compiled before. During a
scan (`sharing()`, which the engine enters; each worker process of the pool fills its own copy)
a module compiled for one caller is kept and reused by the next, with the file-system look-ups
its compile made (preflight.fs), which every reuse records again for the result cache.

What a module's compiled template depends on, and so what an entry is keyed by or checked
against (see `preflight.bicep.compiler.ModuleResult`): its own text and every file it reads
(modules, `loadTextContent()` files, bicepconfig.json, the registry cache), all constant during a
scan; the repository the scanned file is in (paths the module names must stay inside it): the
key; and the chain of calls that reached it, only where a cycle of modules or the depth limit is
met: an entry is reused only where none of the modules it reached is among the callers and the
depth limit is as far away as it was. Callers' parameter values are not part of a module's
template (a nested deployment passes them as parameters), so one compile serves every caller.

The cache is bounded by the size of the modules' source text (least recently used first out).
A module result out of the bound is still reused while a kept result holds it (`held`): a
caller's compiled template is made of its modules' (on AVM: 272 module compiles become 225, the
fewest any bound gives, for no more memory).

A module compiled for a caller keeps its positions (ModuleResult.own): when the scan reaches
the module file itself, the same text compiles to the same document, which it takes without
parsing the file again. The other way round, the scanned files' own compiles are kept too,
bounded the same way: a finding on a resource a module declares is placed in the module's file,
which the scan loads again (`preflight.bicep.defined_at`) soon after it scanned that file. Each
reuse records again the look-ups the compile made.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

MAX_SOURCE_CHARS = 128 * 1024  # of module source kept compiled: modules are called from near
# them (AVM, 4 MB of Bicep in all: 1,058 compiles where 256 K gave 1,004, for 2 MiB less peak
# memory on the corpus now that an entry keeps its positions too)
MAX_DOCUMENT_CHARS = 64 * 1024  # of the scanned files' own compiles kept (the same trade-off)


class ModuleCache:
    """Compiled modules by (absolute path, confinement root of the scanned file)."""

    def __init__(self, max_chars: int = MAX_SOURCE_CHARS, max_document_chars: int = MAX_DOCUMENT_CHARS):
        self.max_chars = max_chars
        self.entries: "OrderedDict[tuple[str, str], Any]" = OrderedDict()
        self.chars = 0
        self.hits = 0
        self.stored = 0
        self.documents = _Bounded(max_document_chars)  # abspath -> (text, Compiled, look-ups it made)
        # Every result stored, and the module results each holds (`installs`), for as long as
        # anything holds them: a module's result out of `entries` is still in memory while a
        # kept caller's result holds it (its template is made of theirs), and is taken from here.
        self.held: "weakref.WeakValueDictionary[tuple[str, str], Any]" = weakref.WeakValueDictionary()

    def get(self, key: tuple[str, str]) -> Any:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
            return entry
        return self.held.get(key)  # not counted again: its memory is its holder's

    def put(self, key: tuple[str, str], entry: Any) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.chars -= old.size
        self.entries[key] = entry
        self.chars += entry.size
        self.stored += 1
        held = self.held
        held[key] = entry
        for inner, result in entry.installs:
            if result.pure:  # (compiled for the repository of the scanned file, as its holder)
                held[(inner, key[1])] = result
        while self.chars > self.max_chars and len(self.entries) > 1:
            _, dropped = self.entries.popitem(last=False)
            self.chars -= dropped.size


class _Bounded:
    """Entries of a known size, the least recently used dropped first past `max_chars`."""

    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self.entries: "OrderedDict[str, tuple[int, Any]]" = OrderedDict()
        self.chars = 0

    def get(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, value: Any, size: int) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.chars -= old[0]
        self.entries[key] = (size, value)
        self.chars += size
        while self.chars > self.max_chars and len(self.entries) > 1:
            _, (dropped, _) = self.entries.popitem(last=False)
            self.chars -= dropped


_current: ModuleCache | None = None


def current() -> ModuleCache | None:
    """The cache of the scan running in this process, None outside a scan."""
    return _current


@contextmanager
def sharing(max_chars: int = MAX_SOURCE_CHARS, max_document_chars: int = MAX_DOCUMENT_CHARS,
            ) -> Iterator[ModuleCache]:
    """Compiled modules are shared by the files compiled inside (one scan): nothing is kept
    after it, so a module edited between two scans is compiled again."""
    global _current
    saved = _current
    _current = ModuleCache(max_chars, max_document_chars)
    try:
        yield _current
    finally:
        _current = saved
