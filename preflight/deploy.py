"""Deploy configurations, normalised: Azure ML v1 deploy and inference configs and v2 online
deployments, read the way the Azure ML tools read them, plus the arithmetic the
DEP rules need: Kubernetes quantities and the replica formula of the v1 docs (*Deploy to AKS*).

Nothing here reports anything; the rules in `preflight.rules.deploy` and
`preflight.rules.scoring` do. The models answer questions such as "which keys does the v1 file
parser read for this compute type", "what is the scale ceiling and where is it set", "where does
this config's entry script live", without ever raising on a value of the wrong type.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
import builtins
from typing import Any, Iterator, TypeGuard

from .documents import Document, Kind
from . import fs
from .loaders import FileTooLarge, LoadError, join_pointer, load_yaml
from .searchpath import resolution_bases  # noqa: F401 - also the DEP rules' import
from .v2schema import camel_to_snake

# ------------------------------------------------------------------------------ value helpers


def is_number(value: Any) -> bool:
    """An int or a finite float; YAML booleans are ints in Python but never numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole(value: Any) -> bool:
    return is_number(value) and (isinstance(value, int) or float(value).is_integer())


def exact(value: int | float | Fraction) -> Fraction:
    """A number as an exact fraction of what was written: 0.7 is 7/10, not the nearest double."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    return Fraction(Decimal(repr(value)))


def num(value: int | float | Fraction) -> str:
    """A quantity for messages: 20 (not 20.0), 0.7, 285.71."""
    if isinstance(value, Fraction):
        value = float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def show(value: Any) -> str:
    """A value as the user wrote it, for messages: 20, 0.7, 'abc', true, null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, Fraction):
        return f"{float(value):g}"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Field:
    """One key of a config: its dotted name, JSON pointer, and value (None when absent)."""

    path: tuple[str, ...]
    pointer: str
    value: Any
    present: bool

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def given(self) -> bool:
        """Present with a value: the Azure ML parsers treat `key: null` like a missing key."""
        return self.present and self.value is not None


def field_at(data: Any, path: tuple[str, ...]) -> Field:
    node, pointer = data, ""
    for i, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            for rest in path[i:]:
                pointer = join_pointer(pointer, rest)
            return Field(path, pointer, None, False)
        node, pointer = node[key], join_pointer(pointer, key)
    return Field(path, pointer, node, True)


# ------------------------------------------------------------------ Kubernetes quantities

_QUANTITY = re.compile(r"([+-]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30}))"
                       r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d{1,3})?")
_BINARY_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIX: dict[str, Fraction | int] = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3,
    "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def parse_quantity(text: Any) -> Fraction | None:
    """A Kubernetes resource quantity (`500m`, `0.5`, `1Gi`, `200Mi`, `1e3`) as an exact number
    of base units (cores, bytes), or None when it is not one. Only strings are quantities:
    that is what the v2 schema accepts (`fields.String`)."""
    if not isinstance(text, str):
        return None
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    number, suffix = match.groups()
    try:
        value = Fraction(Decimal(number))
    except (InvalidOperation, ValueError):
        return None
    if not suffix:
        return value
    if suffix in _BINARY_SUFFIX:
        return value * _BINARY_SUFFIX[suffix]
    if suffix in _DECIMAL_SUFFIX:
        return value * _DECIMAL_SUFFIX[suffix]
    return value * Fraction(10) ** int(suffix[1:])


# ------------------------------------------------------------------------ the capacity formula


def required_replicas(rps: float, latency_ms: float, utilization_pct: float | Fraction, concurrency: float) -> int:
    """Replicas needed for a steady load, as the v1 docs compute it (*Deploy to AKS*, autoscaling):
    ceil(rps x latency / utilisation / concurrency). 20 rps at 10 s, 70 %, 1 request: 286."""
    in_flight = exact(rps) * exact(latency_ms) / 1000  # requests being served at any moment
    return math.ceil(in_flight / (exact(utilization_pct) / 100) / exact(concurrency))


def spike_absorbed(utilization_pct: float | Fraction, spike_pct: float) -> bool:
    """A sudden rise of `spike_pct` % is served by the spare replicas, before the autoscaler adds
    any, iff u x (1 + s) <= 1."""
    return exact(utilization_pct) / 100 * (1 + exact(spike_pct) / 100) <= 1


