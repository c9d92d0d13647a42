"""v2 files checked as azure-ai-ml's schema checks them (preflight/v2schema.py): one small
deployment per class of mistake the SDK refuses, and the spellings it accepts."""
from __future__ import annotations

import pytest

from conftest import scan_json
from preflight.contract import REGISTRY

BASE = """name: blue
endpoint_name: churn-endpoint
model: azureml:churn-model:3
environment: azureml:churn-env:2
instance_count: 3
"""
MANAGED = BASE + "instance_type: Standard_DS3_v2\n"
K8S = BASE + "type: kubernetes\n"


def errors(tmp_path, text, name="deployment.yml"):
    (tmp_path / name).write_text(text)
    report, proc = scan_json(str(tmp_path / name), "--fail-on", "never")
    assert proc.returncode == 0, proc.stderr
    return {(f["rule"], f["pointer"]) for f in report["findings"] if f["severity"] == "error"}


@pytest.mark.parametrize("text, expected", [
    # unknown keys at every level, with a did-you-mean
    (K8S + "resources:\n  requests:\n    mem: 1Gi\n", ("DEP005", "/resources/requests/mem")),
    (MANAGED + "request_settings:\n  request_timeout: 5000\n", ("DEP005", "/request_settings/request_timeout")),
    (MANAGED + "liveness_probe:\n  period_seconds: 5\n", ("DEP005", "/liveness_probe/period_seconds")),
    (MANAGED + "code_configuration:\n  code: .\n  entry_script: score.py\n",
     ("DEP005", "/code_configuration/entry_script")),
    (K8S + "scale_settings:\n  type: default\n  max_instances: 3\n", ("DEP005", "/scale_settings/max_instances")),
    # nulls
    (MANAGED + "scale_settings:\n", ("DEP006", "/scale_settings")),
    (MANAGED + "environment_variables:\n", ("DEP006", "/environment_variables")),
    # managed vs Kubernetes: only `type: kubernetes` selects Kubernetes
    (BASE + "type: KUBERNETES\n", ("DEP029", "")),
    ("$schema: https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json\n" + BASE,
     ("DEP029", "")),
    # types as the SDK coerces them
    (MANAGED.replace("instance_count: 3", "instance_count: true"), ("DEP006", "/instance_count")),
    (MANAGED.replace("instance_count: 3", 'instance_count: "3.0"'), ("DEP006", "/instance_count")),
    (BASE + "instance_type: 5\n", ("DEP006", "/instance_type")),
    (K8S + "resources:\n  requests:\n    cpu: 1\n", ("DEP006", "/resources/requests/cpu")),
    (MANAGED.replace("azureml:churn-env:2", "sklearn-env"), ("DEP008", "/environment")),
    (K8S.replace("azureml:churn-env:2", "azureml://registries/azureml/environments/sklearn/versions/1"),
     ("DEP008", "/environment")),
    # scale settings and code configuration shapes
    (K8S + "scale_settings:\n  min_instances: 1\n", ("DEP029", "/scale_settings")),
    (MANAGED + "code_configuration:\n  scoring_script: score.py\n", ("DEP029", "/code_configuration")),
])
def test_sdk_rejection_is_an_error(tmp_path, text, expected):
    assert expected in errors(tmp_path, text)


def test_unknown_key_suggests_the_schema_key(tmp_path):
    (tmp_path / "d.yml").write_text(K8S + "resources:\n  requests:\n    mem: 1Gi\n")
    report, _ = scan_json(str(tmp_path / "d.yml"), "--fail-on", "never")
    [finding] = [f for f in report["findings"] if f["rule"] == "DEP005"]
    assert "did you mean 'resources.requests.memory'" in finding["message"]


@pytest.mark.parametrize("scale", ["DEFAULT", "Default", "default"])
def test_default_scale_type_in_any_case_is_accepted(tmp_path, scale):
    assert errors(tmp_path, MANAGED + f"scale_settings:\n  type: {scale}\n") == set()


