"""PF: what the scan itself reports about files (unreadable, too large, not fully checked),
about suppressions that hide nothing, and about Bicep constructs it skipped.

PF001-PF005 are emitted by the scan (`preflight.engine`) and the filter stage
(`preflight.filters`); PF010 reads the notes the Bicep front end leaves on its documents.
"""
from __future__ import annotations

from typing import Iterator

from preflight.contract import ERROR, INFO, WARNING, Context, Document, Issue, Kind, declare, rule

PF001 = declare(
    "PF001", "invalid-file", ERROR,
    "A file of a known kind cannot be read or parsed",
    """
    ## What it does
    Reports a file that looks like one preflight reads (an ARM template or parameter file, a
    conda environment, an Azure ML deploy or inference config, a scoring script) but cannot be
    decoded or parsed. The position is the parser's. Also a file or folder under the scanned
    paths that cannot be read or listed (nothing in it was checked), and a YAML file of a known
    kind with a tag plain YAML does not have (`!!python/object:...`, `!Ref`; never run).

    ## Why it matters
    Azure rejects the file at deployment time, after the build has already run; and preflight
    can check nothing else in it.

    ## Example
    ```json
    { "resources": [ { "type": "Microsoft.KeyVault/vaults", } ]   // <- missing '}'
    ```

    ## How to fix
    Fix the syntax at the reported line and column.
    """,
)
PF002 = declare(
    "PF002", "file-too-large", WARNING,
    "A file over the size limit was skipped",
    """
    ## What it does
    Reports a file larger than the configured limit (`max-file-size`, 20 MB by default),
    which preflight skips without reading.

    ## Why it matters
    No real template or environment is that large; a generated or hostile file should not slow
    every commit.

    ## How to fix
    Exclude the file (`exclude` in the configuration) or raise `max-file-size`.
    """,
)
PF003 = declare(
    "PF003", "internal-error", ERROR,
    "preflight failed on this file; the rest of the scan went on",
    """
    ## What it does
    Reports an unexpected failure of preflight itself on one file, naming the exception, or a
    file whose worker process died each time it checked the file (killed, e.g. by the
    out-of-memory killer, or crashed). The other files are still scanned.

    ## Why it matters
    The file was not fully checked.

    ## How to fix
    Report the message and, if possible, the file to preflight's maintainers.
    """,
)
PF004 = declare(
    "PF004", "unused-suppression", INFO,
    "An inline suppression that hides nothing",
    """
    ## What it does
    Reports a suppression (`# preflight: ignore[ID]`, `ignore-file[ID]`, or an ARM
    `"metadata": {"preflight": {"ignore": [...]}}`) that hid no finding of a rule that checked
    the file, or that names a rule that does not exist.

    ## Why it matters
    A suppression outlives the problem it hid: once the file is fixed it stays, and it would
    silently hide the next, unrelated finding of that rule in the same place.

    ## Example
    ```yaml
    dependencies:
      - pip:
          - numpy==1.26.4  # preflight: ignore[ENV005]   <- numpy is pinned: nothing to hide
    ```

    ## How to fix
    Remove the rule id (or the whole suppression). `--ignore PF004` turns this report off.
    """,
)

PF005 = declare(
    "PF005", "templated-file", INFO,
    "A YAML file with template placeholders was not checked",
    """
    ## What it does
    Reports a YAML file of a known kind that does not parse as it is, but parses once its
    template placeholders (`{{NAME}}`, `{% ... %}`, `{# ... #}`) are filled in: a template a
    script renders (with `sed`, `envsubst`, Jinja) before Azure reads it. Its values are not known
    until then, so nothing else in it is checked. A file that does not parse even with its
    placeholders filled in is broken, and reported as PF001.

    ## Why it matters
    The file itself is fine; but the rendered file, the one Azure reads, was not checked.

    ## Example
    ```yaml
    environment:
      image: {{ACR_NAME}}.azurecr.io/minimal:1   # filled in by the deploy script
    ```

    ## How to fix
    Nothing is wrong with the file. Scan the rendered file to have it checked, or `--ignore
    PF005` to hide these notes.
    """,
)


@rule("PF010", "bicep-construct-skipped", INFO, reads=Kind.ARM_TEMPLATE,
      summary="A Bicep construct preflight does not evaluate was skipped; the rest was checked")
def bicep_construct_skipped(doc: Document, ctx: Context) -> Iterator[Issue]:
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
        yield Issue("", message, line=line, column=column, bicep_note=True)