def max_target_for_spike(spike_pct: float) -> int:
    """The highest whole target utilisation (percent) that absorbs a spike of `spike_pct` %."""
    return math.floor(Fraction(100) / (1 + exact(spike_pct) / 100))


def replicas_for_spike(rps: float, latency_ms: float, spike_pct: float, concurrency: float) -> int:
    """Replicas that serve the spiking load at full utilisation: a floor that needs no scaling."""
    peak = exact(rps) * (1 + exact(spike_pct) / 100)
    return math.ceil(peak * exact(latency_ms) / 1000 / exact(concurrency))


# ------------------------------------------------------------------------ declared load


class DeployOptionsError(ValueError):
    """`--expected-rps`, `--latency-ms` or `--spike-pct` given wrongly (a usage error)."""


@dataclass(frozen=True)
class DeclaredLoad:
    """Traffic a deployment must serve, as its owner declared it."""

    rps: float
    latency_ms: float
    spike_pct: float | None = None
    origin: str = ""  # where it was declared, for messages

    def describe(self) -> str:
        return f"{num(self.rps)} rps at {num(self.latency_ms)} ms per request"


@dataclass(frozen=True)
class DeploySettings:
    """Platform limits that change over time (*Manage and increase quotas*): `[deploy]` in the configuration."""

    managed_max_request_timeout_ms: int = 180_000
    kubernetes_max_request_timeout_ms: int | None = None
    ha_min_instances: int = 3  # fewer managed instances than this: DEP024 (0 turns it off)


def deploy_options(expected_rps: float | None = None, latency_ms: float | None = None,
                   spike_pct: float | None = None) -> dict[str, Any]:
    """The `Options.extra` entries of the command-line load options (they apply to every deploy
    config of the scan: meant for checking one file). Raises DeployOptionsError."""
    if expected_rps is None and latency_ms is None and spike_pct is None:
        return {}
    if expected_rps is None or latency_ms is None:
        given = "--expected-rps" if expected_rps is not None else "--latency-ms" if latency_ms is not None \
            else "--spike-pct"
        missing = "--latency-ms" if expected_rps is not None else "--expected-rps" if latency_ms is not None \
            else "--expected-rps and --latency-ms"
        raise DeployOptionsError(f"{given} needs {missing}")
    for name, value in (("--expected-rps", expected_rps), ("--latency-ms", latency_ms)):
        if not is_number(value) or value <= 0:
            raise DeployOptionsError(f"{name} must be a number > 0")
    if spike_pct is not None and (not is_number(spike_pct) or spike_pct < 0):
        raise DeployOptionsError("--spike-pct must be a number >= 0")
    return {"deploy_cli_load": DeclaredLoad(expected_rps, latency_ms, spike_pct, "--expected-rps/--latency-ms")}


def _config_for(doc: Document, options: Any) -> Any:
    configs = options.extra.get("configs")
    if configs is not None:
        return configs.used_for(doc.path)
    return options.extra.get("config")


def settings_of(doc: Document, options: Any) -> DeploySettings:
    """`[deploy]` of the file's own configuration, else the defaults."""
    config = _config_for(doc, options)
    values = config.get("deploy") if config is not None else None
    if not isinstance(values, dict):
        return DeploySettings()
    names = {"managed-max-request-timeout-ms": "managed_max_request_timeout_ms",
             "kubernetes-max-request-timeout-ms": "kubernetes_max_request_timeout_ms",
             "ha-min-instances": "ha_min_instances"}
    return DeploySettings(**{names[k]: v for k, v in values.items() if k in names and is_whole(v)})


def declared_load(doc: Document, options: Any) -> DeclaredLoad | None:
    """The load declared for this file: the command-line options win; else the first `[[load]]`
    entry of the file's configuration whose `path` glob matches it."""
    cli = options.extra.get("deploy_cli_load")
    if cli is not None:
        return cli
    config = _config_for(doc, options)
    if config is None or not hasattr(config, "matching"):
        return None
    for entry in config.matching("load", doc.path):
        rps = entry.get("rps")
        latency = entry.get("latency_ms", entry.get("latency-ms"))
        spike = entry.get("spike_pct", entry.get("spike-pct"))
        if is_number(rps) and rps > 0 and is_number(latency) and latency > 0:
            origin = f"{os.path.basename(config.path or 'configuration')} [[load]] '{entry.get('path')}'"
            return DeclaredLoad(rps, latency, spike if is_number(spike) and spike >= 0 else None, origin)
    return None


