"""Azure ML v2 online deployments as azure-ai-ml reads them: managed or Kubernetes, integer
fields as marshmallow reads them, scale settings and their defaults, the models they deploy and
their local code folder and scoring script."""
from __future__ import annotations

import builtins
import math
import os
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from .. import fs
from ..documents import Document
from ..v2schema import camel_to_snake
from .values import Field, field_at, show, type_name


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
