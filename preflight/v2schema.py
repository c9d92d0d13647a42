"""The v2 YAML files `az ml` reads for deployment, as data: online and batch deployments,
online and batch endpoints, and environments, key by key, with the types and coercions of the
marshmallow schemas azure-ai-ml 1.35 loads them with (`azure/ai/ml/_schema/...`).

The schemas are ours, written from those facts; azure-ai-ml is never imported. `check()` walks a
file against its schema the way `load_online_deployment` and its siblings do and returns what
the SDK would refuse, each as a `Problem` with a JSON pointer and, for an unknown key, the
closest key of the schema's own list. The DEP rules turn problems into findings.

What the SDK does, in short:
- every schema refuses unknown keys (marshmallow `unknown=RAISE`) and null values ("Field may
  not be null"), at every level;
- integers (`fields.Int`) accept whole numbers, floats (truncated) and strings that `int()`
  reads ("3", " 3 ", "+3"), never booleans or "3.0"; numbers (`fields.Float`) accept what
  `float()` reads except nan and infinity; strings must be strings; booleans take marshmallow's
  truthy and falsy sets (true, "yes", "on", 1, ...);
- enums (`StringTransformedEnum`) take strings only, compared after a case transform: lower
  case, or the SDK's camel-to-snake (so `TargetUtilization`, `TARGET_UTILIZATION` and
  `target_utilization` are one value);
- unions (`scale_settings`, `environment`, `model`) try each alternative in turn;
- keys the SDK only writes (`$schema`, `provisioning_state`, ...) are dropped when they have a
  value and refused when null.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .loaders import join_pointer

# ----------------------------------------------------------------------------- the SDK's casing


def camel_to_snake(text: str) -> str:
    """azure-ai-ml's `camel_to_snake`: `TargetUtilization`, `targetUtilization` and
    `TARGET_UTILIZATION` all become `target_utilization`; comma-separated parts each."""
    def convert(part: str) -> str:
        part = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", part)
        return re.sub("([a-z0-9])([A-Z])", r"\1_\2", part).lower()
    if "," in text:
        return ",".join(convert(t.strip()) for t in text.split(","))
    return convert(text)


CASINGS = {"lower": str.lower, "camel_to_snake": camel_to_snake, "exact": lambda s: s}

# ----------------------------------------------------------------------------- the schema data


@dataclass(frozen=True)
class Key:
    """One key of a schema.

    type: str | int | float | bool | dict | list | raw (anything but null) | version (a string
    or a number) | enum | object (a nested schema) | union (one of several nested schemas,
    chosen by their `type` key) | asset (an `azureml:` or registry reference, or an inline
    nested schema) | compute (an `azureml:` reference) | str_or_list (a string or a list of
    strings)."""

    type: str
    required: bool = False
    allowed: tuple[str, ...] = ()  # enum values, in their transformed form
    case: str = "lower"  # how the SDK transforms an enum value before comparing
    schema: str | None = None  # object/asset: the nested schema; dict: the schema of each value
    alternatives: tuple[str, ...] = ()  # union: nested schemas, each with a required enum `type`
    values: str | None = None  # dict: the type of each value ("int")
    dump_only: bool = False  # written by the SDK: dropped on load when it has a value


# one letter per scalar type keeps the schema tables below as compact as the SDK's own
S, I, F, B, D = Key("str"), Key("int"), Key("float"), Key("bool"), Key("dict")  # noqa: E741
RAW, VERSION, LIST = Key("raw"), Key("version"), Key("list")
DUMP = Key("raw", dump_only=True)


def enum(*allowed: str, case: str = "lower", required: bool = False) -> Key:
    return Key("enum", required=required, allowed=tuple(allowed), case=case)


def obj(schema: str, required: bool = False) -> Key:
    return Key("object", required=required, schema=schema)


_ASSET_COMMON = {"$schema": DUMP, "id": S, "description": S, "tags": D, "properties": D}

SCHEMAS: dict[str, dict[str, Key]] = {
    # _deployment/code_configuration_schema.py
    "code_configuration": {"code": S, "scoring_script": S},
    # _deployment/online/*.py
    "request_settings": {"request_timeout_ms": I, "max_concurrent_requests_per_instance": I, "max_queue_wait_ms": I},
    "probe": {k: I for k in ("period", "initial_delay", "timeout", "success_threshold", "failure_threshold")},
    "scale_default": {"type": enum("default", case="camel_to_snake", required=True)},
    "scale_target_utilization": {"type": enum("target_utilization", case="camel_to_snake", required=True),
                                 **{k: I for k in ("polling_interval", "target_utilization_percentage",
                                                   "min_instances", "max_instances")}},
    "resource_requirements": {"requests": obj("resource_settings"), "limits": obj("resource_settings")},
    # `nvidia.com/gpu` is renamed to `gpu` before loading
    "resource_settings": {"cpu": S, "memory": S, "gpu": S, "nvidia.com/gpu": S},
    "data_collector": {"collections": Key("dict", schema="deployment_collection"),
                       "rolling_rate": enum("minute", "day", "hour"), "sampling_rate": F,
                       "request_logging": obj("request_logging")},
    "deployment_collection": {"enabled": enum("true", "false", required=True), "data": RAW, "client_id": S},
    "request_logging": {"capture_headers": LIST},
    # assets/environment.py (+ assets/asset.py): an inline environment; `name`/`version` are
    # dropped by the anonymous schema
    "environment": {**_ASSET_COMMON, "name": S, "version": VERSION, "build": obj("build_context"), "image": S,
                    "conda_file": RAW, "inference_config": obj("inference_config"),
                    "os_type": enum("linux", "windows"), "datastore": S, "creation_context": DUMP,
                    "latest_version": DUMP, "intellectual_property": DUMP, "auto_delete_setting": D},
    "build_context": {"dockerfile_path": S, "path": S},
    "inference_config": {"liveness_route": obj("route", True), "scoring_route": obj("route", True),
                         "readiness_route": obj("route", True)},
    "route": {"port": Key("int", required=True), "path": Key("str", required=True)},
    # assets/model.py: AnonymousModelSchema
    "model": {**_ASSET_COMMON, "name": S, "version": VERSION,
              "type": enum("custom_model", "mlflow_model", "triton_model"), "path": S, "stage": S, "flavors": D,
              "datastore": S, "system_metadata": D, "default_deployment_template": D,
              "allowed_deployment_templates": LIST, "utc_time_created": DUMP, "creation_context": DUMP,
              "job_name": DUMP, "latest_version": DUMP, "intellectual_property": DUMP},
}

_DEPLOYMENT = {
    "$schema": DUMP, "name": Key("str", required=True), "endpoint_name": Key("str", required=True),
    "description": S, "id": S, "tags": D, "properties": D,
    "model": Key("asset", schema="model"), "code_configuration": obj("code_configuration"),
    "environment": Key("asset", schema="environment"), "environment_variables": D,
}
_ONLINE = {
    **_DEPLOYMENT, "app_insights_enabled": B,
    "scale_settings": Key("union", alternatives=("scale_default", "scale_target_utilization")),
    "request_settings": obj("request_settings"), "liveness_probe": obj("probe"), "readiness_probe": obj("probe"),
    "provisioning_state": S, "instance_count": I,
    "type": enum("managed", "kubernetes", case="camel_to_snake"), "model_mount_path": S, "instance_type": S,
    "data_collector": obj("data_collector"),
}
SCHEMAS["kubernetes_online_deployment"] = {**_ONLINE, "resources": obj("resource_requirements")}
SCHEMAS["managed_online_deployment"] = {
    **_ONLINE, "instance_type": Key("str", required=True), "egress_public_network_access": enum("enabled", "disabled"),
    "private_network_connection": B, "creation_context": DUMP,
}
# _deployment/batch/*.py. `az ml batch-deployment create` reads a file by its `type` (the
# batch deployment YAML reference): `type: model` with the settings nested under `settings`
# (ModelBatchDeploymentSchema, compute required), `type: pipeline` for a pipeline component,
# and no type for the classic deployment with its settings at the top level (BatchDeploymentSchema).
# A batch `compute` is ComputeField: `local`, an `azureml:` id, or any other string (a virtual cluster).
_BATCH_FLAT_SETTINGS = {
    "error_threshold": I, "retry_settings": obj("batch_retry_settings"), "mini_batch_size": I, "logging_level": S,
    "output_action": enum("append_row", "summary_only"), "output_file_name": S, "max_concurrency_per_instance": I,
}
SCHEMAS["batch_deployment"] = {
    **_DEPLOYMENT, **_BATCH_FLAT_SETTINGS, "compute": S, "resources": obj("job_resources"),
    "type": enum("model", "pipeline"), "provisioning_state": DUMP, "creation_context": DUMP,
}  # the schema also reads job_definition and component, which BatchDeployment() then refuses (TypeError)
SCHEMAS["model_batch_deployment"] = {
    **_DEPLOYMENT, "compute": Key("str", required=True), "error_threshold": I, "resources": obj("job_resources"),
    "type": enum("model", "pipeline"), "settings": obj("model_batch_settings"),
}
SCHEMAS["pipeline_batch_deployment"] = {
    "$schema": DUMP, "name": S, "endpoint_name": S, "description": S, "tags": D, "type": enum("model", "pipeline"),
    "component": RAW, "settings": D, "job_definition": RAW,
}
SCHEMAS["batch_retry_settings"] = {"max_retries": I, "timeout": I}
SCHEMAS["job_resources"] = {"instance_count": I, "instance_type": S, "properties": D, "shm_size": S,
                            "docker_args": Key("str_or_list"), "max_instance_count": I, "locations": LIST}
# ModelBatchDeploymentSettings takes mini_batch_size as a required argument: `settings` without it fails.
SCHEMAS["model_batch_settings"] = {
    **_BATCH_FLAT_SETTINGS, "mini_batch_size": Key("int", required=True), "instance_count": I,
    "environment_variables": D,
}
# _endpoint/*.py
_ENDPOINT = {"$schema": DUMP, "id": S, "name": Key("str", required=True), "description": S, "tags": D,
             "provisioning_state": S, "properties": D,
             "auth_mode": enum("aml_token", "key", "aad_token", case="camel_to_snake"),
             "scoring_uri": S, "location": S, "openapi_uri": S, "identity": obj("identity")}
SCHEMAS["identity"] = {"type": enum("system_assigned", "user_assigned", "none", "system_assigned,user_assigned",
                                    case="camel_to_snake"),
                       "principal_id": S, "tenant_id": S, "user_assigned_identities": RAW}
_ONLINE_ENDPOINT = {**_ENDPOINT, "traffic": Key("dict", values="int"), "kind": DUMP,
                    "mirror_traffic": Key("dict", values="int")}
SCHEMAS["managed_online_endpoint"] = {**_ONLINE_ENDPOINT, "public_network_access": enum("enabled", "disabled")}
SCHEMAS["kubernetes_online_endpoint"] = {**_ONLINE_ENDPOINT, "compute": Key("compute")}
SCHEMAS["batch_endpoint"] = {**_ENDPOINT, "defaults": obj("batch_endpoint_defaults")}
SCHEMAS["batch_endpoint_defaults"] = {"deployment_name": S}
# An environment file of its own (`az ml environment create -f`): EnvironmentSchema, name required.
SCHEMAS["environment_asset"] = {**SCHEMAS["environment"], "name": Key("str", required=True)}

# What each schema is called in messages.
TITLES = {
    "managed_online_deployment": "managed online deployment", "kubernetes_online_deployment":
    "Kubernetes online deployment", "batch_deployment": "batch deployment", "managed_online_endpoint":
    "managed online endpoint", "kubernetes_online_endpoint": "Kubernetes online endpoint",
    "batch_endpoint": "batch endpoint", "environment_asset": "environment", "environment": "environment",
    "model_batch_deployment": "model batch deployment", "pipeline_batch_deployment": "pipeline batch deployment",
    "scale_default": "default scale settings", "scale_target_utilization": "target_utilization scale settings",
}

# ----------------------------------------------------------------------------- choosing a schema


def online_deployment_schema(data: dict) -> str:
    """The SDK loads the Kubernetes schema only for `type: kubernetes` exactly (not `Kubernetes`,
    not a Kubernetes `$schema`): everything else is a managed deployment."""
    return "kubernetes_online_deployment" if data.get("type") == "kubernetes" else "managed_online_deployment"


def online_endpoint_schema(data: dict) -> str:
    """A `compute` (any truthy value) makes an online endpoint a Kubernetes one."""
    return "kubernetes_online_endpoint" if data.get("compute") else "managed_online_endpoint"


def batch_deployment_schema(data: dict) -> str:
    """The schema the CLI loads a batch deployment with, chosen by its `type`."""
    kind = data.get("type")
    if kind == "model":
        return "model_batch_deployment"
    if kind == "pipeline":
        return "pipeline_batch_deployment"
    return "batch_deployment"


def endpoint_is_batch(data: dict) -> bool:
    schema = str(data.get("$schema", "")).lower()
    return "batchendpoint" in schema or ("defaults" in data and "onlineendpoint" not in schema)


# ----------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Problem:
    """Something the SDK refuses. kind: unknown | null | type | required | enum | reference |
    conflict (two settings refused together)."""

    kind: str
    path: tuple[str, ...]
    pointer: str
    message: str
    fix: str
    suggestion: str | None = None
    value: Any = None

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass
class _Walk:
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, path: tuple[str, ...], pointer: str, message: str, fix: str, **extra: Any) -> None:
        self.problems.append(Problem(kind, path, pointer, message, fix, **extra))


_TRUTHY = {"t", "T", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", "yes", "Yes", "YES", "1", 1}
_FALSY = {"f", "F", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", "no", "No", "NO", "0", 0}


def coerce_int(value: Any) -> int | None:
    """An integer as marshmallow's `fields.Int()` reads it, or None when it refuses it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def coerce_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def coerce_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    try:
        if value in _TRUTHY:
            return True
        if value in _FALSY:
            return False
    except TypeError:  # unhashable
        return None
    return None


