"""DEP rules: the issue's must-show cases, the models' arithmetic, options and edge cases."""
from __future__ import annotations

import json
import os
from fractions import Fraction

import pytest

from conftest import FIXTURES, run_cli, scan_json
from preflight.deploy import (
    OnlineDeployment, Field, max_target_for_spike, model_name, parse_quantity, replicas_for_spike,
    required_replicas, spike_absorbed, v2_int,
)
from preflight.documents import load_document
from preflight.engine import Options, scan

DOCS_EXAMPLE = {  # SPEC §3.3: the Azure docs' AKS deploy config
    "computeType": "aks",
    "autoScaler": {"autoscaleEnabled": True, "minReplicas": 1, "maxReplicas": 3,
                   "refreshPeriodInSeconds": 1, "targetUtilization": 70},
    "containerResourceRequirements": {"cpu": 0.5, "memoryInGB": 1.0},
}
MANAGED = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: churn
model: azureml:churn-model:3
environment: azureml:churn-scoring:3
instance_type: Standard_DS3_v2
instance_count: 3
"""
K8S = """\
$schema: https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json
name: blue
type: kubernetes
endpoint_name: churn
model: azureml:churn-model:3
environment: azureml:churn-scoring:3
"""


def findings(tmp_path, name, text, *args, rules=("DEP", "SCR")):
    """Findings of these families; every v1 file also gets DEP030 (end of support), tested on its own."""
    (tmp_path / name).write_text(text)
    report, proc = scan_json(str(tmp_path / name), "--fail-on", "never", "--ignore", "DEP030", *args)
    assert proc.returncode == 0, proc.stderr
    return [f for f in report["findings"] if f["rule"].startswith(tuple(rules))]


def rules_of(found):
    return sorted(f["rule"] for f in found)


# ------------------------------------------------------------------------- must show


def test_autoscaler_values_without_autoscale_enabled_is_dep004(tmp_path):
    config = {"computeType": "AKS", "autoScaler": {"minReplicas": 1, "maxReplicas": 3}}
    found = findings(tmp_path, "aks.json", json.dumps(config))
    assert rules_of(found) == ["DEP004"]
    assert "minReplicas, maxReplicas" in found[0]["message"] and found[0]["pointer"] == "/autoScaler"


@pytest.mark.parametrize("target, words", [(150, "at most 100"), (0.7, "not 70 %"), (0, "above 0")])
def test_target_utilization_out_of_range_is_dep001(tmp_path, target, words):
    config = json.loads(json.dumps(DOCS_EXAMPLE))
    config["autoScaler"]["targetUtilization"] = target
    found = findings(tmp_path, "aks.json", json.dumps(config))
    assert rules_of(found) == ["DEP001"] and words in found[0]["message"]
    assert found[0]["severity"] == "error" and found[0]["pointer"] == "/autoScaler/targetUtilization"


def test_min_above_max_is_dep002_in_v1_and_v2_kubernetes(tmp_path):
    config = json.loads(json.dumps(DOCS_EXAMPLE))
    config["autoScaler"].update(minReplicas=5, maxReplicas=2)
    assert rules_of(findings(tmp_path, "aks.json", json.dumps(config))) == ["DEP002"]
    v2 = K8S + "scale_settings:\n  type: target_utilization\n  min_instances: 5\n  max_instances: 2\n"
    found = findings(tmp_path, "k8s.yml", v2)
    assert rules_of(found) == ["DEP002"]
    assert found[0]["message"].startswith("scale_settings.min_instances 5 is above scale_settings.max_instances 2")


def test_declared_load_beyond_max_replicas_is_dep003_with_286(tmp_path):
    found = findings(tmp_path, "aks.json", json.dumps(DOCS_EXAMPLE), "--expected-rps", "20", "--latency-ms", "10000")
    dep003 = [f for f in found if f["rule"] == "DEP003"]
    assert len(dep003) == 1
    assert "needs 286 replicas" in dep003[0]["message"] and "maxReplicas allows 3" in dep003[0]["message"]
    assert "at least 286" in dep003[0]["fix"]
    assert dep003[0]["data"] == {"load": "--expected-rps/--latency-ms", "required": 286, "allowed": 3, "rps": 20,
                                 "latency_ms": 10000, "utilization_pct": 70.0, "concurrency": 1}


def test_docs_example_config_gets_no_dep_finding(tmp_path):
    assert findings(tmp_path, "deployconfig.json", json.dumps(DOCS_EXAMPLE)) == []
    yaml_text = "computeType: aks\nautoScaler:\n  autoscaleEnabled: true\n  minReplicas: 1\n  maxReplicas: 3\n" \
                "  refreshPeriodInSeconds: 1\n  targetUtilization: 70\ncontainerResourceRequirements:\n" \
                "  cpu: 0.5\n  memoryInGB: 1.0\n"
    assert findings(tmp_path, "deployconfig.yml", yaml_text) == []


def test_demo_project_shows_the_deploy_and_scoring_mistakes():
    report, _ = scan_json(str(FIXTURES / "demo"), "--fail-on", "never")
    got = {(f["path"].rsplit("/", 1)[-1], f["rule"], f["line"]) for f in report["findings"]}
    assert {("aks-deployconfig.yml", "DEP004", 3), ("aks-deployconfig.yml", "DEP001", 6),
            ("aks-deployconfig.yml", "DEP011", 8), ("score.py", "SCR002", 14), ("score.py", "SCR002", 15),
            ("score.py", "SCR003", 25)} <= got


# ------------------------------------------------------------------------- declared load


def test_load_from_config_accepts_both_spellings_and_matches_by_glob(tmp_path):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "aks.json").write_text(json.dumps(DOCS_EXAMPLE))
    (tmp_path / "deploy" / "other.json").write_text(json.dumps(DOCS_EXAMPLE))
    for spelling in ("latency_ms = 10000\nspike_pct = 30", "latency-ms = 10000\nspike-pct = 30"):
        (tmp_path / ".preflight.toml").write_text(f'[[load]]\npath = "deploy/aks.*"\nrps = 20\n{spelling}\n')
        report, proc = scan_json(str(tmp_path), "--fail-on", "never")
        dep003 = [f for f in report["findings"] if f["rule"] == "DEP003"]
        assert [f["path"].rsplit("/", 1)[-1] for f in dep003] == ["aks.json"], proc.stderr
        assert dep003[0]["data"]["load"] == ".preflight.toml [[load]] 'deploy/aks.*'"
        assert "targetUtilization <= 76, or autoScaler.minReplicas >= 260" in dep003[0]["fix"]


def test_a_scan_from_python_reads_each_files_load_and_limits_from_its_configuration(tmp_path, monkeypatch):
    """`Options.configs` is the one source of a file's configuration, for the rules as for the
    filter stage: `[[load]]` (DEP003) and `[deploy]` (DEP024) apply without the command line,
    and a load in `Options.load` wins over the configuration's."""
    from preflight.config import Configs
    from preflight.deploy.capacity import DeclaredLoad

    (tmp_path / "aks.json").write_text(json.dumps(DOCS_EXAMPLE))
    (tmp_path / "d.yml").write_text(MANAGED)
    (tmp_path / ".preflight.toml").write_text('[deploy]\nha-min-instances = 4\n\n'
                                              '[[load]]\npath = "aks.json"\nrps = 20\nlatency-ms = 10000\n')
    monkeypatch.chdir(tmp_path)

    def dep(options: Options) -> dict[tuple[str, str], str]:
        return {(os.path.basename(f.path), f.rule): f.message for f in scan(["."], options).findings
                if f.rule in ("DEP003", "DEP024")}

    assert dep(Options()) == {}  # no configuration: neither the load nor the limit
    found = dep(Options(configs=Configs()))
    assert set(found) == {("aks.json", "DEP003"), ("d.yml", "DEP024")}
    assert "needs 286 replicas" in found["aks.json", "DEP003"]
    found = dep(Options(configs=Configs(), load=DeclaredLoad(20, 1000, origin="test")))
    assert "needs 29 replicas" in found["aks.json", "DEP003"] and "(20 rps at 1000 ms per request)" in \
        found["d.yml", "DEP003"]