@pytest.mark.parametrize("scale", ["TARGET_UTILIZATION", "targetUtilization", "TargetUtilization"])
def test_target_utilization_spellings_get_the_kubernetes_checks(tmp_path, scale):
    text = K8S + f"scale_settings:\n  type: {scale}\n  min_instances: 5\n  max_instances: 2\n  polling_interval: 0\n"
    found = errors(tmp_path, text)
    assert ("DEP002", "/scale_settings/min_instances") in found
    assert ("DEP008", "/scale_settings/polling_interval") in found
    assert ("DEP022", "/scale_settings/type") in errors(tmp_path, MANAGED + f"scale_settings:\n  type: {scale}\n")


def test_sdk_coercions_are_accepted(tmp_path):
    text = MANAGED.replace("instance_count: 3", 'instance_count: "3"') + "app_insights_enabled: yes\n"
    assert errors(tmp_path, text) == set()


def test_v1_config_gets_the_end_of_support_warning_with_its_v2_mapping(tmp_path):
    (tmp_path / "deployconfig.yml").write_text("computeType: AKS\nautoScaler:\n  autoscaleEnabled: true\n")
    report, _ = scan_json(str(tmp_path / "deployconfig.yml"), "--fail-on", "never")
    [finding] = [f for f in report["findings"] if f["rule"] == "DEP030"]
    assert finding["severity"] == "warning" and "2026-06-30" in finding["message"]
    assert "Kubernetes or managed online deployment" in finding["fix"] and "preflight rule DEP030" in finding["fix"]
    assert "`autoScaler` becomes `scale_settings`" in " ".join(REGISTRY["DEP030"].docs.split())


# ----------------------------------------------------------------------------- build contexts (DEP021)

def dep021(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    report, _ = scan_json(str(tmp_path / name), "--fail-on", "never")
    return [(f["pointer"], f["message"]) for f in report["findings"] if f["rule"] == "DEP021"]


@pytest.mark.parametrize("build, dockerfile, expected", [
    ("build:\n    path: docker\n", None, "/environment/build/path"),
    ("build:\n    path: docker\n    dockerfile_path: images/serve.Dockerfile\n", "Dockerfile",
     "/environment/build/dockerfile_path"),
    ("build:\n    path: docker\n", "Dockerfile", None),
    ("build:\n    path: docker\n    dockerfile_path: images/serve.Dockerfile\n", "images/serve.Dockerfile", None),
])
def test_build_context_must_hold_its_dockerfile(tmp_path, build, dockerfile, expected):
    (tmp_path / "docker").mkdir()
    if dockerfile:
        (tmp_path / "docker" / dockerfile).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "docker" / dockerfile).write_text("FROM python:3.10-slim\n")
    found = dep021(tmp_path, "deployment.yml", MANAGED.replace("environment: azureml:churn-env:2\n",
                                                                "environment:\n  " + build))
    assert [p for p, _ in found] == ([expected] if expected else [])
    if expected:
        assert "is not in the build context 'docker'" in found[0][1]


def test_missing_build_context_is_one_finding(tmp_path):
    found = dep021(tmp_path, "deployment.yml", MANAGED.replace("environment: azureml:churn-env:2\n",
                                                               "environment:\n  build:\n    path: docker\n"))
    assert [p for p, _ in found] == ["/environment/build/path"] and "does not exist" in found[0][1]


def test_environment_file_and_batch_deployment_build_contexts(tmp_path):
    (tmp_path / "docker").mkdir()
    env = "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: churn\n" \
          "build:\n  path: docker\n"
    assert [p for p, _ in dep021(tmp_path, "env.yml", env)] == ["/build/path"]
    batch = ("$schema: https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json\nname: nightly\n"
             "endpoint_name: churn-batch\nmodel: azureml:churn:3\ncompute: azureml:cpu-cluster\n"
             "environment:\n  build:\n    path: docker\n")
    assert [p for p, _ in dep021(tmp_path, "batch.yml", batch)] == ["/environment/build/path"]


# ----------------------------------------------------------------------------- batch deployments by type

BATCH = "name: nightly\nendpoint_name: churn-batch\nmodel: azureml:churn:3\ncompute: azureml:cpu-cluster\n"
MODEL_BATCH = "$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json\n" \
    + BATCH + "type: model\n"
CLASSIC_BATCH = "$schema: https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json\n" + BATCH


