"""The composition root: one scan from paths to sorted findings.

    discover -> classify + load (preflight.documents) -> models and links -> rules -> filter

The rule contract (`Rule`, the registry, `@rule`, `Options`, `ScanResult`, the `Context`
protocol) is `preflight.contract`; the rules are the pack in `preflight.rules`. This module wires
the stages: it keeps the linking documents (`DocumentStore`), runs each file's rules
(`ScanContext` is the context they see), hands the findings to the filter stage
(`preflight.filters`), and owns the worker pool and the result cache's wiring (`preflight.cache`).
Nothing below it imports it: only the command line, `fix` and `merge` do.

With a result cache (preflight.cache), a file whose bytes, configuration and recorded
look-ups (preflight.fs) are unchanged skips load and rules: its findings come from the cache.
"""
from __future__ import annotations

import gc
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable, Iterator

from . import bicep  # noqa: F401 - plugs the Bicep front end into the document and ARM layers
from . import clock, fs
from .contract import REGISTRY, Options, Rule, ScanResult, rule_enabled
from .discover import Candidate, Skipped, discover
from .documents import Document, Kind, load_document, sniff
from .arm.deployments import Anchor
from .findings import Finding, Issue, Severity
from .loaders import FileTooLarge, NotRegularFile, Templated, read_regular_file
from .rules.scan import PF001, PF002, PF003, PF005
from .rulepacks import load_rule_packs


# --------------------------------------------------------------------------------- the scan


# Kinds that other documents point at or are pointed from (an inference config names its conda
# file, a parameter file belongs to a template). They are few and small, so they are loaded first
# and kept for the whole scan; everything else is loaded, checked and released one file at a
# time, which keeps memory flat in the number of files.
LINKING_KINDS = frozenset({
    Kind.INFERENCE_V1, Kind.DEPLOY_V1, Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2,
    Kind.ENDPOINT_V2, Kind.ARM_PARAMETERS,
})
# Documents loaded on demand and models of one file or folder are used again by the checks of
# neighbouring files only (measured on the corpus: the same look-ups and builds with 16 and 8
# as with 64 and 256), and each can be a whole template: a few are kept, not hundreds.
_ON_DEMAND_CACHE = 16


def _kept(kind: Kind | None, path: str) -> bool:
    """Linking documents are kept, except JSON parameter files: a template finds those by name
    in its own folder (loaded on demand), whereas a `.bicepparam` names its template with
    `using` and may live anywhere. (Corpora hold many parameter files: keeping them all made
    memory grow with the number of files.)"""
    if kind is Kind.ARM_PARAMETERS:
        return path.lower().endswith(".bicepparam")
    return kind in LINKING_KINDS


