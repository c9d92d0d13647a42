"""Azure ML v1 deploy and inference configurations as the SDK's file parser and `az ml model
deploy` read them: which keys are read for which compute type, their defaults, and where an
inference config's source folder, entry script and conda file are looked for (the one search
rule of preflight.searchpath)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

from .. import fs
from ..documents import Document
from ..loaders import LoadError, join_pointer, load_yaml
from ..searchpath import resolution_bases
from .values import Field, field_at, is_number, is_whole

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
