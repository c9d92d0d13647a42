"""The DEP rules against the real v2 SDK (`pip install -e '.[sdk]'`): generated online deployments
are read the way `az ml online-deployment create -f` reads them before it touches the network
(azure-ai-ml's `load_online_deployment`, the deployment's `_validate`, and the scoring-script
check), and preflight scans the same file.

- Every deployment the SDK rejects must get at least one DEP error from preflight.
- A deployment the SDK accepts may get DEP errors only from the documented checks that go
  beyond the SDK (BEYOND_SDK below: service limits, referenced files, the scale arithmetic),
  and never one whose message says azure-ai-ml rejects the file.

Batch deployments get the same comparison: `az ml batch-deployment create -f` reads a file by its
`type` (a model deployment with `settings`, `load_model_batch_deployment`; no type, the classic
flat form, `load_batch_deployment`), then checks the scoring script and the output settings.

PREFLIGHT_SDK_EXAMPLES raises the number of examples (default 1000 online, 300 batch);
PREFLIGHT_SDK_SEED runs a different, seeded sample instead of the fixed one.
"""
from __future__ import annotations

import collections
import copy
import logging
import os
import re
import warnings

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

pytest.importorskip("azure.ai.ml", reason="the v2 SDK differential test needs the 'sdk' extra")

from azure.ai.ml import load_batch_deployment, load_online_deployment  # noqa: E402
from azure.ai.ml.entities._load_functions import load_model_batch_deployment  # noqa: E402
from azure.ai.ml._utils._arm_id_utils import AMLVersionedArmId  # noqa: E402
from azure.ai.ml._utils._endpoint_utils import validate_scoring_script  # noqa: E402

from preflight.engine import Options, scan  # noqa: E402
from preflight.findings import ERROR  # noqa: E402

EXAMPLES = int(os.environ.get("PREFLIGHT_SDK_EXAMPLES", "1000"))
BATCH_EXAMPLES = int(os.environ.get("PREFLIGHT_SDK_EXAMPLES", "300"))
SEED = os.environ.get("PREFLIGHT_SDK_SEED")

# DEP errors an SDK-accepted deployment may get: checks azure-ai-ml does not make locally.
BEYOND_SDK = {
    "DEP001": "target utilisation outside (1, 100]",
    "DEP002": "min_instances above max_instances",
    "DEP006": "a Kubernetes quantity that does not parse",
    "DEP008": "service limits: values below 1, request timeout above 180000 ms, liveness success_threshold > 1",
    "DEP009": "a Kubernetes limit below its request",
    "DEP018": "a scoring script that is not a .py file",
    "DEP021": "a referenced file or folder that does not exist (uploaded later)",
    "DEP023": "instance_count missing or below 1",
    "DEP027": "an inline environment with neither or both of image and build",
}
SDK_WORDS = re.compile(r"azure-ai-ml (rejects|refuses|expects|accepts \w)|requires it|az ml fails")


# ----------------------------------------------------------------------------- the generator