def enum_value(key: Key, value: Any) -> str | None:
    """The transformed value when the enum accepts it."""
    if not isinstance(value, str) or not value:
        return None
    transformed = CASINGS[key.case](value)
    return transformed if transformed in key.allowed else None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_EXPECTED = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
             "dict": "a mapping", "list": "a list", "version": "a version (a string or a number)",
             "object": "a mapping of settings", "union": "a mapping of settings"}


def did_you_mean(key: str, candidates: list[str]) -> str | None:
    """A key of the schema that differs only in case, else the closest spelling (difflib)."""
    for candidate in candidates:
        if candidate.lower() == key.lower():
            return candidate
    import difflib  # here: most files spell every key right
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if close:
        return close[0]
    # `period_seconds` for `period`, `request_timeout` for `request_timeout_ms`: one contains the other
    contained = [c for c in candidates if len(c) >= 4 and (c in key or key in c)]
    return max(contained, key=len) if contained else None


def check(data: Any, schema: str) -> list[Problem]:
    """Everything the SDK's schema refuses in `data` (a parsed YAML document)."""
    walk = _Walk()
    if not isinstance(data, dict):
        walk.add("type", (), "", f"the file is {_describe(data)}: a mapping of settings is expected",
                 "write the file as key: value lines")
        return walk.problems
    _object(walk, data, schema, (), "")
    _batch_conflicts(walk, data, schema)
    return walk.problems


