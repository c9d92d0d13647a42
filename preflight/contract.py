"""The rule contract: what rules, models, filters, the cache, reporters and providers share.

A rule is a function decorated with `@rule(...)`: its metadata sits beside its check, and its
docstring is its documentation (What it does / Why it matters / Example / How to fix). It reads
documents of the kinds it declares and yields `Issue`s; the engine (`preflight.engine`, the
composition root) attaches the rule's id, name and severity and resolves positions. A rule that
is emitted elsewhere (by the scan itself, by a provider such as `--live`) is `declare`d.

The built-in rules live in `preflight.rules`, one module per family; `preflight.rulepacks`
imports them. Everything here is plain data and a registry: this module imports no stage of the
scan, and no rule.
"""
from __future__ import annotations

import datetime
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, TypeVar

from .config import Config, Configs, rule_filter
from .documents import Document, Kind
from .findings import ERROR, INFO, WARNING, Finding, Issue, Severity

if TYPE_CHECKING:  # types of options that models below the rules define (plain data)
    from .baseline import Baseline
    from .conda import PinPolicy
    from .deploy.capacity import DeclaredLoad

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
T = TypeVar("T")


class Context(Protocol):
    """What a rule (or a model) may look at besides its document: other documents, the models
    built once per scan, and the scan's options. The engine's `ScanContext` implements it."""

    options: Options

    def document_at(self, abspath: str) -> Document | None:
        """The document at a path (loaded on demand if the scan has not kept it)."""
        ...

    def documents_of(self, *kinds: Kind) -> list[Document]:
        """Every scanned document of the linking kinds asked for."""
        ...

    def model(self, key: str, build: Callable[[], T], local: bool = False) -> T:
        """Build a model once: project-wide, or with `local` one of a file or folder."""
        ...


Check = Callable[[Document, Context], Iterable[Issue]]


class ProgressDisplay(Protocol):
    """Shows a scan's progress (preflight.progress.Progress)."""

    def start(self, label: str, total: int) -> Callable[[], None]:
        """Begin a phase of `total` steps; returns the function to call once per step."""
        ...


class Provider(Protocol):
    """Findings from outside the offline rules (e.g. `--live`): `collect` sees each checked
    document, `finish` runs after every offline rule; its failure never hides the others."""

    def collect(self, doc: Document, ctx: Context) -> None:
        ...

    def finish(self, ctx: Context) -> list[Finding]:
        ...


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    kinds: frozenset[Kind]
    summary: str
    check: Check | None
    docs: str = ""
    family: str = ""


REGISTRY: dict[str, Rule] = {}


def rule(id: str, name: str, severity: Severity, reads: Iterable[Kind] | Kind,
         summary: str) -> Callable[[Check], Check]:
    """Register a check. `reads` is the kind (or kinds) of document it is called for."""
    kinds = frozenset([reads] if isinstance(reads, Kind) else reads)

    def register(check: Check) -> Check:
        if id in REGISTRY:
            raise ValueError(f"rule id {id} registered twice")
        REGISTRY[id] = Rule(id, name, severity, kinds, summary, check,
                            docs=inspect.cleandoc(check.__doc__ or ""), family=_family(id))
        return check

    return register


def declare(id: str, name: str, severity: Severity, summary: str, docs: str) -> Rule:
    """Register a rule the scan itself emits (PF001) or one emitted by a provider."""
    r = Rule(id, name, severity, frozenset(), summary, None, docs=inspect.cleandoc(docs), family=_family(id))
    REGISTRY[id] = r
    return r


def _family(rule_id: str) -> str:
    return rule_id.rstrip("0123456789")


@dataclass(frozen=True)
class DeploymentTarget:
    """Where templates are deployed, when the command line says (`--subscription`,
    `--resource-group`): what the ARM evaluator's `subscription()`, `resourceGroup()` and
    `tenant()` return. None: not known."""

    subscription: str | None = None
    resource_group: str | None = None
    location: str | None = None
    tenant: str | None = None


@dataclass
class Options:
    """Everything a scan needs besides the paths; filled from the CLI and the configuration.
    The result cache (preflight.cache.scan_key) keys on every field that can change a finding."""

    select: set[str] | None = None  # None: every rule
    ignore: set[str] = field(default_factory=set)
    exclude: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # --param NAME=VALUE
    parameter_files: tuple[str, ...] = ()  # --parameters FILE
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Options of third-party rule packs, by name (the built-in rules read none of them); part of
    # the result cache's key, so each value needs a stable identity (JSON data or a dataclass).
    extra: dict[str, Any] = field(default_factory=dict)
    # Configuration: each file's own (`configs`, read through `config_for`), else the run's
    # (`config`: of --config or the first path) for every file; None for both: the defaults.
    configs: Configs | None = None
    baseline: Baseline | None = None  # hides known findings in the filter stage (preflight.baseline)
    progress: ProgressDisplay | None = None
    providers: tuple[Provider, ...] = ()
    jobs: int | None = None  # worker processes for large scans; None: one per CPU, 1: none
    cache_dir: str | None = None  # the result cache (preflight.cache); None: no cache
    # Fields added after the ones above, so that positional arguments keep their meaning.
    config: Config | None = None  # the run's configuration (see `configs`)
    # The day date-bound rules judge against (preflight.clock; --today, $PREFLIGHT_TODAY or the
    # configuration's `today`); None: $PREFLIGHT_TODAY, else the real date.
    today: datetime.date | None = None
    # What ENV004/ENV005 accept as pinned: --pinning ("exact" or "compatible") wins over each
    # file's `pinning`; `pin_policy` is the policy each file's configuration refines
    # (preflight.conda.PinPolicy; None: the default one).
    pinning: str | None = None
    pin_policy: PinPolicy | None = None
    # The load every deploy config must serve (--expected-rps, --latency-ms, --spike-pct); None:
    # each file's `[[load]]` in its configuration.
    load: DeclaredLoad | None = None
    deployment: DeploymentTarget = field(default_factory=DeploymentTarget)
    keyvault_api_version: str | None = None  # what `fix` raises retiring Key Vault apiVersions to; None: the default

    def config_for(self, path: str) -> Config | None:
        """The configuration governing the file at `path`: its own when the scan has `configs`
        (recorded as a dependency of the file being checked: preflight.config.Configs.used_for),
        else the run's."""
        if self.configs is not None:
            return self.configs.used_for(path)
        return self.config


@dataclass
class ScanResult:
    findings: list[Finding]
    files: int  # files of a known kind that were read
    checked: list[str] = field(default_factory=list)  # their paths, in the order they were checked
    baselined: int = 0  # findings hidden by the baseline
    cache_hits: int = 0  # files whose findings came from the result cache
    cache_error: str | None = None  # why the cache could not be used or saved


def rule_enabled(rule_id: str, options: Options) -> bool:
    """Enabled by select/ignore (the more specific selector wins); each file's configuration
    narrows this further in the filter stage."""
    return rule_filter(options.select, options.ignore)(rule_id)


__all__ = ["ERROR", "WARNING", "INFO", "Severity", "Issue", "Finding", "Document", "Kind", "Context", "Check",
           "Rule", "REGISTRY", "rule", "declare", "Options", "DeploymentTarget", "ProgressDisplay", "Provider",
           "ScanResult", "rule_enabled",
           "DEFAULT_MAX_FILE_BYTES"]