class DocumentStore:
    """Documents by absolute path: the linking kinds kept for the scan, any other file loaded on
    demand (a template's linked template, a config's conda file) and kept in a small LRU."""

    def __init__(self, options: "Options"):
        self.options = options
        self.retained: dict[str, Document] = {}
        self.context: dict[str, Document] = {}  # linking documents near named files (see _neighbourhood)
        self.digests: dict[str, str | None] = {}  # content digest of each kept document (with a cache)
        self._recent: "OrderedDict[str, tuple[Document | None, Any]]" = OrderedDict()
        self._kept_digests: dict[str, str] = {}
        self.current: Document | None = None  # the document whose rules are running

    def retain(self, doc: Document, digest: str | None = None) -> None:
        key = os.path.normpath(doc.abspath)
        self.retained[key] = doc
        self.digests[key] = digest
        self._kept_digests.clear()

    def get(self, abspath: str) -> Document | None:
        """The document at a path. Every call is a dependency of the check that makes it
        (preflight.fs), even when the document is already at hand."""
        key = os.path.normpath(os.path.abspath(abspath))
        limit = self.options.max_file_bytes
        if key in self.retained:
            fs.note("read", key, limit, self.digests.get(key))
            return self.retained[key]
        if self.current is not None and os.path.normpath(self.current.abspath) == key:
            return self.current  # its own bytes are the key of its check's cache entry
        if key in self._recent:
            self._recent.move_to_end(key)
            doc, outcome = self._recent[key]
            fs.note("read", key, limit, outcome)
            return doc
        with fs.recording() as seen:
            try:
                doc = load_document(key, fs.read(key, limit), explicit=True)
            except (OSError, FileTooLarge):
                doc = None
        outcome = seen.get(("read", key, limit))
        fs.note("read", key, limit, outcome)
        self._recent[key] = (doc, outcome)
        if len(self._recent) > _ON_DEMAND_CACHE:
            self._recent.popitem(last=False)
        return doc

    def of_kind(self, *kinds: Kind) -> list[Document]:
        """Kept documents of these kinds: the scanned ones, then the context ones."""
        fs.note("kept", _kinds_key(kinds), None, self.kept_digest(_kinds_key(kinds)))
        return [d for docs in (self.retained, self.context) for d in docs.values() if d.kind in kinds]

    def kept_digest(self, kinds_key: str) -> str:
        """What the kept documents of some kinds are: their paths and contents."""
        if kinds_key not in self._kept_digests:
            kinds = {Kind(k) for k in kinds_key.split(",") if k}
            entries = sorted(f"{key}\0{self.digests.get(key)}" for docs in (self.retained, self.context)
                             for key, d in docs.items() if d.kind in kinds)
            self._kept_digests[kinds_key] = fs.digest("\n".join(entries).encode("utf-8", "surrogateescape"))
        return self._kept_digests[kinds_key]

    def dependency_now(self, kind: str, path: str, arg: Any) -> Any:
        """The scan's own dependencies, for fs.Verifier: the kept documents of some kinds, the
        configuration of a path, and the day of the run (preflight.clock)."""
        if kind == "kept":
            return self.kept_digest(path)
        if kind == clock.DEPENDENCY:
            return clock.today(self.options).isoformat()
        configs = self.options.configs
        if kind == "config" and configs is not None:
            return configs.for_file(path).identity
        return None

    def add_context(self, doc: Document, digest: str | None = None) -> None:
        """A linking document that was not asked for: rules see it, nobody checks it."""
        key = os.path.normpath(doc.abspath)
        if key not in self.retained:
            self.context[key] = doc
            self.digests[key] = digest
            self._kept_digests.clear()


def _kinds_key(kinds: Iterable[Kind]) -> str:
    return ",".join(sorted(k.value for k in kinds))


@dataclass
class ScanContext:
    """What a rule may look at besides its document (the `preflight.contract.Context` protocol):
    other documents, the models built once per scan, and the scan's options."""

    options: Options
    store: DocumentStore
    record_dependencies: bool = False  # for the result cache: what each check looks at (preflight.fs)
    cache: dict[str, Any] = field(default_factory=dict)  # project-wide models built once
    # Models of one file or folder (a folder's parameter files, a linked template): the most
    # recently used are kept, since checks of neighbouring files share them; keeping them all
    # made memory grow with the number of folders.
    local: "OrderedDict[str, Any]" = field(default_factory=OrderedDict)
    model_dependencies: dict[str, dict] = field(default_factory=dict)  # what each model looked at

    def document_at(self, abspath: str) -> Document | None:
        """The document at a path (loaded on demand if the scan has not kept it)."""
        return self.store.get(abspath)

    def documents_of(self, *kinds: Kind) -> list[Document]:
        """Every scanned document of the linking kinds asked for (see LINKING_KINDS)."""
        return self.store.of_kind(*kinds)

    def model(self, key: str, build: Callable[[], Any], local: bool = False) -> Any:
        """Build a model once: project-wide (the links between documents), or with `local`
        one of a file or folder, rebuilt if it was dropped to bound memory."""
        models = self.local if local else self.cache
        if key in models:
            if local:
                self.local.move_to_end(key)
            if self.record_dependencies:  # each check that uses the model depends on what it looked at
                fs.replay(self.model_dependencies[key])
            return models[key]
        if self.record_dependencies:
            with fs.recording() as deps:
                models[key] = value = build()
            self.model_dependencies[key] = deps
        else:
            models[key] = value = build()
        if local and len(models) > _LOCAL_MODELS:
            dropped, _ = self.local.popitem(last=False)
            self.model_dependencies.pop(dropped, None)
        return value


_LOCAL_MODELS = 32