# ------------------------------------------------------------------- v1 deploy configuration

ACI, AKS, AKS_ENDPOINT, LOCAL = "aci", "aks", "aksendpoint", "local"
COMPUTE_TYPES = {ACI: "ACI", AKS: "AKS", AKS_ENDPOINT: "AKSENDPOINT", LOCAL: "local"}
_AKS_BOTH = frozenset({AKS, AKS_ENDPOINT})
_ACI_AKS = frozenset({ACI, AKS, AKS_ENDPOINT})
_ALL = frozenset(COMPUTE_TYPES)


@dataclass(frozen=True)
class V1Key:
    """A key the v1 file parser (`deploy_config_dict_to_obj`) reads, for some compute types."""

    path: tuple[str, ...]
    type: str  # "number" | "integer" | "boolean" | "string" | "mapping"
    read_by: frozenset[str]


def _keys(read_by: frozenset[str], *specs: tuple[str, str]) -> list[V1Key]:
    return [V1Key(tuple(path.split(".")), kind, read_by) for path, kind in specs]


# Checked against azureml-core 1.61 `deploy_config_dict_to_obj`.
V1_KEYS: dict[tuple[str, ...], V1Key] = {k.path: k for k in [
    *_keys(_ALL, ("computeType", "string")),
    *_keys(_ACI_AKS,
           ("containerResourceRequirements", "mapping"), ("containerResourceRequirements.cpu", "number"),
           ("containerResourceRequirements.memoryInGB", "number"), ("authEnabled", "boolean"),
           ("appInsightsEnabled", "boolean"), ("keys", "mapping"), ("keys.primaryKey", "string"),
           ("keys.secondaryKey", "string")),
    *_keys(_AKS_BOTH,
           ("autoScaler", "mapping"), ("autoScaler.autoscaleEnabled", "boolean"),
           ("autoScaler.minReplicas", "integer"), ("autoScaler.maxReplicas", "integer"),
           ("autoScaler.refreshPeriodInSeconds", "integer"), ("autoScaler.targetUtilization", "number"),
           ("dataCollection", "mapping"), ("dataCollection.storageEnabled", "boolean"),
           ("containerResourceRequirements.cpuLimit", "number"),
           ("containerResourceRequirements.memoryInGBLimit", "number"),
           ("scoringTimeoutMs", "integer"), ("maxConcurrentRequestsPerContainer", "integer"),
           ("maxQueueWaitMs", "integer"), ("numReplicas", "integer"), ("gpuCores", "integer"),
           ("livenessProbeRequirements", "mapping"), ("livenessProbeRequirements.periodSeconds", "integer"),
           ("livenessProbeRequirements.initialDelaySeconds", "integer"),
           ("livenessProbeRequirements.timeoutSeconds", "integer"),
           ("livenessProbeRequirements.successThreshold", "integer"),
           ("livenessProbeRequirements.failureThreshold", "integer"),
           ("namespace", "string"), ("tokenAuthEnabled", "boolean")),
    *_keys(frozenset({AKS}), ("computeTargetName", "string")),
    *_keys(frozenset({AKS_ENDPOINT}), ("versionName", "string"), ("trafficPercentile", "number")),
    *_keys(frozenset({ACI}),
           ("location", "string"), ("sslEnabled", "boolean"), ("sslCertificate", "string"), ("sslKey", "string"),
           ("cname", "string"), ("dnsNameLabel", "string"), ("vaultBaseUrl", "string"), ("keyName", "string"),
           ("keyVersion", "string"), ("vnetName", "string"), ("subnetName", "string")),
    *_keys(frozenset({LOCAL}), ("port", "integer")),
]}
# In the REST payload, but never read from a deploy-config file (`deploy_config_dict_to_obj`): a silent no-op.
V1_IGNORED_KEYS = {("containerResourceRequirements", "gpu")}
AUTOSCALER_VALUES = ("minReplicas", "maxReplicas", "refreshPeriodInSeconds", "targetUtilization")
V1_DEFAULT_MAX_REPLICAS = 10
V1_DEFAULT_TARGET_UTILIZATION = 70
V1_DEFAULT_SCORING_TIMEOUT_MS = 60_000
V1_DEFAULT_QUEUE_WAIT_MS = 500