def test_command_line_load_needs_rps_and_latency(tmp_path):
    (tmp_path / "aks.json").write_text(json.dumps(DOCS_EXAMPLE))
    for args, words in ((["--expected-rps", "20"], "--expected-rps needs --latency-ms"),
                        (["--spike-pct", "10"], "--spike-pct needs"),
                        (["--expected-rps", "0", "--latency-ms", "5"], "--expected-rps must be a number > 0"),
                        (["--expected-rps", "abc", "--latency-ms", "5"], "invalid float")):
        proc = run_cli("scan", str(tmp_path), *args)
        assert proc.returncode == 2 and words in proc.stderr, (args, proc.stderr)


def test_invalid_load_table_is_a_usage_error(tmp_path):
    (tmp_path / "aks.json").write_text(json.dumps(DOCS_EXAMPLE))
    (tmp_path / ".preflight.toml").write_text('[[load]]\npath = "aks.json"\nrps = -1\nlatency_ms = 5\n')
    proc = run_cli("scan", str(tmp_path))
    assert proc.returncode == 2 and "load[0].rps" in proc.stderr


def test_timeout_below_declared_latency_is_dep016(tmp_path):
    found = findings(tmp_path, "d.yml", MANAGED, "--expected-rps", "0.1", "--latency-ms", "8000")
    dep016 = [f for f in found if f["rule"] == "DEP016"]
    assert [f["severity"] for f in dep016] == ["error"]
    assert "request_settings.request_timeout_ms is 5000 ms (the default)" in dep016[0]["message"]
    found = findings(tmp_path, "d.yml", MANAGED + "request_settings:\n  request_timeout_ms: 12000\n",
                     "--expected-rps", "0.1", "--latency-ms", "8000")
    assert [f["severity"] for f in found if f["rule"] == "DEP016"] == ["warning"]