def _batch_conflicts(walk: _Walk, data: dict, schema: str) -> None:
    """Settings a batch deployment refuses together (`BatchDeployment._validate`, and
    `_setup_instance_count` of a model deployment)."""
    base: tuple[str, ...]
    if schema == "model_batch_deployment":
        settings, base = data.get("settings"), ("settings",)
    elif schema == "batch_deployment":
        settings, base = data, ()
    else:
        return
    if not isinstance(settings, dict):
        return
    prefix = "".join(f"/{p}" for p in base)
    action = enum_value(SCHEMAS["model_batch_settings"]["output_action"], settings.get("output_action"))
    name = settings.get("output_file_name")
    if action == "summary_only" and isinstance(name, str) and name:
        path = base + ("output_file_name",)
        walk.add("conflict", path, f"{prefix}/output_file_name", f"{'.'.join(path)} is set with output_action "
                 "summary_only: azure-ai-ml rejects the deployment (summary_only writes no output file)",
                 f"remove {'.'.join(path)}, or set output_action: append_row")
    count = coerce_int(settings.get("instance_count")) if schema == "model_batch_deployment" else None
    if count and isinstance(data.get("resources"), dict):
        walk.add("conflict", ("settings", "instance_count"), "/settings/instance_count", "settings.instance_count is "
                 "set next to resources: azure-ai-ml rejects the deployment (\"Can't set instance_count when "
                 "resources is provided\")", "keep one: resources.instance_count, or settings.instance_count")