def cli_view(doc: Document) -> Any:
    """The data as `az ml model deploy` reads the file: it tries a YAML parser first and falls
    back to JSON, even for `.json` files. The two differ on a few spellings (`1e3` is a string
    to YAML 1.1), so a JSON file is re-read the CLI's way."""
    if doc.format != "json":
        return doc.data
    if "cli_view" not in doc.cache:
        try:
            view = load_yaml(doc.text)
        except LoadError:
            view = None
        doc.cache["cli_view"] = view if isinstance(view, dict) else doc.data
    return doc.cache["cli_view"]


class V1Deploy:
    """A v1 deploy configuration as the SDK's file parser sees it."""

    def __init__(self, doc: Document):
        self.doc = doc
        data = cli_view(doc)
        self.data: dict = data if isinstance(data, dict) else {}
        raw = self.data.get("computeType")
        lowered = raw.lower() if isinstance(raw, str) else None
        # None when missing or invalid (DEP007): the rules then judge keys against every type.
        self.compute_type: str | None = lowered if lowered in COMPUTE_TYPES else None

    @classmethod
    def of(cls, doc: Document) -> "V1Deploy":
        if "v1_deploy" not in doc.cache:
            doc.cache["v1_deploy"] = cls(doc)
        return doc.cache["v1_deploy"]

    def field(self, *path: str) -> Field:
        return field_at(self.data, path)

    def reads(self, key: V1Key) -> bool:
        return self.compute_type is None or self.compute_type in key.read_by

    def is_aks(self) -> bool:
        return self.compute_type in _AKS_BOTH

    def typed(self, *path: str) -> Any:
        """The value when present and of its expected type (else None: DEP006 reports it)."""
        f = self.field(*path)
        spec = V1_KEYS.get(path)
        if not f.given or spec is None or not value_has_type(f.value, spec.type):
            return None
        return f.value

    @property
    def autoscale_enabled(self) -> bool | None:
        """As the SDK decides: truthy is on, `is False` is off, anything else is unset."""
        scaler = self.data.get("autoScaler")
        value = scaler.get("autoscaleEnabled") if isinstance(scaler, dict) else None
        if value is False:
            return False
        return True if value else None

    def autoscaler_values(self) -> list[Field]:
        """autoScaler values other than autoscaleEnabled that are given (not null)."""
        return [f for f in (self.field("autoScaler", k) for k in AUTOSCALER_VALUES) if f.given]

    def walk_keys(self) -> Iterator[tuple[tuple[str, ...], str, Any]]:
        """(path, pointer, value) of every key at the levels the parser reads: the top level
        and inside the known mappings."""
        for key, value in self.data.items():
            path = (str(key),)
            pointer = join_pointer("", key)
            yield path, pointer, value
            spec = V1_KEYS.get(path)
            if spec is not None and spec.type == "mapping" and isinstance(value, dict):
                for sub, subvalue in value.items():
                    yield path + (str(sub),), join_pointer(pointer, sub), subvalue


