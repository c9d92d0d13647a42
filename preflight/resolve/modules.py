"""Which top-level modules a distribution provides, and which ones a scoring script imports.

A wheel says what it installs: `*.dist-info/top_level.txt` when it has one, else the paths of its
`RECORD`. Wheels are downloaded only from http(s) URLs the resolver chose, checked against the
hash the index gave, read as a zip (never installed or imported), and only their module list is
kept (store.py), keyed by that hash.
"""
from __future__ import annotations

import ast
import hashlib
import io
import os
import re
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from .requirements import http_url

MAX_WHEEL_BYTES = 4 << 30
MAX_MEMBER_BYTES = 4 << 20  # top_level.txt and RECORD are small
DOWNLOAD_TIMEOUT = 120.0
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Distributions (and conda packages) whose import name is not their own name. A conda package
# is not resolved: it counts as providing the module of its name and these.
WELL_KNOWN = {
    "scikit-learn": ("sklearn",), "pyyaml": ("yaml", "_yaml"), "pillow": ("PIL",),
    "opencv-python": ("cv2",), "opencv-python-headless": ("cv2",), "opencv-contrib-python": ("cv2",),
    "beautifulsoup4": ("bs4",), "python-dateutil": ("dateutil",), "scikit-image": ("skimage",),
    "pytorch": ("torch",), "protobuf": ("google",), "attrs": ("attr", "attrs"), "pyjwt": ("jwt",),
    "msgpack-python": ("msgpack",), "python-dotenv": ("dotenv",), "py-xgboost": ("xgboost",),
    "tensorflow-cpu": ("tensorflow",), "tensorflow-gpu": ("tensorflow",), "pywin32": ("win32api",),
    "typing-extensions": ("typing_extensions",), "pyzmq": ("zmq",), "libopencv": ("cv2",),
    "py-opencv": ("cv2",), "importlib-metadata": ("importlib_metadata",), "azureml-core": ("azureml",),
    "azureml-defaults": ("azureml",), "azure-ai-ml": ("azure",), "azure-identity": ("azure",),
}


def guessed_modules(name: str) -> set[str]:
    """The modules a package is taken to provide without reading it: its own name (as an
    identifier) and the well-known mappings."""
    canonical = canonicalize_name(name)
    out = {canonical.replace("-", "_"), name.replace("-", "_").replace(".", "_")}
    out.update(WELL_KNOWN.get(canonical, ()))
    if canonical.startswith("azureml-") or canonical.startswith("azure-"):
        out.add(canonical.split("-", 1)[0])  # namespace packages: azureml.*, azure.*
    return out


def wheel_modules(data: zipfile.ZipFile) -> list[str]:
    """Top-level modules of a wheel: top_level.txt, else the first segment of each RECORD path."""
    names = data.namelist()
    info = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/top_level\.txt", n)]
    if info and data.getinfo(info[0]).file_size <= MAX_MEMBER_BYTES:
        text = data.read(info[0]).decode("utf-8", "replace")
        modules = {line.strip().split("/")[0] for line in text.splitlines() if line.strip()}
        return sorted(m for m in modules if _IDENTIFIER.match(m))
    record = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/RECORD", n)]
    paths = names
    if record and data.getinfo(record[0]).file_size <= MAX_MEMBER_BYTES:
        paths = [row.split(",", 1)[0] for row in data.read(record[0]).decode("utf-8", "replace").splitlines()]
    modules = set()
    for path in paths:
        head = path.strip().split("/")[0]
        if head.endswith((".dist-info", ".data")) or not head:
            continue
        if "/" in path.strip():
            modules.add(head)
        elif head.endswith((".py", ".so", ".pyd")):
            modules.add(head.split(".")[0])
    return sorted(m for m in modules if _IDENTIFIER.match(m))


def download_modules(url: str, sha256: str | None, timeout: float = DOWNLOAD_TIMEOUT) -> list[str]:
    """Download a wheel (http(s) only, bounded, hash checked) and list its modules. OSError or
    ValueError when it cannot be had or read."""
    if not http_url(url):
        raise ValueError("not an http(s) URL")
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        request = urllib.request.Request(url, headers={"User-Agent": "preflight"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) checked above
            size = 0
            while chunk := answer.read(1 << 20):
                size += len(chunk)
                if size > MAX_WHEEL_BYTES:
                    raise ValueError("wheel too large")
                digest.update(chunk)
                spool.write(chunk)
        if sha256 and digest.hexdigest() != sha256.lower():
            raise ValueError("the wheel's hash differs from the index's")
        spool.seek(0)
        with zipfile.ZipFile(spool) as data:
            return wheel_modules(data)


def wheel_modules_from_bytes(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return wheel_modules(z)


# ----------------------------------------------------------------------------- a script's imports

@dataclass(frozen=True)
class Import:
    module: str  # top level
    line: int
    column: int


STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__", "__main__"}


def script_imports(tree: ast.Module) -> list[Import]:
    """Absolute imports a script makes, except those guarded by `try/except ImportError` (or a
    broader handler) and those under `if TYPE_CHECKING:`; the first place of each module."""
    found: dict[str, Import] = {}

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            catches = any(_catches_import_error(h.type) for h in node.handlers)  # type: ignore[attr-defined]
            for child in node.body:  # type: ignore[attr-defined]
                visit(child, guarded or catches)
            for part in (node.handlers, node.orelse, node.finalbody):  # type: ignore[attr-defined]
                for child in part:
                    visit(child, guarded)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import) and not guarded:
            for alias in node.names:
                _add(found, alias.name, node)
        elif isinstance(node, ast.ImportFrom) and not guarded and node.level == 0 and node.module:
            _add(found, node.module, node)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return list(found.values())


def _add(found: dict[str, Import], dotted: str, node: ast.AST) -> None:
    top = dotted.split(".")[0]
    if top and top not in found:
        found[top] = Import(top, getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1)


def _catches_import_error(handler_type: ast.AST | None) -> bool:
    if handler_type is None:
        return True
    names: list[ast.AST] = list(handler_type.elts) if isinstance(handler_type, ast.Tuple) else [handler_type]
    for name in names:
        leaf = name.attr if isinstance(name, ast.Attribute) else name.id if isinstance(name, ast.Name) else ""
        if leaf in ("ImportError", "ModuleNotFoundError", "Exception", "BaseException"):
            return True
    return False


def _is_type_checking(test: ast.AST) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def local_module(name: str, folders: list[str]) -> bool:
    """A module of the script's own code: `name.py` or a folder `name` beside it."""
    for folder in folders:
        if os.path.isfile(os.path.join(folder, name + ".py")) or os.path.isdir(os.path.join(folder, name)):
            return True
    return False