def _object(walk: _Walk, data: dict, schema: str, path: tuple[str, ...], pointer: str) -> None:
    keys = SCHEMAS[schema]
    title = TITLES.get(schema)
    where = f"a {title}" if title else (".".join(path) or "the file")
    for raw_key, value in data.items():
        key = str(raw_key)
        here, at = path + (key,), join_pointer(pointer, raw_key)
        spec = keys.get(key) if isinstance(raw_key, str) else None
        if spec is None:
            known = [k for k in keys if not keys[k].dump_only and k != "nvidia.com/gpu"]
            guess = did_you_mean(key, known)
            hint = f"; did you mean '{'.'.join(path + (guess,))}'?" if guess else ""
            walk.add("unknown", here, at, f"'{'.'.join(here)}' is not a key of {where}: azure-ai-ml rejects the file"
                     f"{hint}", f"rename it to '{guess}'" if guess else "remove it, or check its "
                     "spelling against the YAML reference", suggestion=guess)
            continue
        if value is None:
            walk.add("null", here, at, f"{'.'.join(here)} is null: azure-ai-ml rejects it (\"Field may not be "
                     "null\")", f"remove {'.'.join(here)} or give it a value")
            continue
        if spec.dump_only:
            continue
        _value(walk, spec, value, here, at)
    for key, spec in keys.items():
        if spec.required and key not in data:
            name = ".".join(path + (key,))
            walk.add("required", path + (key,), pointer, f"{name} is missing: {where} requires it",
                     f"add {name}")