def test_spike_headroom_is_dep017(tmp_path):
    config = json.loads(json.dumps(DOCS_EXAMPLE))
    config["autoScaler"].update(maxReplicas=50, targetUtilization=80)
    args = ("--expected-rps", "10", "--latency-ms", "200")
    found = findings(tmp_path, "aks.json", json.dumps(config), *args, "--spike-pct", "50")
    dep017 = [f for f in found if f["rule"] == "DEP017"]
    assert len(dep017) == 1 and "1.20 > 1" in dep017[0]["message"]
    assert dep017[0]["fix"] == ("lower autoScaler.targetUtilization to at most 66, "
                                "or raise autoScaler.minReplicas to at least 3")
    assert not [f for f in findings(tmp_path, "aks.json", json.dumps(config), *args, "--spike-pct", "25")
                if f["rule"] == "DEP017"]


# ------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("text, value", [
    ("500m", Fraction(1, 2)), ("0.5", Fraction(1, 2)), ("2", 2), ("1Gi", 2**30), ("200Mi", 200 * 2**20),
    ("0.1Gi", Fraction(2**30, 10)), ("1G", 10**9), ("1k", 1000), ("1e3", 1000), ("100n", Fraction(1, 10**7)),
    (".5", Fraction(1, 2)),
])
def test_kubernetes_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1 Gi", "1GB", "abc", "-", "1e9999", "1.2.3", "Gi"])
def test_not_kubernetes_quantities(text):
    assert parse_quantity(text) is None
    assert parse_quantity(1) is None  # a bare number is not a string: the v2 schema rejects it


def test_replica_formula_matches_the_docs_and_is_exact():
    assert required_replicas(20, 10_000, 70, 1) == 286  # the docs' example
    assert required_replicas(7, 1000, 70, 1) == 10  # 7 x 1 / 0.7 is exactly 10, not 10.000000000000002
    assert required_replicas(20, 10_000, 70, 4) == 72
    assert required_replicas(5, 1000, 100, 1) == 5
    assert spike_absorbed(70, 30) and spike_absorbed(70, 42.857) and not spike_absorbed(70, 43)
    assert max_target_for_spike(30) == 76 and max_target_for_spike(50) == 66 and max_target_for_spike(0) == 100
    assert replicas_for_spike(20, 10_000, 30, 1) == 260


@pytest.mark.parametrize("reference, name", [
    ("azureml:churn:3", "churn"), ("azureml:churn@latest", "churn"),
    ("azureml://registries/azureml/models/phi-3/versions/2", "phi-3"),
    ("azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"
     "/models/sk/versions/4", "sk"),
    ({"name": "churn", "version": 1, "path": "model.pkl"}, "churn"), ({"path": "./model"}, None),
    ("./model", None), (42, None),
])
def test_model_names_of_v2_references(reference, name):
    assert model_name(reference) == name


@pytest.mark.parametrize("value, result, problem, rejected", [
    (3, 3, False, False), ("3", 3, False, False), (3.0, 3, False, False), (2.5, 2, True, False),
    (True, None, True, True), ("three", None, True, True), ([3], None, True, True), (float("nan"), None, True, True),
])
def test_v2_integers_are_read_like_marshmallow(value, result, problem, rejected):
    iv = v2_int(Field(("instance_count",), "/instance_count", value, True))
    assert (iv.value, iv.problem is not None, iv.rejected) == (result, problem, rejected)


