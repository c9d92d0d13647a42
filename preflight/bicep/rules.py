"""The rule the Bicep front end itself reports: constructs it skipped."""
from __future__ import annotations

from typing import Iterator

from ..documents import Document, Kind
from ..engine import rule
from ..findings import INFO, Issue


@rule("PF010", "bicep-construct-skipped", INFO, reads=Kind.ARM_TEMPLATE,
      summary="A Bicep construct preflight does not evaluate was skipped; the rest was checked")
def bicep_construct_skipped(doc: Document, ctx) -> Iterator[Issue]:
    """
    ## What it does
    Reports, in a `.bicep` file, a construct preflight does not read or evaluate: a declaration
    its parser cannot read (syntax newer than the parser, or a mistake inside it: only that
    declaration is skipped), a registry module (`br:`/`ts:`) that is not in Bicep's local module
    cache, an imported symbol, a module file that cannot be read, and a module or
    `loadTextContent()` path outside the repository (the nearest folder above with a `.git`,
    else the scanned folder), which is never opened. Everything else in the file is still
    checked; values that depend on the skipped construct count as unknown, never as a guess.
    Registry modules are read from the cache `bicep restore` fills (`cacheRootDirectory` of
    `bicepconfig.json`, else `~/.bicep`, or `PREFLIGHT_BICEP_CACHE`), never from the network.

    ## Why it matters
    A finding that depends on the skipped part cannot be reported: the file was checked only
    in part.

    ## Example
    ```bicep
    module kv 'br/public:avm/res/key-vault/vault:0.9.0' = { ... }   // not restored yet
    ```

    ## How to fix
    Nothing is wrong with the file. Run `bicep restore main.bicep` to bring its registry
    modules into the local cache; otherwise scan the module's source (or the compiled JSON from
    `bicep build`) to have it checked, or `--ignore PF010` to hide these notes.
    """
    if doc.format != "bicep":
        return
    for line, column, message in doc.cache.get("bicep.notes", ()):
        yield Issue("", message, line=line, column=column, data={"_note": (line, column, message)})
