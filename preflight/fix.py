"""Autofix for environments: pin unpinned packages from a lock, add the missing serving package.

    preflight fix PATH... [--pins LOCK] [--diff]        (or `preflight scan --fix`)

What gets fixed is what the ENV rules report (the same predicates, the same configuration):
ENV004/ENV005 packages are pinned to the version the lock names, when that version satisfies the
constraint already written; ENV001 adds `azureml-defaults` and ENV003 adds
`azureml-inference-server-http`, pinned from the lock when it has them.

Edits (preflight.edits) are minimal text splices at the positions the YAML composer (or the JSON tokenizer) gives
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

import difflib
import errno
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import fs
from .conda import (AZUREML_DEFAULTS, INFERENCE_SERVER, V1_MINIMUM, CondaPackage, PipRequirement, parse_matchspec,
                    parse_pip_line, unpinned_conda_packages, unpinned_pip_requirements, v1_serving, v2_serving)
from .documents import Document, Kind
from .edits import Change, FilePlan, Note, apply_changes
from .loaders import FileTooLarge, LoadError, TooDeep, decode, encode_like, load_json, load_yaml, read_regular_file
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
                if (isinstance(item, dict) and isinstance(item.get("name"), str)
                        and isinstance(item.get("version"), str)):
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
    if pins is not None and version is not None:
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
    from .rulepacks import load_rule_packs

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


def _reported(doc: Document, ctx: Any, filt: Any,
              rule_ids: tuple[str, ...] = FIXED_RULES) -> Callable[[str, str], bool]:
    """Run the fixable rules on `doc` as the scan would and keep what survives filtering."""
    from .contract import REGISTRY, rule_enabled
    from .engine import check_document

    rules = [REGISTRY[i] for i in rule_ids if i in REGISTRY and rule_enabled(i, ctx.options)]
    if filt is not None:
        rules = filt.rules_for(doc, rules)
    findings = check_document(doc, ctx, rules, in_modules=False)
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
        out.append("Unpinned packages are pinned only from a lock: "
                   "pass --pins FILE (pip freeze or conda list --export).")
    # Paths and package names come from the repository: one printable line each, as in a report.
    from .report.untrusted import line_start, printable

    return "\n".join(line_start(printable(line)) for line in out) + "\n"