def test_v2_compute_type_is_kubernetes_only_for_type_kubernetes_exactly():
    # azure-ai-ml picks the Kubernetes schema for `type: kubernetes` alone: a Kubernetes
    # `$schema` without it, or `type: KUBERNETES`, loads as a managed deployment.
    def compute(text):
        return OnlineDeployment(load_document("d.yml", text.encode())).compute
    assert compute(MANAGED) == "managed"
    assert compute(MANAGED.replace("name: blue", "name: blue\ntype: kubernetes")) == "kubernetes"
    assert compute(K8S.replace("type: kubernetes\n", "")) == "managed"
    assert compute(K8S.replace("type: kubernetes", "type: KUBERNETES")) == "managed"
    assert compute(K8S.replace("type: kubernetes", "type: Managed")) == "managed"


# ------------------------------------------------------------------------- edge cases


def test_json_exponent_is_a_string_to_the_cli(tmp_path):
    text = '{"computeType": "ACI", "containerResourceRequirements": {"cpu": 1e0, "memoryInGB": 1.5e+0}}'
    found = findings(tmp_path, "aci.json", text)
    assert [f["pointer"] for f in found] == ["/containerResourceRequirements/cpu"]
    assert "YAML 1.1 parser" in found[0]["message"]


def test_defaulted_bounds_and_scale_to_zero_are_warnings(tmp_path):
    config = {"computeType": "AKS", "autoScaler": {"autoscaleEnabled": True, "minReplicas": 12}}
    found = findings(tmp_path, "aks.json", json.dumps(config))
    assert [(f["rule"], f["severity"]) for f in found] == [("DEP002", "warning")]
    assert "above autoScaler.maxReplicas 10 (the default)" in found[0]["message"]
    v2 = K8S + "scale_settings:\n  type: target_utilization\n  min_instances: 0\n  max_instances: 3\n"
    assert [(f["rule"], f["severity"]) for f in findings(tmp_path, "k8s.yml", v2)] == [("DEP008", "warning")]


def test_truncated_v2_integer_is_a_warning(tmp_path):
    found = findings(tmp_path, "d.yml", MANAGED.replace("instance_count: 3", "instance_count: 3.5"))
    assert [(f["rule"], f["severity"]) for f in found] == [("DEP006", "warning")]
    assert "truncates it to 3" in found[0]["message"]


def test_deploy_settings_change_limits(tmp_path):
    text = (MANAGED.replace("instance_count: 3", "instance_count: 2")
            + "request_settings:\n  request_timeout_ms: 250000\n")
    assert rules_of(findings(tmp_path, "d.yml", text)) == ["DEP008", "DEP024"]
    (tmp_path / ".preflight.toml").write_text(
        "[deploy]\nmanaged-max-request-timeout-ms = 300000\nha-min-instances = 2\n")
    assert findings(tmp_path, "d.yml", text) == []
    (tmp_path / ".preflight.toml").write_text("[deploy]\nha-min-instance = 2\n")
    proc = run_cli("scan", str(tmp_path / "d.yml"))
    assert proc.returncode == 2 and "deploy.ha-min-instance" in proc.stderr


def test_v1_paths_resolve_from_parent_folders(tmp_path):
    """The MLOps layout: config/inference-config.yml with paths relative to the project folder,
    where the pipeline runs `az ml model deploy`."""
    project = tmp_path / "models" / "churn"
    (project / "config").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "score.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return data\n")
    (project / "config" / "conda.yml").write_text("dependencies:\n  - python=3.10.13\n")
    ic = "entryScript: score.py\nsourceDirectory: .\ncondaFile: config/conda.yml\n"
    found = findings(project / "config", "inference-config.yml", ic)
    assert rules_of(found) == ["DEP020"]  # condaFile is deprecated; both paths are found
    found = findings(project / "config", "inference-config.yml", ic.replace("score.py", "scorer.py"))
    assert "DEP018" in rules_of(found)


def test_entry_script_that_does_not_parse(tmp_path):
    (tmp_path / "entry.py").write_text("def run(x)\n    return x\n")
    found = findings(tmp_path, "ic.json", json.dumps({"entryScript": "entry.py", "sourceDirectory": "."}))
    assert rules_of(found) == ["DEP018"] and "does not parse" in found[0]["message"] and "line 1" in found[0]["message"]