def _read_candidate(item: Candidate, options: Options, findings: list[Finding]) -> bytes | None:
    try:
        return fs.read(item.path, options.max_file_bytes)
    except FileTooLarge as exc:
        findings.append(_finding(PF002, item.path, "",
                                 f"skipped: {exc.size:,} bytes is over the {options.max_file_bytes:,}-byte limit",
                                 1, 1))
    except OSError as exc:
        # A file found in a folder that is gone since, or is no longer a regular file, is passed
        # over as discovery passes them over; one that is there but cannot be read was not checked.
        if item.explicit or not isinstance(exc, (FileNotFoundError, NotRegularFile)):
            findings.append(_finding(PF001, item.path, "", f"cannot read: {exc.strerror or exc}", 1, 1))
    return None


def _load(item: Candidate, raw: bytes, findings: list[Finding]) -> Document | None:
    try:
        return load_document(item.path, raw, explicit=item.explicit)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the scan
        findings.append(_internal_error(item.path, exc))
        return None


def scan(paths: Iterable[str], options: Options) -> ScanResult:
    """Pass 1 reads every candidate, loads and keeps the linking kinds, and defers the rest;
    pass 2 checks the kept documents, then reads again (from the page cache: cheaper than
    holding every file's bytes), loads, checks and releases each deferred one."""
    load_rule_packs()
    # Parsed documents are large trees of fresh objects: with the default thresholds the cyclic
    # collector runs thousands of times for nothing (measured: ~3% of a corpus scan), and at
    # 20,000 a few times a worker, each time through every object of a large template being
    # checked (10-15 ms each, freeing nothing: 25-35 ms a worker on both corpora). Almost nothing
    # a check makes is cyclic garbage (with no collection at all, a whole corpus scan leaves
    # ~3 MiB), so fewer collections cost no memory (peaks measured the same).
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 100_000), *thresholds[1:])
    paths = list(paths)
    try:
        # What the files name stays inside their repository; a Bicep module is compiled once
        # for all its callers in each process (preflight.bicep.reuse).
        with fs.scanning(paths), bicep.reuse.sharing():
            return _scan(paths, options)
    finally:
        gc.set_threshold(*thresholds)


def _scan(paths: Iterable[str], options: Options) -> ScanResult:
    findings: list[Finding] = []
    store = DocumentStore(options)
    deferred: list[Candidate] = []
    digests: dict[str, str] = {}  # of the deferred files, when there is a cache to look them up in
    sizes: dict[str, int] = {}  # of the large deferred files
    linked: list[Candidate] = []  # named files judged by the configs that link to them
    from .filters import FindingFilter

    filt = FindingFilter(options, store.get)
    cache, cache_warning = _open_cache(options)
    candidates = list(discover(paths, options.exclude))
    templates: list[str] = []  # the files that will be checked as templates, as far as pass 1 can tell
    tick = _ticker(options, "reading", len(candidates))
    for item in candidates:
        tick()
        if filt.excluded(item.path):
            continue
        if isinstance(item, Skipped):
            findings.append(_finding(PF001, item.path, "", f"{item.path}: {item.reason}", 1, 1))
            continue
        raw = _read_candidate(item, options, findings)
        if raw is None:
            continue
        filt.module_calls.read(item.path, raw)
        kind = sniff(item.path, raw)
        if kind is Kind.ARM_TEMPLATE or item.path.lower().endswith(".bicep"):
            templates.append(item.path)
        if _kept(kind, item.path):
            doc = _load(item, raw, findings)
            if doc is not None:
                store.retain(doc, fs.digest(raw) if cache is not None else None)
        else:
            deferred.append(item)
            if len(raw) >= _LARGE_FILE:
                sizes[item.path] = len(raw)
            if cache is not None:
                digests[item.path] = fs.digest(raw)
            if item.explicit and kind in LINKED_KINDS:
                linked.append(item)
    raw = None  # the last file's bytes: not kept for the whole scan (nor in every worker)
    _load_neighbourhood(linked, store, options, filt)
    if not options.providers:  # a live check collects from every document's own check
        filt.expect_deployed(templates)
    ctx = ScanContext(options, store, record_dependencies=cache is not None)
    rules_by_kind = _rules_by_kind(options)
    files = 0
    tick = _ticker(options, "checking", len(store.retained) + len(deferred))
    texts: dict[str, str] = {}
    for doc in list(store.retained.values()):
        tick()
        files += 1
        findings.extend(_shared(_check(doc, ctx, rules_by_kind, filt), doc.path, texts))
        _collect(doc, ctx, findings)
        filt.record(doc.path, filt.release(doc.path))
    # Deferred files: from the cache when nothing their findings came from changed, else checked.
    hits = _cached_results(cache, deferred, digests, store, filt)
    checked = _check_deferred([item for item in deferred if item.path not in hits], ctx, rules_by_kind, filt, tick,
                              sizes)
    path: str | None
    judged_by_callers: list[Candidate] = []
    for item in deferred:
        if item.path in hits:
            tick()
            path, (found, suppressions) = item.path, hits[item.path]
        else:
            path, found, suppressions, deps = next(checked)
            if cache is not None and path is not None and deps is not None:
                cache.put(item.path, item.explicit, filt.config(item.path), deps, found, suppressions,
                          filt.judged_by_callers(item.path))
        if path is not None:
            path = item.path  # the path as discovered, not a worker's copy of it
            files += 1
            filt.record(path, suppressions)
            if suppressions is None and filt.judged_by_callers(path):
                judged_by_callers.append(item)
        findings.extend(_shared(found, item.path, texts))
    checked.close()  # the worker pool, if any, shuts down here
    # A file expected to be deployed by another may turn out not to be (its caller did not load
    # as a template): it is judged on its own after all, by a full check.
    for item in filt.judged_alone_after_all(judged_by_callers):
        findings[:] = [f for f in findings if f.path != item.path or f.data.get("callers")]
        path, found, _, _ = _check_one(item, ctx, rules_by_kind, filt, full=True)
        findings.extend(_shared(found, item.path, texts))
    for provider in options.providers:
        try:
            findings.extend(provider.finish(ctx))
        except Exception as exc:  # noqa: BLE001 - a provider's failure never hides offline findings
            findings.append(_internal_error(getattr(provider, "name", "provider"), exc))
    findings = filt.finish(findings)
    findings.sort(key=Finding.sort_key)
    result = ScanResult(findings, files, filt.checked, filt.baselined)
    if cache is not None:
        result.cache_hits = cache.hits
        result.cache_error = cache.save({item.path for item in deferred})
    else:
        result.cache_error = cache_warning
    return result


