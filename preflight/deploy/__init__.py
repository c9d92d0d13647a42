"""Deploy configurations, normalised: Azure ML v1 deploy and inference configs and v2 online
deployments, read the way the Azure ML tools read them, plus the arithmetic the DEP rules need.

Nothing here reports anything; the rules in `preflight.rules.deploy` and
`preflight.rules.scoring` do. The models answer questions such as "which keys does the v1 file
parser read for this compute type", "what is the scale ceiling and where is it set", "where does
this config's entry script live", without ever raising on a value of the wrong type.

One job a module, each importing only those above it:

- `values`: numbers, Kubernetes quantities and fields as the tools read them; values in messages
- `v1`: the v1 deploy config (keys per compute type, defaults) and inference config (where its
  source folder and files are looked for: preflight.searchpath)
- `v2`: the v2 online deployment (integer fields, scale settings, code folder, scoring script)
- `capacity`: the replica formula, the declared load, and a deployment's scale plan
- `settings`: a file's `[deploy]` limits and `[[load]]` from its configuration, or `Options.load`
- `scripts`: which configs of a scan run a scoring script; a script read as a tree
- `arm_resources`: online deployments and autoscale settings of ARM templates, evaluated

This package re-exports their public names, so `from preflight.deploy import V1Deploy` keeps
working; new code imports from the module that defines a name.
"""
from __future__ import annotations

from .arm_resources import ARM_AUTOSCALE, ARM_ONLINE_DEPLOYMENT, ArmResource, ArmValue, arm_resources, iso_seconds
from .capacity import (DeclaredLoad, ScalePlan, max_target_for_spike, replicas_for_spike, required_replicas,
                       spike_absorbed, v1_scale_plan, v2_scale_plan)
from .scripts import MAX_SCRIPT_BYTES, ScriptSource, ScriptUse, read_script, script_uses
from .settings import DeploySettings, declared_load, settings_of
from .v1 import (ACI, AKS, AKS_ENDPOINT, AUTOSCALER_VALUES, COMPUTE_TYPES, DEPRECATED_INFERENCE_KEYS,
                 ENVIRONMENT_EXCLUSIVE, INFERENCE_KEYS, LOCAL, SUPPORTED_CUDA_VERSIONS, SUPPORTED_RUNTIMES,
                 V1_DEFAULT_MAX_REPLICAS, V1_DEFAULT_QUEUE_WAIT_MS, V1_DEFAULT_SCORING_TIMEOUT_MS,
                 V1_DEFAULT_TARGET_UTILIZATION, V1_IGNORED_KEYS, V1_KEYS, V1Deploy, V1Inference, V1Key, cli_view,
                 leaves_repository, value_has_type)
from .v2 import (KUBERNETES, MANAGED, REGISTERED_MODEL, REGISTRY_MODEL, V2_DEFAULT_QUEUE_WAIT_MS,
                 V2_DEFAULT_REQUEST_TIMEOUT_MS, V2_K8S_DEFAULTS, IntValue, OnlineDeployment, is_local_path,
                 is_placeholder, model_name, v2_int)
from .values import Field, exact, field_at, is_number, is_whole, num, parse_quantity, show, type_name

__all__ = [
    "ARM_AUTOSCALE", "ARM_ONLINE_DEPLOYMENT", "ArmResource", "ArmValue", "arm_resources", "iso_seconds",
    "DeclaredLoad", "ScalePlan", "max_target_for_spike", "replicas_for_spike", "required_replicas",
    "spike_absorbed", "v1_scale_plan", "v2_scale_plan",
    "MAX_SCRIPT_BYTES", "ScriptSource", "ScriptUse", "read_script", "script_uses",
    "DeploySettings", "declared_load", "settings_of",
    "ACI", "AKS", "AKS_ENDPOINT", "AUTOSCALER_VALUES", "COMPUTE_TYPES", "DEPRECATED_INFERENCE_KEYS",
    "ENVIRONMENT_EXCLUSIVE", "INFERENCE_KEYS", "LOCAL", "SUPPORTED_CUDA_VERSIONS", "SUPPORTED_RUNTIMES",
    "V1_DEFAULT_MAX_REPLICAS", "V1_DEFAULT_QUEUE_WAIT_MS", "V1_DEFAULT_SCORING_TIMEOUT_MS",
    "V1_DEFAULT_TARGET_UTILIZATION", "V1_IGNORED_KEYS", "V1_KEYS", "V1Deploy", "V1Inference", "V1Key", "cli_view",
    "leaves_repository", "value_has_type",
    "KUBERNETES", "MANAGED", "REGISTERED_MODEL", "REGISTRY_MODEL", "V2_DEFAULT_QUEUE_WAIT_MS",
    "V2_DEFAULT_REQUEST_TIMEOUT_MS", "V2_K8S_DEFAULTS", "IntValue", "OnlineDeployment", "is_local_path",
    "is_placeholder", "model_name", "v2_int",
    "Field", "exact", "field_at", "is_number", "is_whole", "num", "parse_quantity", "show", "type_name",
]