def _value(walk: _Walk, spec: Key, value: Any, path: tuple[str, ...], pointer: str) -> None:
    name = ".".join(path)
    kind = spec.type

    def wrong(expected: str | None = None, fix: str | None = None) -> None:
        walk.add("type", path, pointer, f"{name} is {_describe(value)}: azure-ai-ml expects "
                 f"{expected or _EXPECTED[kind]}", fix or f"write {name} as {expected or _EXPECTED[kind]}",
                 value=value)

    if kind == "str":
        if not isinstance(value, str):
            wrong(fix=f'quote it: {path[-1]}: "{value}"' if isinstance(value, (int, float)) else None)
    elif kind == "int":
        if coerce_int(value) is None:
            wrong()
    elif kind == "float":
        number = coerce_float(value)
        if number is None:
            wrong()
        elif path[-1] == "sampling_rate" and not 0 <= number <= 1:
            walk.add("enum", path, pointer, f"{name} is {_describe(value)}: it must be in 0.0-1.0",
                     f"set {name} between 0 and 1")
    elif kind == "bool":
        if coerce_bool(value) is None:
            wrong()
    elif kind == "version":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            wrong()
    elif kind == "list":
        if not isinstance(value, list):
            wrong()
    elif kind == "str_or_list":
        if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            wrong("a string or a list of strings")

    elif kind == "dict":
        if not isinstance(value, dict):
            wrong()
        elif spec.values == "int":
            for sub, subvalue in value.items():
                sub_path = path + (str(sub),)
                if not isinstance(sub, str):
                    walk.add("type", sub_path, join_pointer(pointer, sub), f"{name} key {_describe(sub)} is not a "
                             "string", f"quote the key {sub}")
                elif coerce_int(subvalue) is None:
                    walk.add("type", sub_path, join_pointer(pointer, sub), f"{'.'.join(sub_path)} is "
                             f"{_describe(subvalue)}: azure-ai-ml expects a whole number (a percentage)",
                             f"write {'.'.join(sub_path)} as a whole number")
        elif spec.schema:
            for sub, subvalue in value.items():
                sub_at = join_pointer(pointer, sub)
                if subvalue is None:
                    walk.add("null", path + (str(sub),), sub_at, f"{name}.{sub} is null: azure-ai-ml rejects it",
                             f"remove {name}.{sub} or give it settings")
                elif not isinstance(subvalue, dict):
                    walk.add("type", path + (str(sub),), sub_at, f"{name}.{sub} is {_describe(subvalue)}: a "
                             "mapping of settings is expected", f"write {name}.{sub} as a mapping")
                else:
                    _object(walk, subvalue, spec.schema, path + (str(sub),), sub_at)
    elif kind == "enum":
        if enum_value(spec, value) is None:
            shown = ", ".join(spec.allowed)
            walk.add("enum", path, pointer, f"{name} is {_describe(value)}: azure-ai-ml accepts {shown}"
                     + (" (in any case, camelCase or snake_case)" if spec.case == "camel_to_snake" else
                        " (in any case)" if spec.case == "lower" else ""), f"set {name} to one of {shown}",
                     value=value)
    elif kind == "object":
        if not isinstance(value, dict):
            wrong()
        else:
            _object(walk, value, spec.schema or "", path, pointer)
    elif kind == "union":
        _union(walk, spec, value, path, pointer)
    elif kind == "asset":
        _asset(walk, spec, value, path, pointer)
    elif kind == "compute":
        if not isinstance(value, str) or not value.startswith("azureml:"):
            walk.add("reference", path, pointer, f"{name} is {_describe(value)}: azure-ai-ml expects a compute "
                     "reference prefixed with 'azureml:'", f"write {name}: azureml:<compute-name>", value=value)
    elif kind == "raw":
        pass