def _shared(found: list[Finding], path: str, texts: dict[str, str]) -> list[Finding]:
    """Findings hold copies of their strings (those of a worker or the cache come unpickled, fix
    hints are formatted per finding): each path, rule id, rule name, fix hint and string of its
    evidence (`data`) is made one string, kept once for the whole scan (the findings of a large
    scan are kept until it ends)."""
    for f in found:
        f.path = path if f.path == path else texts.setdefault(f.path, f.path)
        f.rule = texts.setdefault(f.rule, f.rule)
        f.name = texts.setdefault(f.name, f.name)
        if f.fix:
            f.fix = texts.setdefault(f.fix, f.fix)
        for key, value in f.data.items():
            f.data[key] = _shared_value(value, texts)
    return found


def _shared_value(value: Any, texts: dict[str, str]) -> Any:
    """A finding's evidence, its strings (names, versions, dates, chains of callers) made one each."""
    if isinstance(value, str):
        return texts.setdefault(value, value)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                value[i] = texts.setdefault(item, item)
    return value


def _open_cache(options: Options) -> tuple[Any, str | None]:
    """The result cache for this scan, or None (no cache asked for; or a live check, whose
    findings depend on more than the files; or a cache folder not to trust, with the warning)."""
    if options.cache_dir is None or options.providers:
        return None, None
    from .cache import CacheUnusable, ResultCache

    try:
        return ResultCache.open(options.cache_dir, options), None
    except CacheUnusable as exc:
        return None, f"result cache not used: {exc}"


def _cached_results(cache: Any, deferred: list[Candidate], digests: dict[str, str], store: DocumentStore,
                    filt: Any) -> dict[str, tuple[list[Finding], Any]]:
    """path -> (findings, suppressions) of each deferred file whose cache entry still holds."""
    if cache is None or not cache.entries:
        return {}
    verifier = fs.Verifier(store.dependency_now)
    hits = {}
    for item in deferred:
        key = cache.entry_key(item.explicit, digests[item.path], filt.config(item.path),
                              filt.judged_by_callers(item.path))
        result = cache.lookup(item.path, key, verifier)
        if result is not None:
            hits[item.path] = result
    return hits