def test_placeholders_are_not_paths(tmp_path):
    text = MANAGED + "code_configuration:\n  code: <CODE_DIR>\n  scoring_script: <SCORING_SCRIPT>\n"
    assert findings(tmp_path, "d.yml", text) == []


def test_placeholder_values_are_unknown_not_invalid(tmp_path):
    # Values a script or a reader fills in: what azure-ai-ml says of them as written does not
    # apply to what will be deployed. The same values filled in wrongly are still errors.
    text = MANAGED.replace("azureml:churn-model:3", "<modelId>").replace("name: blue", "name: '{{DEPLOYMENT}}'") \
        .replace("instance_count: 3", "instance_count: ${INSTANCES}") + "app_insights_enabled: $(insights)\n"
    endpoint = "name: churn\ncompute: <your compute target name>\nauth_mode: $(AUTH_MODE)\n"
    v1 = json.dumps({"computeType": "AKS", "namespace": "<namespace>"})
    assert findings(tmp_path, "d.yml", text) == []
    assert findings(tmp_path, "endpoint.yml", endpoint) == []
    assert findings(tmp_path, "dc.json", v1) == []
    wrong = text.replace("<modelId>", "churn-model").replace("'{{DEPLOYMENT}}'", "'-blue'") \
        .replace("${INSTANCES}", "three").replace("$(insights)", "sometimes")
    found = findings(tmp_path, "d.yml", wrong)
    assert {(f["rule"], f["pointer"]) for f in found} == {("DEP008", "/model"), ("DEP008", "/name"),
                                                          ("DEP006", "/instance_count"),
                                                          ("DEP006", "/app_insights_enabled")}
    found = findings(tmp_path, "endpoint.yml", endpoint.replace("<your compute target name>", "k8s"))
    assert [(f["rule"], f["pointer"]) for f in found] == [("DEP008", "/compute")]
    found = findings(tmp_path, "dc.json", v1.replace("<namespace>", "My_NS"))
    assert [(f["rule"], f["pointer"]) for f in found] == [("DEP008", "/namespace")]


def test_wrong_types_everywhere_are_findings_not_crashes(tmp_path):
    config = {"computeType": ["AKS"], "autoScaler": "on", "containerResourceRequirements": [1],
              "keys": None, "numReplicas": {"a": 1}, "namespace": 5}
    found = findings(tmp_path, "dc.json", json.dumps(config), rules=("DEP", "PF"))
    assert "PF003" not in rules_of(found) and "DEP007" in rules_of(found)
    config["computeType"] = "AKS"
    found = findings(tmp_path, "dc.json", json.dumps(config), rules=("DEP", "PF"))
    pointers = {f["pointer"] for f in found if f["rule"] == "DEP006"}
    assert pointers == {"/autoScaler", "/containerResourceRequirements", "/keys", "/numReplicas", "/namespace"}


def test_scan_without_configuration_has_no_load(tmp_path):
    (tmp_path / "aks.json").write_text(json.dumps(DOCS_EXAMPLE))
    result = scan([str(tmp_path)], Options())
    assert [f.rule for f in result.findings if f.rule.startswith("DEP")] == ["DEP030"]  # end of support only


def test_arm_findings_are_capped_at_warning_when_deployment_is_uncertain():
    report, _ = scan_json(str(FIXTURES / "deploy" / "DEP028"), "--select", "DEP028", "--fail-on", "never")
    by_file = {}
    for f in report["findings"]:
        by_file.setdefault(f["path"].rsplit("/", 1)[-1], []).append((f["severity"], f["message"]))
    assert [sev for sev, _ in by_file["arm-guarded-bad.json"]] == ["warning"]
    assert by_file["arm-guarded-bad.json"][0][1].startswith("if deployed, autoscale setting 'churn-blue-autoscale'")
    assert sorted(sev for sev, _ in by_file["arm-bad.json"]) == ["error", "error", "error", "warning"]
    assert "arm-good.json" not in by_file


def test_dep005_suggests_a_key_whose_words_are_in_another_order(tmp_path):
    config = {"computeType": "AKS", "enableAppInsights": True, "colour": "blue"}
    found = findings(tmp_path, "deploymentconfig.json", json.dumps(config), rules=("DEP005",))
    by_key = {f["data"]["key"]: f["data"].get("suggestion") for f in found}
    assert by_key == {"enableAppInsights": "appInsightsEnabled", "colour": None}
    assert any("did you mean 'appInsightsEnabled'?" in f["message"] for f in found)