def _union(walk: _Walk, spec: Key, value: Any, path: tuple[str, ...], pointer: str) -> None:
    """A union of nested schemas told apart by their required enum `type` (scale_settings)."""
    name = ".".join(path)
    if not isinstance(value, dict):
        walk.add("type", path, pointer, f"{name} is {_describe(value)}: azure-ai-ml expects a mapping of settings",
                 f"write {name} as a mapping with a type")
        return
    types = [SCHEMAS[alt]["type"] for alt in spec.alternatives]
    allowed = [a for t in types for a in t.allowed]
    if "type" not in value:
        walk.add("required", path + ("type",), pointer, f"{name} has no type: azure-ai-ml needs one of "
                 f"{', '.join(allowed)}", f"add {name}.type: {allowed[0]}")
        return
    chosen = next((alt for alt, t in zip(spec.alternatives, types) if enum_value(t, value["type"])), None)
    if chosen is None:
        walk.add("enum", path + ("type",), join_pointer(pointer, "type"), f"{name}.type is "
                 f"{_describe(value['type'])}: azure-ai-ml accepts {', '.join(allowed)} (in any case, camelCase "
                 "or snake_case)", f"set {name}.type to one of {', '.join(allowed)}", value=value["type"])
        return
    _object(walk, value, chosen, path, pointer)


_REGISTRY = "azureml://registries/"
_VERSIONED = re.compile(r"^azureml:.+")


def _asset(walk: _Walk, spec: Key, value: Any, path: tuple[str, ...], pointer: str) -> None:
    """`model` or `environment`: a registry reference, an `azureml:` workspace reference, or an
    inline definition (a mapping)."""
    name = ".".join(path)
    kind = path[-1]
    if isinstance(value, dict):
        if kind == "environment" and any(k in value for k in ("channels", "dependencies")):
            return  # DEP026 says it with the fix
        _object(walk, value, spec.schema or "", path, pointer)
        return
    if isinstance(value, str) and (value.startswith(_REGISTRY) or _VERSIONED.match(value)):
        return
    example = "azureml:sklearn-env:1" if kind == "environment" else "azureml:my-model:1"
    if isinstance(value, str):
        message = (f"{name} {_describe(value)} is neither an 'azureml:' reference nor a registry path: azure-ai-ml "
                   f"rejects a bare name")
        fix = f"write {name}: azureml:{value}" + (":1" if ":" not in value else "") + " (a registered asset), or "\
            "define it inline"
    else:
        message = f"{name} is {_describe(value)}: azure-ai-ml expects a reference such as {example} or a mapping"
        fix = f"write {name}: {example}, or define it inline"
    walk.add("reference", path, pointer, message, fix, value=value)