@pytest.mark.parametrize("text, expected", [
    (MODEL_BATCH + "mini_batch_size: 10\n", ("DEP005", "/mini_batch_size")),  # type: model nests its settings
    (CLASSIC_BATCH + "settings:\n  mini_batch_size: 10\n", ("DEP005", "/settings")),  # the classic form is flat
    (MODEL_BATCH + "settings:\n  output_action: append_row\n", ("DEP029", "/settings")),  # mini_batch_size required
    (MODEL_BATCH + "settings:\n  mini_batch_size: 10\n  output_action: Summary_Only\n  output_file_name: out.csv\n",
     ("DEP008", "/settings/output_file_name")),
    (CLASSIC_BATCH + "output_action: summary_only\noutput_file_name: out.csv\n", ("DEP008", "/output_file_name")),
    (MODEL_BATCH + "resources:\n  instance_count: 2\nsettings:\n  mini_batch_size: 10\n  instance_count: 2\n",
     ("DEP008", "/settings/instance_count")),
    (CLASSIC_BATCH + "job_definition: azureml:my-job\n", ("DEP005", "/job_definition")),
])
def test_batch_deployment_rejections(tmp_path, text, expected):
    assert expected in errors(tmp_path, text)


def test_batch_deployment_forms_the_sdk_accepts(tmp_path):
    model = MODEL_BATCH + "resources:\n  instance_count: 2\n  docker_args: ['--ipc=host']\n" \
        "settings:\n  mini_batch_size: 10\n  output_action: SUMMARY_ONLY\n"
    assert errors(tmp_path, model) == set()
    classic = CLASSIC_BATCH.replace("azureml:cpu-cluster", "cpu-cluster") + "mini_batch_size: 10\n"
    assert errors(tmp_path, classic) == set()


SCHEMA_URL = "$schema: https://azuremlschemas.azureedge.net/latest/"


@pytest.mark.parametrize("name, text, command", [
    ("deployment.yml", SCHEMA_URL + "managedOnlineDeployment.schema.json\n"
     + MANAGED.replace("name: blue\nendpoint_name: churn-endpoint\n", ""), "online-deployment"),
    ("batch-deployment.yml", SCHEMA_URL + "batchDeployment.schema.json\n"
     + BATCH.replace("name: nightly\nendpoint_name: churn-batch\n", ""), "batch-deployment"),
    ("model-batch-deployment.yml", SCHEMA_URL + "modelBatchDeployment.schema.json\ntype: model\n"
     + BATCH.replace("name: nightly\nendpoint_name: churn-batch\n", "").replace("compute: azureml:cpu-cluster\n", ""),
     "batch-deployment"),
    ("endpoint.yml", SCHEMA_URL + "managedOnlineEndpoint.schema.json\nauth_mode: key\n", "online-endpoint"),
])
def test_name_and_endpoint_name_may_come_from_the_command_line(tmp_path, name, text, command):
    # `az ml online-deployment create -f FILE --name blue --endpoint-name churn` supplies them,
    # and `--set compute=azureml:cpu-cluster` a model batch deployment's required compute.
    (tmp_path / name).write_text(text)
    report, _ = scan_json(str(tmp_path / name), "--fail-on", "never", "--select", "DEP")
    found = {(f["rule"], f["severity"], f["data"]["key"]): f["message"] for f in report["findings"]}
    keys = ["name"] if command.endswith("endpoint") else ["endpoint_name", "name"]
    keys = ["compute", *keys] if name.startswith("model-batch") else keys
    assert sorted(k for _, _, k in found) == keys
    assert all(rule == "DEP029" and severity == "info" for rule, severity, _ in found)
    assert f"give it as --name to `az ml {command} create`" in found[("DEP029", "info", "name")]
    if "compute" in keys:
        assert "give it as --set compute=azureml:<cluster> to `az ml batch-deployment create`" \
            in found[("DEP029", "info", "compute")]
    # what the command line cannot supply stays an error
    (tmp_path / name).write_text(text.replace("instance_type: Standard_DS3_v2\n", ""))
    if command == "online-deployment":
        assert ("DEP029", "") in errors(tmp_path, (tmp_path / name).read_text(), name)