# pre-commit names only the staged files. A conda file or a scoring script staged alone is
# judged by the configs that link to it (an inference config makes a conda file a v1 scoring
# environment), so the linking documents near such a file are loaded as context, unchecked.
LINKED_KINDS = frozenset({Kind.CONDA, Kind.SCORING_SCRIPT})
NEIGHBOURHOOD_LEVELS = 2  # folders above the named file (an inference config in a sibling folder)
NEIGHBOURHOOD_MAX_FILES = 2_000


def _load_neighbourhood(named: list[Candidate], store: DocumentStore, options: Options, filt: Any) -> None:
    roots: list[str] = []
    for item in named:
        folder = os.path.dirname(os.path.abspath(item.path))
        for _ in range(NEIGHBOURHOOD_LEVELS):
            if folder == os.getcwd() or os.path.exists(os.path.join(folder, ".git")) \
                    or os.path.dirname(folder) == folder:
                break  # never above the repository, nor above the working folder
            folder = os.path.dirname(folder)
        if not any(folder == r or folder.startswith(r + os.sep) for r in roots):
            roots = [r for r in roots if not r.startswith(folder + os.sep)] + [folder]
    if not roots:
        return
    # Shown relative to the working folder when inside it, as paths the user gives are.
    shown = [os.path.relpath(r) if not os.path.relpath(r).startswith("..") else r for r in roots]
    seen = 0
    for found in discover(shown, options.exclude):
        if isinstance(found, Skipped):
            continue
        item = found
        try:
            if filt.excluded(item.path):
                continue
        except Exception:  # noqa: BLE001 - a broken config elsewhere is not this scan's business
            continue
        seen += 1
        if seen > NEIGHBOURHOOD_MAX_FILES:
            return
        if os.path.normpath(os.path.abspath(item.path)) in store.retained:
            continue
        try:
            raw = read_regular_file(item.path, options.max_file_bytes)
        except (OSError, FileTooLarge):
            continue
        if _kept(sniff(item.path, raw), item.path):
            doc = _load(item, raw, [])
            if doc is not None and doc.error is None:
                store.add_context(doc, fs.digest(raw))


# Parallel checking: worth its start-up cost only for large scans. Workers are forked
# (preflight.workers), so they inherit the kept documents, the rules, the configuration and the
# list of files without pickling any of them; only the places of files in that list go out and
# findings come back, in order.
POOL_MIN_FILES = 400
_POOL_BATCH = 32  # files per task at least, for the load to even out at the end of a scan
_POOL_BATCH_MAX = 128  # and at most: every task costs a round trip (measured on the corpus, 5,100
# files: 5 % less CPU with 128 than with 32, and the same with 256)


def _workers(options: Options, count: int) -> int:
    jobs = options.jobs if options.jobs is not None else (os.cpu_count() or 1)
    if jobs <= 1 or count < POOL_MIN_FILES or options.providers:  # providers collect in-process
        return 1
    if not hasattr(os, "fork"):
        return 1
    return min(jobs, 8)


def _check_one(item: Candidate, ctx: ScanContext, rules_by_kind: dict[Kind, list[Rule]], filt: Any,
               full: bool = False):
    """Load, check and release one deferred file: (path or None, findings, its suppressions,
    what the check looked at or None). `full`: every rule, even for a file judged by callers."""
    if not ctx.record_dependencies:
        return _check_file(item, ctx, rules_by_kind, filt, full) + (None,)
    with fs.recording() as deps:
        return _check_file(item, ctx, rules_by_kind, filt, full) + (deps,)


def _check_file(item: Candidate, ctx: ScanContext, rules_by_kind: dict[Kind, list[Rule]], filt: Any,
                full: bool = False):
    found: list[Finding] = []
    raw = _read_candidate(item, ctx.options, found)
    doc = _load(item, raw, found) if raw is not None else None
    del raw  # the document has its text: a large file's bytes are not kept while its rules run
    if doc is None:
        return None, found, None
    ctx.store.current = doc
    try:
        found.extend(_check(doc, ctx, rules_by_kind, filt, full))
        _collect(doc, ctx, found)
    finally:
        ctx.store.current = None
        doc.cache.clear()  # its models point back at the document: a cycle refcounting cannot free
    # Nothing else of the file's models is in a reference cycle (their back-pointers are weak:
    # preflight.arm.template.Backref), so they are freed here without a collection per file.
    return doc.path, found, filt.release(doc.path)