def value_has_type(value: Any, kind: str) -> bool:
    if kind == "number":
        return is_number(value)
    if kind == "integer":
        return is_whole(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "mapping":
        return isinstance(value, dict)
    return True


# ------------------------------------------------------------------- v1 inference configuration

INFERENCE_KEYS: dict[str, str] = {
    "entryScript": "string", "sourceDirectory": "string", "runtime": "string", "condaFile": "string",
    "extraDockerfileSteps": "string", "enableGpu": "boolean", "cudaVersion": "string", "baseImage": "string",
    "baseImageRegistry": "mapping", "environment": "mapping", "description": "string",
    # The docs' table spells it with a capital F (v1 inference configuration docs); accepted as written there.
    "extraDockerFileSteps": "string",
}
# Keys azureml-core's `InferenceConfig` refuses next to an `environment`; truthiness as the SDK tests it.
ENVIRONMENT_EXCLUSIVE = ("runtime", "condaFile", "extraDockerfileSteps", "enableGpu", "cudaVersion", "baseImage")
DEPRECATED_INFERENCE_KEYS = ("runtime", "condaFile", "extraDockerfileSteps", "extraDockerFileSteps", "enableGpu",
                             "cudaVersion", "baseImage", "baseImageRegistry")
SUPPORTED_RUNTIMES = ("python", "spark-py", "python-slim")
SUPPORTED_CUDA_VERSIONS = ("9.0", "9.1", "10.0")


class V1Inference:
    def __init__(self, doc: Document):
        self.doc = doc
        self.data: dict = doc.data if isinstance(doc.data, dict) else {}

    @classmethod
    def of(cls, doc: Document) -> "V1Inference":
        if "v1_inference" not in doc.cache:
            doc.cache["v1_inference"] = cls(doc)
        return doc.cache["v1_inference"]

    def field(self, *path: str) -> Field:
        return field_at(self.data, path)

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        return value if isinstance(value, str) and value else None

    def source_directories(self) -> list[str]:
        """Folders the CLI may resolve `sourceDirectory` to. It resolves it against the folder
        `az ml model deploy` runs in, which a file cannot tell: the config's folder, each parent
        up to the repository root, and the current folder are all plausible."""
        source = self.string("sourceDirectory")
        out = []
        for base in resolution_bases(self.doc.directory):
            folder = fs.confine(source or ".", base, self.doc.directory)  # only inside the repository
            if folder is not None and fs.isdir(folder) and folder not in out:
                out.append(folder)
        return out

    def find(self, relative: str) -> str | None:
        """The first existing file `relative` to one of the source directories (inside the
        repository: an absolute path, or one that leads out of it, is never looked at)."""
        for folder in self.source_directories():
            candidate = fs.confine(relative, folder, self.doc.directory)
            if candidate is not None and fs.exists(candidate):
                return candidate
        return None

    def outside(self, relative: str | None = None) -> bool:
        """Whether `relative` (or with None, sourceDirectory itself), taken from sourceDirectory
        in the config's folder, leaves the repository: preflight does not follow it."""
        source = self.string("sourceDirectory") or "."
        named = source if relative is None else os.path.join(source, relative)
        return leaves_repository(named, self.doc.directory)


def leaves_repository(named: str, folder: str) -> bool:
    """Whether a path a config in `folder` names leaves its repository (fs.confine): such a
    path is reported as not checked, never looked at."""
    return fs.confine(named, folder) is None


# ------------------------------------------------------------------- v2 online deployment

MANAGED, KUBERNETES = "managed", "kubernetes"
V2_DEFAULT_REQUEST_TIMEOUT_MS = 5_000
V2_DEFAULT_QUEUE_WAIT_MS = 500
V2_K8S_DEFAULTS = {"min_instances": 1, "max_instances": 1, "target_utilization_percentage": 70, "polling_interval": 1}


@dataclass(frozen=True)
class IntValue:
    """An integer field as azure-ai-ml's marshmallow `fields.Int()` reads it: ints and numeric
    strings are accepted, floats are truncated, booleans and anything else are rejected."""

    field: Field
    value: int | None  # None when absent or rejected
    problem: str | None = None  # why it was rejected or changed
    rejected: bool = False


def v2_int(f: Field) -> IntValue:
    if not f.given:
        return IntValue(f, None)
    v = f.value
    if isinstance(v, bool):
        return IntValue(f, None, f"{f.name} is {show(v)}: a whole number is expected", True)
    if isinstance(v, int):
        return IntValue(f, v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return IntValue(f, None, f"{f.name} is {show(v)}: a whole number is expected", True)
        if v.is_integer():
            return IntValue(f, int(v))
        return IntValue(f, int(v), f"{f.name} is {show(v)}: the SDK truncates it to {int(v)}")
    if isinstance(v, str):
        try:
            return IntValue(f, int(v.strip()))
        except ValueError:
            return IntValue(f, None, f"{f.name} is the string {show(v)}: a whole number is expected", True)
    return IntValue(f, None, f"{f.name} is {type_name(v)}: a whole number is expected", True)


REGISTERED_MODEL = re.compile(r"^azureml:(?!//)/?(?:.*/models/)?(?P<name>[^/:@]+)(?:[:@].*|/versions/.*)?$", re.I)
REGISTRY_MODEL = re.compile(r"^azureml://registries/[^/]+/models/(?P<name>[^/]+)", re.I)


def model_name(reference: Any) -> str | None:
    """The registered model name a v2 `model:` value names, or None when it names none
    (a local path, an inline model without a name)."""
    if isinstance(reference, dict):
        name = reference.get("name")
        return name if isinstance(name, str) and name else None
    if not isinstance(reference, str):
        return None
    for pattern in (REGISTRY_MODEL, REGISTERED_MODEL):
        match = pattern.match(reference.strip())
        if match:
            return match.group("name")
    return None


_PLACEHOLDER = re.compile(r"<[^<>]+>|\{\{.*?\}\}|\$\{.*?\}|\$\(.*?\)")


def is_placeholder(text: Any) -> bool:
    """A value a pipeline fills in before deploying (`<CODE_DIR>`, `{{ path }}`, `${VAR}`)."""
    return isinstance(text, str) and bool(_PLACEHOLDER.search(text))


def is_local_path(reference: Any) -> TypeGuard[str]:
    """A string that names a file or folder on disk (not an asset id, a URI, a datastore, or a
    placeholder a pipeline substitutes)."""
    return isinstance(reference, str) and bool(reference.strip()) and "://" not in reference \
        and not reference.lower().startswith("azureml:") and not is_placeholder(reference)


class OnlineDeployment:
    """A v2 online deployment YAML as azure-ai-ml reads it."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.data: dict = doc.data if isinstance(doc.data, dict) else {}
        # azure-ai-ml loads the Kubernetes schema for `type: kubernetes` exactly; any other
        # spelling, or a Kubernetes `$schema` alone, loads as a managed deployment.
        if self.data.get("type") == KUBERNETES:
            self.compute = KUBERNETES
        else:
            self.compute = MANAGED

    @classmethod
    def of(cls, doc: Document) -> "OnlineDeployment":
        if "v2_deployment" not in doc.cache:
            doc.cache["v2_deployment"] = cls(doc)
        return doc.cache["v2_deployment"]

    @property
    def name(self) -> str:
        value = self.data.get("name")
        return value if isinstance(value, str) and value else os.path.basename(self.doc.path)

    def field(self, *path: str) -> Field:
        return field_at(self.data, path)

    def int(self, *path: str) -> IntValue:
        return v2_int(self.field(*path))

    @property
    def scale_type(self) -> str:
        """`default` or `target_utilization` (camel case accepted); a kubernetes deployment
        without scale_settings autoscales by target utilisation (*Kubernetes online deployment YAML schema*)."""
        settings = self.data.get("scale_settings")
        raw = settings.get("type") if isinstance(settings, dict) else None
        if isinstance(raw, str) and raw:
            return camel_to_snake(raw)
        return "target_utilization" if self.compute == KUBERNETES else "default"

    # `builtins.int`: inside this class `int` is the method below
    def scale_value(self, key: str) -> tuple[builtins.int | None, Field, bool]:
        """A target-utilisation setting: (value or its default, field, whether defaulted)."""
        iv = self.int("scale_settings", key)
        if iv.field.given:
            return iv.value, iv.field, False
        return V2_K8S_DEFAULTS.get(key), iv.field, True

    def worker_count(self) -> tuple[builtins.int | None, Field]:
        iv = self.int("environment_variables", "WORKER_COUNT")
        return iv.value, iv.field

    def environment(self) -> Field:
        return self.field("environment")

    def model_names(self) -> frozenset[str] | None:
        f = self.field("model")
        if not f.given:
            return None
        name = model_name(f.value)
        return frozenset([name]) if name else None

    def code_directory(self) -> str | None:
        """The local code folder (None: an asset, or a path outside the repository)."""
        code = self.data.get("code_configuration")
        path = code.get("code") if isinstance(code, dict) else None
        if not is_local_path(path):
            return None
        return fs.confine(path, self.doc.directory)

    def scoring_script(self) -> str | None:
        """The scoring script in the code folder (None: not named, or outside the repository)."""
        code = self.data.get("code_configuration")
        script = code.get("scoring_script") if isinstance(code, dict) else None
        folder = self.code_directory()
        if folder is None or not isinstance(script, str) or not script:
            return None
        return fs.confine(script, folder, self.doc.directory)


# ------------------------------------------------------------------- scale plan (capacity)


@dataclass(frozen=True)
class ScalePlan:
    """What bounds a deployment's throughput, with where each number is set, for DEP003/16/17.
    `utilization_pct` is 100 for a fixed replica count: the pool can at best be fully busy."""

    ceiling: int
    ceiling_name: str  # the key that sets it, e.g. "autoScaler.maxReplicas"
    ceiling_pointer: str
    ceiling_default: bool
    utilization_pct: Fraction | int
    utilization_name: str | None  # None for fixed counts
    concurrency: int
    concurrency_name: str
    minimum: int | None = None  # the autoscaler's floor
    minimum_name: str | None = None
    unit: str = "replicas"
    utilization_pointer: str = ""

    @property
    def autoscaled(self) -> bool:
        return self.utilization_name is not None


def v1_scale_plan(dc: V1Deploy) -> ScalePlan | None:
    """None when an input the formula needs is invalid (other rules report it)."""
    conc_f = dc.field("maxConcurrentRequestsPerContainer")
    if dc.compute_type == ACI:
        return ScalePlan(1, "computeType", "/computeType", False, 100, None, 1, "ACI", unit="containers")
    if not dc.is_aks():
        return None
    concurrency = dc.typed("maxConcurrentRequestsPerContainer") if conc_f.given else 1
    if concurrency is None or concurrency < 1:
        return None
    conc_name = "maxConcurrentRequestsPerContainer"
    replicas = dc.field("numReplicas")
    if replicas.given and dc.autoscale_enabled is not True:
        fixed = dc.typed("numReplicas")
        if fixed is None or fixed < 1:
            return None
        return ScalePlan(int(fixed), "numReplicas", replicas.pointer, False, 100, None, int(concurrency), conc_name)
    # Autoscaled: explicitly, by the service default, or as the autoScaler values intend (DEP004).
    max_f, target_f, min_f = (dc.field("autoScaler", k) for k in ("maxReplicas", "targetUtilization", "minReplicas"))
    ceiling = dc.typed("autoScaler", "maxReplicas") if max_f.given else V1_DEFAULT_MAX_REPLICAS
    target = dc.typed("autoScaler", "targetUtilization") if target_f.given else V1_DEFAULT_TARGET_UTILIZATION
    minimum = dc.typed("autoScaler", "minReplicas") if min_f.given else 1
    if ceiling is None or ceiling < 1 or target is None or not 1 < target <= 100 or minimum is None:
        return None
    return ScalePlan(int(ceiling), "autoScaler.maxReplicas", max_f.pointer if max_f.given else "/autoScaler",
                     not max_f.given, exact(target), "autoScaler.targetUtilization", int(concurrency), conc_name,
                     int(minimum), "autoScaler.minReplicas",
                     utilization_pointer=target_f.pointer if target_f.given else "/autoScaler")


def v2_scale_plan(dep: OnlineDeployment) -> ScalePlan | None:
    conc = dep.int("request_settings", "max_concurrent_requests_per_instance")
    concurrency = conc.value if conc.field.given else 1
    if concurrency is None or concurrency < 1:
        return None
    conc_name = "request_settings.max_concurrent_requests_per_instance"
    if dep.compute == KUBERNETES and dep.scale_type == "target_utilization":
        ceiling, max_f, max_default = dep.scale_value("max_instances")
        target, target_f, target_default = dep.scale_value("target_utilization_percentage")
        minimum, _, _ = dep.scale_value("min_instances")
        if ceiling is None or ceiling < 1 or target is None or not 1 < target <= 100 or minimum is None:
            return None
        return ScalePlan(ceiling, "scale_settings.max_instances", max_f.pointer if not max_default else
                         ("/scale_settings" if dep.field("scale_settings").present else ""), max_default,
                         target, "scale_settings.target_utilization_percentage", concurrency, conc_name,
                         minimum, "scale_settings.min_instances", unit="instances",
                         utilization_pointer=target_f.pointer if not target_default else "/scale_settings")
    if dep.scale_type != "default":
        return None
    count = dep.int("instance_count")
    if count.value is None or count.value < 1:
        return None
    return ScalePlan(count.value, "instance_count", count.field.pointer, False, 100, None, concurrency, conc_name,
                     unit="instances")


# ------------------------------------------------------------------- links to scoring scripts


@dataclass(frozen=True)
class ScriptUse:
    """A config that runs a scoring script, and the models it deploys (None: not declared)."""

    config: Document
    model_names: frozenset[str] | None


def script_uses(ctx: Any) -> dict[str, list[ScriptUse]]:
    """Scoring script (absolute path) -> the deploy configs of this scan that run it."""
    return ctx.model("deploy.script_uses", lambda: _build_script_uses(
        ctx.documents_of(Kind.ONLINE_DEPLOYMENT_V2, Kind.INFERENCE_V1)))


def _build_script_uses(documents: Any) -> dict[str, list[ScriptUse]]:
    uses: dict[str, list[ScriptUse]] = {}
    for doc in documents:
        if doc.error is not None:
            continue
        script, names = None, None
        if doc.kind == Kind.ONLINE_DEPLOYMENT_V2:
            dep = OnlineDeployment.of(doc)
            script, names = dep.scoring_script(), dep.model_names()
        elif doc.kind == Kind.INFERENCE_V1:
            ic = V1Inference.of(doc)
            entry = ic.string("entryScript")
            script = ic.find(entry) if entry else None
        if script:
            uses.setdefault(os.path.normpath(os.path.abspath(script)), []).append(ScriptUse(doc, names))
    return uses


@dataclass
class ScriptSource:
    """A scoring script read for a config's check: its tree, or why it could not be read."""

    path: str
    tree: Any = None
    problem: str | None = None
    line: int | None = None


MAX_SCRIPT_BYTES = 5 * 1024 * 1024


def read_script(path: str, ctx: Any) -> ScriptSource:
    """Parse a script with `ast` (never import it); reuse the scan's document when it has one."""
    import ast

    doc = ctx.document_at(path) if ctx is not None else None
    if doc is not None and doc.kind == Kind.SCORING_SCRIPT:
        if doc.error is not None:
            return ScriptSource(path, None, doc.error.message, doc.error.line)
        return ScriptSource(path, doc.data)
    try:
        raw = fs.read(path, MAX_SCRIPT_BYTES)
    except FileTooLarge:
        return ScriptSource(path)  # too large to check; not a finding
    except OSError as exc:
        return ScriptSource(path, None, f"cannot be read: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ScriptSource(path, None, "is not UTF-8 text")
    try:
        return ScriptSource(path, ast.parse(text, filename=path))
    except SyntaxError as exc:
        return ScriptSource(path, None, f"invalid Python: {exc.msg}", exc.lineno)
    except (ValueError, RecursionError, MemoryError) as exc:
        return ScriptSource(path, None, f"invalid Python: {exc}")



# ------------------------------------------------------------------------------ ARM templates

ARM_ONLINE_DEPLOYMENT = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
ARM_AUTOSCALE = "Microsoft.Insights/autoscalesettings"
_ISO_DURATION = re.compile(r"P(?:(\d{1,9}(?:\.\d{1,9})?)W)?(?:(\d{1,9}(?:\.\d{1,9})?)D)?"
                           r"(?:T(?:(\d{1,9}(?:\.\d{1,9})?)H)?(?:(\d{1,9}(?:\.\d{1,9})?)M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?",
                           re.I)


def iso_seconds(text: Any) -> Fraction | None:
    """An ISO-8601 duration (`PT1M`, `PT16M39.999S`, `P1W`) in seconds, or None."""
    if not isinstance(text, str):
        return None
    match = _ISO_DURATION.fullmatch(text.strip())
    if not match or not any(match.groups()) or text.strip().upper().endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (Fraction(Decimal(g)) if g else Fraction(0) for g in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class ArmValue:
    """A property of an evaluated ARM resource: its value when known, and where to report."""

    value: Any  # None when absent or not known
    pointer: str  # in the scanned document
    present: bool
    known: bool


class ArmResource:
    """One resource an ARM template deploys (under one parameter set), evaluated by the ARM
    engine (`preflight.arm`): the DEP rules read values through it and never parse `[...]`."""

    def __init__(self, resource: Any):
        self.resource = resource

    @property
    def certain(self) -> bool:
        """Deployed for sure; when a condition or count is unknown, findings are warnings."""
        return self.resource.deployed is True

    @property
    def name(self) -> str:
        name = self.resource.name
        return name if isinstance(name, str) else self.resource.name_text

    @property
    def where(self) -> str:
        label = self.resource.parameter_file
        return f" (parameters from {os.path.basename(label)})" if label else ""

    def at(self, path: str) -> ArmValue:
        from .arm import ABSENT, is_known

        res = self.resource
        value = res.get(path)
        pointer = res.pointer_of(path) if res.local else res.anchor
        if value is ABSENT:
            return ArmValue(None, pointer, False, True)
        if not is_known(value):
            return ArmValue(None, pointer, True, False)
        return ArmValue(value, pointer, True, True)


def arm_resources(doc: Document, ctx: Any, resource_type: str) -> list[ArmResource]:
    """The resources of a type that the template may deploy (not the ones it surely does not)."""
    if doc.error is not None:
        return []
    from .arm import deployed_resources

    return [ArmResource(r) for r in deployed_resources(doc, ctx, resource_type) if r.deployed is not False]
