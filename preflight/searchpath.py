"""Where the relative paths a config names are looked for: one search rule for every model.

A v1 inference config's `sourceDirectory` (and the `condaFile` and `entryScript` under it) is
resolved by the CLI against the folder `az ml model deploy` runs in, which a file cannot tell:
the config's folder, each parent up to the repository root, and the current folder are all
plausible. The environment model (preflight.project) and the deploy model (preflight.deploy.v1)
both search them, in this order, so a conda file one of them finds the other finds too.
"""
from __future__ import annotations

import os

from . import fs

MAX_PARENTS = 12  # without a `.git` above, stop this far up rather than at the filesystem root


def resolution_bases(start: str, limit: int = MAX_PARENTS) -> list[str]:
    """`start`, its parents up to the repository root (a folder with `.git`), and the cwd.
    Callers still confine each path to the repository (fs.confine)."""
    out, here = [], os.path.abspath(start)
    for _ in range(limit):
        out.append(here)
        if fs.exists(os.path.join(here, ".git")):
            break
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    cwd = os.getcwd()
    if cwd not in out:
        out.append(cwd)
    return out