# A worker can die in the middle of a batch (the out-of-memory killer, a crash in a parser's C
# code): the batch it was running runs again in a fresh worker; one that kills its worker a
# second time is split into files, each run alone; and a file that kills its worker even so is
# reported as not checked (PF003). The rest of the scan goes on.
@dataclass(slots=True)
class _Batch:
    places: range | list[int]  # of its files in the list the workers were forked with, in order
    deaths: int = 0  # of the workers that ran it
    running: bool = False
    outcome: Any = None  # preflight.workers.Outcome, once it ended
    results: list[Any] | None = None  # unpickled when its first file's turn comes
    taken: int = 0  # of its results yielded


# The largest files are checked first, each a batch of its own: a worker's peak is its memory
# at the time plus what its largest file takes, and a worker's memory grows over its life
# (bounded caches filling up). Measured on the corpus: the worst worker's peak 0.6 MiB lower
# with its three files of 300-640 KB checked first. Their results wait for their turn.
_LARGE_FILE = 256 * 1024
_LARGE_FIRST = 8  # at most: results waiting in the parent cost memory


def _check_deferred(deferred: list[Candidate], ctx: ScanContext, rules_by_kind: dict[Kind, list[Rule]],
                    filt: Any, tick: Callable[[], None], sizes: dict[str, int] | None = None,
                    ) -> Generator[tuple[str | None, list[Finding], Any, Any], None, None]:
    """The results of checking `deferred`, in order. `sizes`: of its large files."""
    workers = _workers(ctx.options, len(deferred))
    if workers <= 1:
        for item in deferred:
            tick()
            yield _check_one(item, ctx, rules_by_kind, filt)
        return
    from .workers import ForkPool

    if any(item.path.lower().endswith(".bicep") for item in deferred):
        bicep.preload()

    def check_batch(places: range | list[int]) -> list[tuple[str | None, list[Finding], Any, Any]]:
        return [_check_one(deferred[i], ctx, rules_by_kind, filt) for i in places]

    large = {p: sizes[item.path] for p, item in enumerate(deferred) if sizes and item.path in sizes}
    first = set(sorted(large, key=lambda p: -large[p])[:_LARGE_FIRST])
    size = max(_POOL_BATCH, min(_POOL_BATCH_MAX, len(deferred) // (8 * workers)))  # eight tasks a worker or more

    def batches() -> Iterator[_Batch]:
        yield from (_Batch([p]) for p in sorted(first, key=lambda p: -large[p]))
        for start in range(0, len(deferred), size):
            places = range(start, min(start + size, len(deferred)))
            if first:
                places = [p for p in places if p not in first]  # type: ignore[assignment]
            if places:
                yield _Batch(places)

    fresh = batches()
    # A few batches per worker in flight, each result dropped once yielded (and kept pickled
    # until its turn): results waiting in the parent would make its memory grow with the number
    # of files.
    window: list[_Batch] = []  # in the order they are given to workers
    owner: dict[int, _Batch] = {}  # place -> the batch in the window that checks it
    in_flight = 3 * workers
    pool = ForkPool(workers, check_batch)
    clean = False

    def ended(batch: _Batch, outcome: Any) -> None:
        batch.running = False
        if not outcome.died:
            batch.outcome = outcome
            return
        batch.deaths += 1
        if batch.deaths < 2:
            return  # it runs again
        if len(batch.places) == 1:
            batch.outcome = outcome  # a file that killed its worker every time
            return
        at = window.index(batch)
        window[at:at + 1] = alone = [_Batch([p], deaths=1) for p in batch.places]
        owner.update((single.places[0], single) for single in alone)

    try:
        for turn in range(len(deferred)):
            while True:
                # (the large files' batches, given first, may fill the window before it reaches
                # the batch of the file whose turn it is)
                while (len(window) < in_flight or turn not in owner) and (batch := next(fresh, None)) is not None:
                    window.append(batch)
                    owner.update((p, batch) for p in batch.places)
                idle = pool.idle()
                for batch in window:
                    if not idle:
                        break
                    if not batch.running and batch.outcome is None and batch.results is None:
                        pool.start(batch, batch.places)
                        batch.running, idle = True, idle - 1
                batch = owner[turn]
                if batch.results is not None or batch.outcome is not None:
                    break
                for running, outcome in pool.wait():
                    ended(running, outcome)
            del owner[turn]
            if batch.results is None:
                outcome, batch.outcome = batch.outcome, None
                if outcome.died:
                    batch.results = [(None, [_worker_died(deferred[turn].path)], None, None)]
                elif outcome.failed is not None:  # e.g. a finding that cannot be pickled
                    batch.results = check_batch(batch.places)
                else:
                    batch.results = outcome.result()
                del outcome
            assert batch.places[batch.taken] == turn
            results: list[Any] = batch.results
            result, results[batch.taken] = results[batch.taken], None  # not kept once yielded
            batch.taken += 1
            if batch.taken == len(batch.places):
                window.remove(batch)
            tick()
            yield result
            del result
        clean = True
    finally:
        pool.close(kill=not clean)


def _worker_died(path: str) -> Finding:
    return Finding(PF003.id, PF003.name, PF003.severity, path, "",
                   "internal error: the worker process checking this file died (killed, e.g. by the out-of-memory "
                   "killer, or crashed), also with this file alone; the file was not checked", None, 1, 1)


def _check(doc: Document, ctx: ScanContext, rules_by_kind: dict[Kind, list[Rule]], filt: Any,
           full: bool = False) -> list[Finding]:
    """Run the rules the document's configuration enables, then its inline suppressions."""
    rules = filt.rules_for(doc, rules_by_kind.get(doc.kind, []) if doc.kind else [], full)
    return filt.document(doc, check_document(doc, ctx, rules), rules)


def _ticker(options: Options, label: str, total: int) -> Callable[[], None]:
    return options.progress.start(label, total) if options.progress is not None else _no_tick


def _no_tick() -> None:
    pass


def _collect(doc: Document, ctx: ScanContext, findings: list[Finding]) -> None:
    if doc.error is not None:
        return
    for provider in ctx.options.providers:
        try:
            provider.collect(doc, ctx)
        except Exception as exc:  # noqa: BLE001 - reported for this file, the scan goes on
            findings.append(_internal_error(doc.path, exc, getattr(provider, "name", None)))


def _rules_by_kind(options: Options) -> dict[Kind, list[Rule]]:
    """Only the selected rules are ever called: rule families not selected cost nothing."""
    by_kind: dict[Kind, list[Rule]] = {}
    for r in REGISTRY.values():
        if r.check is None or not rule_enabled(r.id, options):
            continue
        for kind in r.kinds:
            by_kind.setdefault(kind, []).append(r)
    return by_kind


def check_document(doc: Document, ctx: ScanContext, rules: list[Rule], in_modules: bool = True) -> list[Finding]:
    """The findings of `rules` on `doc`. `in_modules`: a finding on a resource a Bicep module
    declares is placed in the module (the report); `preflight fix` keeps it where the checked
    file reaches it, since it plans edits by that file's pointers."""
    if doc.error is not None:
        e = doc.error
        return [_finding(PF005 if isinstance(e, Templated) else PF001, doc.path, "", e.message, e.line, e.column)]
    out: list[Finding] = []
    for r in rules:
        try:
            for issue in r.check(doc, ctx):  # type: ignore[misc]
                out.append(to_finding(r, doc, issue, ctx.document_at if in_modules else None))
        except Exception as exc:  # noqa: BLE001 - reported as a finding for this file
            out.append(_internal_error(doc.path, exc, r.id))
    return out


def to_finding(r: Rule, doc: Document, issue: Issue, document_at: Callable[[str], Any] | None = None) -> Finding:
    if doc.format == "bicep" and document_at is not None and (issue.pointer or issue.bicep_note):
        moved = _in_module(r, doc, issue, document_at)
        if moved is not None:
            return moved
    if isinstance(issue.pointer, Anchor) and document_at is not None:
        moved = _in_linked_file(r, doc, issue)
        if moved is not None:
            return moved
    pointer = str(issue.pointer)  # (an Anchor points into the model: never kept in a finding)
    if issue.line is not None:
        line, column = issue.line, issue.column or 1
    else:
        line, column = doc.locate(pointer)
    return Finding(r.id, r.name, issue.severity or r.severity, doc.path, pointer, issue.message,
                   issue.fix, line, column, issue.data)


# How a message says that what it is about is written in a linked file: said where it is not.
_LINKED_FROM_HERE = re.compile(r" \((?:declared in [^()]*|in a linked template)\)")


def _in_linked_file(r: Rule, doc: Document, issue: Issue) -> Finding | None:
    """A finding on text written in a `templateLink.relativePath`-linked file is reported there,
    as one in a Bicep module is: naming the chain of deployments that link to it
    (`data["callers"]`, each 'file:line'), with the linked file's fingerprint."""
    from .baseline import fingerprint

    anchor = issue.pointer
    assert isinstance(anchor, Anchor)
    target = anchor.document
    links = anchor.links()
    if not isinstance(target, Document) or target.error is not None or not links \
            or not all(isinstance(d, Document) for d, _ in links):
        return None
    shown = os.path.dirname(doc.path)
    calls = []
    for link_doc, pointer in links:
        calls.append(f"{_as_scanned(link_doc.abspath, doc, shown)}:{link_doc.locate(pointer)[0]}")
    line, column = target.locate(anchor.pointer)
    message = _LINKED_FROM_HERE.sub("", issue.message, count=1)
    finding = Finding(r.id, r.name, issue.severity or r.severity, _as_scanned(target.abspath, doc, shown),
                      anchor.pointer, message, issue.fix, line, column, {**issue.data, "callers": [" > ".join(calls)]})
    finding.fingerprint = fingerprint(finding, target)
    return finding


def _as_scanned(abspath: str, doc: Document, shown_folder: str) -> str:
    """A path as the scan shows paths: relative to the scanned file's folder as the user named it."""
    if os.path.normcase(abspath) == os.path.normcase(doc.abspath):
        return doc.path
    return os.path.normpath(os.path.join(shown_folder, os.path.relpath(abspath, os.path.dirname(doc.abspath))))


def _in_module(r: Rule, doc: Document, issue: Issue, document_at: Callable[[str], Any]) -> Finding | None:
    """A finding on a resource a Bicep module declares is reported where it is fixed: at its
    line in the module file, naming the chain of calls that deploys it (`data["callers"]`; the
    filter stage merges the same finding reached from several callers into one). Its
    fingerprint is the module's content and the message, never the callers."""
    from .baseline import fingerprint
    from .bicep import defined_at, note_defined_at

    data = dict(issue.data)
    if issue.bicep_note:  # a construct skipped inside a module (PF010)
        found = note_defined_at(doc, (issue.line or 1, issue.column or 1, issue.message), document_at)
        if found is None:
            return None
        where, line, column, message = found
    elif issue.line is None:
        defined = defined_at(doc, issue.pointer, document_at)
        if defined is None:
            return None
        where = defined
        line, column = where.document.locate(where.pointer)
        message = issue.message.replace(where.via, "")
    else:
        return None
    chain = " > ".join(f"{path}:{call_line}" for path, call_line in where.calls)
    finding = Finding(r.id, r.name, issue.severity or r.severity, where.path, where.pointer, message,
                      issue.fix, line, column, {**data, "callers": [chain]})
    finding.fingerprint = fingerprint(finding, where.document)
    return finding


def _finding(r: Rule, path: str, pointer: str, message: str, line: int, column: int) -> Finding:
    return Finding(r.id, r.name, r.severity, path, pointer, message, None, line, column)


def _internal_error(path: str, exc: BaseException, rule_id: str | None = None) -> Finding:
    import traceback
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    origin = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    during = f" in rule {rule_id}" if rule_id else ""
    return Finding(PF003.id, PF003.name, PF003.severity, path, "",
                   f"internal error{during}: {type(exc).__name__}: {exc}{origin}", None, 1, 1)


def exit_code(findings: Iterable[Finding], fail_on: Severity | None) -> int:
    if fail_on is None:
        return 0
    return 1 if any(f.severity >= fail_on for f in findings) else 0


__all__ = ["scan", "exit_code", "Options", "ScanResult", "ScanContext", "DocumentStore", "check_document",
           "to_finding", "LINKING_KINDS"]