def base(kind: str, draw) -> dict:
    data = {"$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
            "name": draw(st.sampled_from(["blue", "green-2", "canary-v3"])), "endpoint_name": "my-endpoint",
            "model": draw(st.sampled_from(["azureml:my-model:1", "azureml:my-model@latest", {"path": "model.pkl"}])),
            "code_configuration": {"code": "src", "scoring_script": "score.py"},
            "environment": draw(st.sampled_from([
                "azureml:sklearn-env:1", {"image": "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference",
                                          "conda_file": "conda.yml"}, {"build": {"path": "docker"}}])),
            "instance_count": draw(st.integers(1, 5))}
    if kind == "kubernetes":
        data["$schema"] = "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json"
        data["type"] = "kubernetes"
        if draw(st.booleans()):
            data["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
        if draw(st.booleans()):
            data["scale_settings"] = draw(st.sampled_from([
                {"type": "default"},
                {"type": "target_utilization", "min_instances": 1, "max_instances": 4,
                 "target_utilization_percentage": 70, "polling_interval": 10}]))
    else:
        if draw(st.booleans()):
            data["type"] = "managed"
        data["instance_type"] = "Standard_DS3_v2"
        if draw(st.booleans()):
            data["scale_settings"] = {"type": "default"}
    if draw(st.booleans()):
        data["request_settings"] = {"request_timeout_ms": 5000, "max_concurrent_requests_per_instance": 1}
    if draw(st.booleans()):
        data["liveness_probe"] = {"initial_delay": 10, "period": 10, "timeout": 2, "success_threshold": 1,
                                  "failure_threshold": 30}
    if draw(st.booleans()):
        data["environment_variables"] = {"WORKER_COUNT": "1"}
    if draw(st.booleans()):
        data["app_insights_enabled"] = draw(st.booleans())
    return data


def put(path: str, value):
    """A mistake: set a dotted path (creating sections), or delete it with DELETE."""
    def apply(data: dict) -> None:
        *parents, last = path.split("|") if "|" in path else path.split(".")
        node = data
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    return apply


DELETE = object()
MISTAKES = [
    # unknown keys at every level
    put("resources.requests.mem", "1Gi"), put("request_settings.request_timeout", 5000),
    put("liveness_probe.period_seconds", 5), put("code_configuration.entry_script", "score.py"),
    put("scale_settings", {"type": "default", "max_instances": 3}), put("instance_typ", "Standard_DS3_v2"),
    put("readiness_probe.initialDelay", 3), put("environment_variable", {"A": "1"}),
    # nulls
    put("scale_settings", None), put("environment_variables", None), put("instance_count", None),
    put("request_settings.max_queue_wait_ms", None), put("tags", None), put("description", None),
    # managed vs Kubernetes
    put("type", "KUBERNETES"), put("type", "Kubernetes"), put("type", "Managed"), put("type", "batch"),
    put("type", DELETE), put("instance_type", DELETE),
    # coercions
    put("instance_count", "3"), put("instance_count", 2.5), put("instance_count", True), put("instance_count", "3.0"),
    put("instance_count", "three"), put("request_settings.request_timeout_ms", "5000"),
    put("request_settings.request_timeout_ms", 4000.5), put("liveness_probe.period", False),
    put("instance_type", 5), put("resources.requests.cpu", 1), put("resources.limits.memory", 2),
    put("resources.requests.cpu", "lots"), put("environment", "sklearn-env"), put("environment", "azureml:sklearn-env"),
    put("environment", "azureml://registries/azureml/environments/sklearn-1.5/versions/1"),
    put("model", "my-model"), put("app_insights_enabled", "yes"), put("app_insights_enabled", "maybe"),
    put("app_insights_enabled", 2), put("description", 5), put("environment_variables", ["A=1"]),
    put("egress_public_network_access", "ENABLED"), put("egress_public_network_access", "sometimes"),
    # scale settings
    put("scale_settings", {"min_instances": 1}), put("scale_settings", {"type": "DEFAULT"}),
    put("scale_settings", {"type": "Default"}), put("scale_settings", {"type": "bogus"}),
    put("scale_settings", {"type": "TARGET_UTILIZATION", "min_instances": 1, "max_instances": 3}),
    put("scale_settings", {"type": "targetUtilization", "min_instances": 4, "max_instances": 2}),
    put("scale_settings", {"type": "target_utilization", "target_utilization_percentage": 150}),
    put("scale_settings", {"type": "target_utilization", "polling_interval": 0}),
    put("scale_settings", "default"),
    # code configuration
    put("code_configuration", {"scoring_script": "score.py"}), put("code_configuration.scoring_script", "broken.py"),
    put("code_configuration.scoring_script", "missing.py"), put("code_configuration.code", "nowhere"),
    put("code_configuration", {"code": "src"}),
    # service limits and arithmetic
    put("instance_count", 0), put("request_settings.request_timeout_ms", 200000),
    put("liveness_probe.success_threshold", 2), put("readiness_probe.period", 0),
    put("resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
    # names and required keys
    put("name", "ab"), put("name", "Blue_1"), put("name", 5), put("name", DELETE), put("endpoint_name", DELETE),
    # environments and models
    put("environment", {"image": "mcr.microsoft.com/azureml/minimal", "build": {"path": "docker"}}),
    put("environment", {}), put("environment", {"image": "img", "conda_file": "missing.yml"}),
    put("environment", {"image": "img", "os_type": "LINUX"}), put("environment", {"image": "img", "os_type": "mac"}),
    put("environment", {"build": {"path": "nowhere"}}), put("environment", {"image": "img", "imgae": "x"}),
    put("model", {"path": "missing.pkl"}), put("model", {"path": "model.pkl", "type": "weird"}),
]


@st.composite
def deployments(draw):
    data = base(draw(st.sampled_from(["managed", "managed", "kubernetes"])), draw)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        draw(st.sampled_from(MISTAKES))(data)
    return data


# ----------------------------------------------------------------------------- the two readers

@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A deployment's neighbours: the code folder, a conda file, a model, a Docker context."""
    root = tmp_path_factory.mktemp("v2project")
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text("import os\n\ndef init():\n    pass\n\ndef run(raw):\n    return raw\n")
    (root / "src" / "broken.py").write_text("def init(:\n")
    (root / "conda.yml").write_text("name: serve\ndependencies:\n  - python=3.10\n  - pip:\n"
                                    "    - azureml-inference-server-http==1.3.4\n")
    (root / "model.pkl").write_bytes(b"model")
    (root / "docker").mkdir()
    (root / "docker" / "Dockerfile").write_text("FROM python:3.10-slim\n")
    return root


def cli_overrides(path: str, batch: bool = False) -> list[dict]:
    """What `az ml ... create -f FILE --name blue --endpoint-name my-endpoint` (and, for a batch
    deployment, `--set compute=azureml:cpu-cluster`) passes as params_override for a file without
    those keys (the CLI supplies them; DEP029 only informs)."""
    with open(path) as f:
        data = yaml.safe_load(f)
    keys = data if isinstance(data, dict) else {}
    supplied = [("name", "blue"), ("endpoint_name", "my-endpoint")]
    if batch:
        supplied.append(("compute", "azureml:cpu-cluster"))
    return [{key: value} for key, value in supplied if key not in keys]


def sdk_rejects(path: str) -> str | None:
    """What `az ml online-deployment create -f` does locally: None, or why it stops."""
    try:
        deployment = load_online_deployment(path, params_override=cli_overrides(path))
        deployment._validate()
        code = deployment.code_configuration
        if code and not code.code.startswith("azureml:") and not re.match(AMLVersionedArmId.REGEX_PATTERN, code.code):
            validate_scoring_script(deployment)
    except Exception as exc:  # noqa: BLE001 - the CLI reports any of them and stops
        return f"{type(exc).__name__}: {exc}"
    return None


def preflight_errors(path: str) -> list:
    result = scan([path], Options())
    kinds = {f.rule for f in result.findings}
    assert "PF001" not in kinds and "PF003" not in kinds, result.findings
    return [f for f in result.findings if f.rule.startswith("DEP") and f.severity == ERROR]


def test_dep_errors_agree_with_the_v2_sdk(project):
    stats: collections.Counter = collections.Counter()
    path = str(project / "deployment.yml")
    logging.disable(logging.WARNING)  # the SDK logs warnings for anonymous asset names

    config = settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                             HealthCheck.function_scoped_fixture])

    @config
    @given(deployments())
    def agree(data):
        text = yaml.safe_dump(data, sort_keys=False)
        with open(path, "w") as f:
            f.write(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rejected = sdk_rejects(path)
        errors = preflight_errors(path)
        stats["generated"] += 1
        if rejected:
            stats["sdk rejects"] += 1
            assert errors, \
                f"the SDK rejects this deployment ({rejected[:300]}) but preflight reports no DEP error:\n{text}"
        else:
            stats["sdk accepts"] += 1
            unexplained = [(f.rule, f.pointer, f.message) for f in errors
                           if f.rule not in BEYOND_SDK or SDK_WORDS.search(f.message)]
            assert not unexplained, f"the SDK accepts this deployment:\n{text}\nbut preflight says {unexplained}"
            for f in errors:
                stats[f"beyond the SDK: {f.rule}"] += 1
            stats["clean" if not errors else "accepted with documented extra errors"] += 1

    if SEED is not None:
        agree = seed(int(SEED))(agree)
    try:
        agree()
    finally:
        logging.disable(logging.NOTSET)
    print(dict(sorted(stats.items())))
    assert stats["generated"] >= min(EXAMPLES, 1000) * 0.9, stats
    assert stats["sdk rejects"] >= stats["generated"] // 5 and stats["sdk accepts"] >= stats["generated"] // 5, stats


# ----------------------------------------------------------------------------- batch deployments

def batch_base(draw) -> dict:
    model_form = draw(st.booleans())
    data = {"$schema": "https://azuremlschemas.azureedge.net/latest/" + (
                "modelBatchDeployment.schema.json" if model_form else "batchDeployment.schema.json"),
            "name": draw(st.sampled_from(["nightly", "scoring-v2"])), "endpoint_name": "churn-batch",
            "model": draw(st.sampled_from(["azureml:my-model:1", {"path": "model.pkl"}])),
            "code_configuration": {"code": "src", "scoring_script": "score.py"},
            "environment": draw(st.sampled_from([
                "azureml:sklearn-env:1", {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                                          "conda_file": "conda.yml"}, {"build": {"path": "docker"}}])),
            "compute": "azureml:cpu-cluster"}
    if draw(st.booleans()):
        data["resources"] = {"instance_count": draw(st.integers(1, 4))}
    settings = {}
    if model_form or draw(st.booleans()):  # required under `settings`
        settings["mini_batch_size"] = draw(st.integers(1, 20))
    if draw(st.booleans()):
        settings["max_concurrency_per_instance"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        settings["output_action"] = "append_row"
        settings["output_file_name"] = "predictions.csv"
    if draw(st.booleans()):
        settings["retry_settings"] = {"max_retries": 3, "timeout": 300}
    if draw(st.booleans()):
        settings["logging_level"] = "info"
    if draw(st.booleans()):
        settings["error_threshold"] = -1
    if model_form:
        data["type"] = "model"
        data["settings"] = settings
    else:
        data.update(settings)
    return data


BATCH_MISTAKES = [
    # unknown keys, and the forms mixed up
    put("settings.mini_batch", 5), put("retry_settings.retries", 2), put("resources.instances", 2),
    put("mini_batch_size", 10), put("settings", {"mini_batch_size": 10}), put("instance_count", 2),
    put("settings.instance_count", 2), put("settings.mini_batch_size", DELETE), put("output_actions", "append_row"),
    put("code_configuration.entry_script", "x.py"),
    put("provisioning_state", "Succeeded"), put("creation_context", {"created_by": "me"}),
    # nulls and types
    put("settings", None), put("compute", None), put("tags", None), put("settings.mini_batch_size", None),
    put("settings.mini_batch_size", "10"), put("settings.mini_batch_size", "ten"), put("mini_batch_size", True),
    put("settings.max_concurrency_per_instance", 2.5), put("settings.error_threshold", "-1"),
    put("resources.instance_count", "two"), put("resources.instance_type", 5),
    put("resources.docker_args", ["--ipc=host"]),
    put("resources.docker_args", [1]), put("resources.shm_size", 2), put("settings.logging_level", 3),
    put("settings.environment_variables", ["A=1"]), put("settings.environment_variables", {"A": "1"}),
    put("environment_variables", {"A": "1"}), put("retry_settings.timeout", "300"), put("retry_settings.timeout", "5m"),
    # enums
    put("settings.output_action", "SUMMARY_ONLY"), put("settings.output_action", "summary_only"),
    put("output_action", "Append_Row"), put("output_action", "overwrite"), put("settings.output_action", 1),
    put("type", "pipeline"), put("type", "MODEL"), put("type", "batch"), put("type", DELETE),
    # references
    put("compute", "cpu-cluster"), put("compute", DELETE), put("compute", 5), put("environment", "sklearn-env"),
    put("model", "my-model"), put("job_definition", "my-job"), put("job_definition", "azureml:my-job"),
    # code and required keys
    put("code_configuration.scoring_script", "broken.py"), put("code_configuration.scoring_script", "missing.py"),
    put("code_configuration.code", "nowhere"), put("name", DELETE), put("endpoint_name", DELETE), put("name", 5),
    put("environment", {"build": {"path": "nowhere"}}), put("model", {"path": "missing.pkl"}),
    put("environment", {"image": "img", "conda_file": "missing.yml"}),
]


@st.composite
def batch_deployments(draw):
    data = batch_base(draw)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        draw(st.sampled_from(BATCH_MISTAKES))(data)
    return data


def sdk_rejects_batch(path: str, data: dict) -> str | None:
    """What `az ml batch-deployment create -f` does before it creates anything: load the file
    by its type, check the scoring script, then the output settings."""
    try:
        if data.get("type") == "model":
            deployment = load_model_batch_deployment(path, params_override=cli_overrides(path, batch=True))
        else:
            deployment = load_batch_deployment(path, params_override=cli_overrides(path, batch=True))
        code = deployment.code_configuration
        if code and not code.code.startswith("azureml:") and not re.match(AMLVersionedArmId.REGEX_PATTERN, code.code):
            validate_scoring_script(deployment)
        deployment._validate()
    except Exception as exc:  # noqa: BLE001 - the CLI reports any of them and stops
        return f"{type(exc).__name__}: {exc}"
    return None


def test_dep_errors_agree_with_the_v2_sdk_on_batch_deployments(project):
    stats: collections.Counter = collections.Counter()
    path = str(project / "batch-deployment.yml")
    logging.disable(logging.WARNING)

    config = settings(max_examples=BATCH_EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                             HealthCheck.function_scoped_fixture])

    @config
    @given(batch_deployments())
    def agree(data):
        text = yaml.safe_dump(data, sort_keys=False)
        with open(path, "w") as f:
            f.write(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rejected = sdk_rejects_batch(path, data)
        errors = preflight_errors(path)
        stats["generated"] += 1
        if rejected:
            stats["sdk rejects"] += 1
            assert errors, f"the SDK rejects this batch deployment ({rejected[:300]}) but preflight reports no DEP " \
                f"error:\n{text}"
            for rule_id in sorted({f.rule for f in errors}):
                stats[f"rejected, answered by {rule_id}"] += 1
        else:
            stats["sdk accepts"] += 1
            unexplained = [(f.rule, f.pointer, f.message) for f in errors
                           if f.rule not in BEYOND_SDK or SDK_WORDS.search(f.message)]
            assert not unexplained, f"the SDK accepts this batch deployment:\n{text}\nbut preflight says {unexplained}"
            for f in errors:
                stats[f"beyond the SDK: {f.rule}"] += 1
            stats["clean" if not errors else "accepted with documented extra errors"] += 1

    if SEED is not None:
        agree = seed(int(SEED))(agree)
    try:
        agree()
    finally:
        logging.disable(logging.NOTSET)
    print(dict(sorted(stats.items())))
    assert stats["generated"] >= min(BATCH_EXAMPLES, 300) * 0.9, stats
    assert stats["sdk rejects"] >= stats["generated"] // 5 and stats["sdk accepts"] >= stats["generated"] // 5, stats
