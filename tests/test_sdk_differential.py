"""The DEP rules against the real v1 SDK (`pip install -e '.[sdk]'`): generated deploy configs are
read the way `az ml model deploy --deploy-config-file` reads them (a YAML parser first, JSON as a
fallback: the CLI's `file_stream_to_object`) and handed to azureml-core's
`deploy_config_dict_to_obj`, which builds the deployment configuration and runs its
`validate_configuration`.

- Every config the SDK rejects must get at least one DEP error from preflight.
- A config the SDK accepts may get DEP errors only from the documented checks that go beyond
  the SDK (README, "Deploy configs and scoring scripts"):
  DEP001 a target utilisation outside (1, 100]; DEP004 autoScaler values that are all zero
  (dropped without autoscaleEnabled); DEP006 values of a type the SDK passes through untyped
  (a boolean for a number, 2.5 for a whole number, anything but true/false for a flag, a
  non-string for a string, a limit as text while no request is compared with it); DEP008 a
  CPU or memory limit of 0 or less.

The key table below is written from the SDK's parser (SPEC §3.1), independently of preflight's.
"""
from __future__ import annotations

import collections
import json
import os
import tempfile

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("azureml.core", reason="the SDK differential test needs the 'sdk' extra")

import azureml.core.webservice  # noqa: E402,F401 - imported first: the SDK's modules import each other
from azureml._model_management._util import deploy_config_dict_to_obj  # noqa: E402

from preflight.engine import Options, scan  # noqa: E402
from preflight.findings import ERROR  # noqa: E402

MISSING = object()
CERT = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "deploy", "_shared", "cert.pem")
CERT = os.path.abspath(CERT)

# key -> kind, as deploy_config_dict_to_obj reads them (any compute type)
TOP_KEYS = {
    "autoScaler": "mapping", "dataCollection": "mapping", "containerResourceRequirements": "mapping",
    "keys": "mapping", "livenessProbeRequirements": "mapping", "authEnabled": "boolean",
    "tokenAuthEnabled": "boolean", "appInsightsEnabled": "boolean", "sslEnabled": "boolean",
    "scoringTimeoutMs": "integer", "maxConcurrentRequestsPerContainer": "integer", "maxQueueWaitMs": "integer",
    "numReplicas": "integer", "gpuCores": "integer", "port": "integer", "trafficPercentile": "percentile",
    "namespace": "namespace", "versionName": "version", "computeTargetName": "string", "location": "string",
    "sslCertificate": "file", "sslKey": "file", "cname": "string", "dnsNameLabel": "string",
    "vaultBaseUrl": "string", "keyName": "string", "keyVersion": "string", "vnetName": "string",
    "subnetName": "string",
}
SUB_KEYS = {
    "autoScaler": {"autoscaleEnabled": "flag", "minReplicas": "low", "maxReplicas": "high",
                   "refreshPeriodInSeconds": "integer", "targetUtilization": "percent"},
    "dataCollection": {"storageEnabled": "boolean"},
    "containerResourceRequirements": {"cpu": "number", "memoryInGB": "number", "cpuLimit": "limit",
                                      "memoryInGBLimit": "limit", "gpu": "integer"},
    "keys": {"primaryKey": "string", "secondaryKey": "string"},
    "livenessProbeRequirements": {k: "integer" for k in ("periodSeconds", "initialDelaySeconds", "timeoutSeconds",
                                                         "successThreshold", "failureThreshold")},
}
MISSPELT = {"autoscaler": "mapping", "memoryInGb": "number", "replicas": "integer", "authenabled": "boolean"}

GOOD = {
    # Valid values are chosen to agree with one another (min <= max, limit >= request), so that
    # a config's mistakes are the ones drawn from BAD.
    "number": st.one_of(st.integers(1, 4), st.floats(0.1, 4).map(lambda x: round(x, 2))),
    "limit": st.one_of(st.integers(4, 16), st.floats(4, 16).map(lambda x: round(x, 2))),
    "integer": st.integers(1, 400),
    "low": st.integers(1, 3),
    "high": st.integers(3, 400),
    "percentile": st.integers(0, 100),
    "boolean": st.booleans(),
    "flag": st.sampled_from([True, True, False]),
    "percent": st.sampled_from([70, 50, 100, 30]),
    "string": st.text("abcdefgh-", min_size=1, max_size=8),
    "namespace": st.sampled_from(["scoring", "ml-prod"]),
    "version": st.sampled_from(["version-2", "blue-v1"]),
    "file": st.just(CERT),
}
BAD = {
    # 1e-05 and 2e+20 are written with an exponent by json.dumps: text to the CLI's YAML parser
    "number": st.sampled_from([0, 0, -1, "1", True, [1], None, 1e-05, 2e+20]),
    "limit": st.sampled_from([0, -1, 0.05, "8", True, None]),
    "integer": st.sampled_from([0, -3, 2.5, "3", True, None]),
    "low": st.sampled_from([0, -1, 5, 500, 2.5, "2", True, None]),
    "high": st.sampled_from([0, -1, 1, 2.5, "4", False, None]),
    "percentile": st.sampled_from([-1, 150, "50", True, None]),
    "boolean": st.sampled_from(["false", "true", 0, 1, None]),
    "flag": st.sampled_from(["true", 0, None]),
    "percent": st.sampled_from([150, 0.7, 1, 0, -5, "70", None]),
    "string": st.sampled_from([5, True, None, ""]),
    "namespace": st.sampled_from(["My_NS", "-bad", 5, ""]),
    "version": st.sampled_from(["V2", "ab", 3]),
    "file": st.sampled_from(["missing-cert.pem", None]),
    "mapping": st.sampled_from([None, "on", [1]]),
}


def valid(kind: str, sub: dict | None = None):
    if kind == "mapping":
        keys = sub or {}
        # autoscaleEnabled nearly always: without it every autoScaler value is an error
        return st.fixed_dictionaries({k: GOOD[t] for k, t in keys.items() if k == "autoscaleEnabled"},
                                     optional={k: GOOD[t] for k, t in keys.items() if k != "autoscaleEnabled"})
    return GOOD[kind]


def kind_at(path: tuple) -> str | None:
    if len(path) == 1:
        return TOP_KEYS.get(path[0]) or MISSPELT.get(path[0])
    return (SUB_KEYS.get(path[0]) or SUB_KEYS["autoScaler"]).get(path[1])


# Keys whose interplay the SDK validates (autoscaling, replicas, limits, auth, SSL), with how
# often (in tenths) each is present.
INTERPLAY = {"autoScaler": 6, "numReplicas": 3, "containerResourceRequirements": 6, "authEnabled": 3,
             "tokenAuthEnabled": 2, "sslEnabled": 2, "sslCertificate": 2, "sslKey": 2, "cname": 2}
COMPUTE = ["AKS", "aks", "Aks", "ACI", "aci", "AKSENDPOINT", "local"]
BAD_COMPUTE = ["AML", None, 5, "", MISSING]


@st.composite
def deploy_configs(draw):
    """A config of valid values and valid-looking combinations, then 0 to 2 mistakes: a value
    replaced by a wrong one (BAD), or the compute type broken. Combinations (min above max,
    SSL without a key, both auth modes) come up by themselves."""
    data = {"computeType": draw(st.sampled_from(COMPUTE))}
    for key, tenths in INTERPLAY.items():
        # sampled_from is close to uniform (integers() favours its bounds)
        if draw(st.sampled_from(range(10))) < tenths:
            data[key] = draw(valid(TOP_KEYS[key], SUB_KEYS.get(key)))
    others = sorted(set(TOP_KEYS) - set(INTERPLAY)) + sorted(MISSPELT)
    for key in draw(st.lists(st.sampled_from(others), unique=True, max_size=3)):
        kind = TOP_KEYS.get(key) or MISSPELT[key]
        data[key] = draw(valid(kind, SUB_KEYS.get(key) or (SUB_KEYS["autoScaler"] if key == "autoscaler" else None)))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        paths = sorted([(k,) for k in data] + [(k, sub) for k, v in data.items() if isinstance(v, dict) for sub in v])
        path = draw(st.sampled_from(paths))
        if path == ("computeType",):
            broken = draw(st.sampled_from(BAD_COMPUTE))
            if broken is MISSING:
                del data["computeType"]
            else:
                data["computeType"] = broken
            continue
        kind = kind_at(path)
        target = data if len(path) == 1 else data[path[0]]
        target[path[-1]] = draw(BAD[kind])
    if not any(k in data for k in ("computeType", "autoScaler", "containerResourceRequirements", "numReplicas",
                                   "scoringTimeoutMs", "maxConcurrentRequestsPerContainer", "dnsNameLabel")):
        data["containerResourceRequirements"] = {"cpu": 1}
    return data, draw(st.sampled_from(["yml", "json"]))


def sdk_rejects(text: str) -> bool:
    """What `az ml model deploy --deploy-config-file` does with the file's text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = json.loads(text)
    try:
        deploy_config_dict_to_obj(data, None, None, None)
    except Exception:  # noqa: BLE001 - the CLI reports any of them as "Error parsing --deploy-config-file"
        return True
    return False


def value_at(data: dict, pointer: str):
    node = data
    for part in pointer.strip("/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def beyond_the_sdk(rule: str, pointer: str, data: dict) -> bool:
    """Whether a DEP error on an SDK-accepted config is one of the documented extra checks."""
    v = value_at(data, pointer)
    key = pointer.rsplit("/", 1)[-1]
    if rule == "DEP001":
        return is_number(v) and not 1 < v <= 100
    if rule == "DEP004":
        scaler = data.get("autoScaler") or {}
        return not any(scaler.get(k) for k in ("minReplicas", "maxReplicas", "refreshPeriodInSeconds",
                                               "targetUtilization"))
    if rule == "DEP006":
        kind = (SUB_KEYS.get(pointer.strip("/").split("/")[0], {}).get(key) if pointer.count("/") == 2
                else TOP_KEYS.get(key))
        if kind in ("number", "integer", "percent", "limit", "low", "high", "percentile") and isinstance(v, bool):
            return True
        if kind in ("integer", "low", "high") and isinstance(v, float) and not v.is_integer():
            return True
        if kind in ("boolean", "flag"):
            return True
        if kind in ("string", "namespace", "version", "file"):
            return not isinstance(v, str)
        requests = data.get("containerResourceRequirements") or {}
        request = {"cpuLimit": "cpu", "memoryInGBLimit": "memoryInGB"}.get(key)
        return request is not None and requests.get(request) is None  # a limit is compared only with a request
    if rule == "DEP008":
        return key in ("cpuLimit", "memoryInGBLimit")
    return False


def preflight_errors(text: str, fmt: str) -> list:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"deployconfig.{fmt}")
        with open(path, "w") as f:
            f.write(text)
        result = scan([path], Options())
        kinds = [d for d in result.checked] if hasattr(result, "checked") else [path]
    assert kinds, "not recognised as a deploy config"
    assert not [f for f in result.findings if f.rule == "PF003"], result.findings
    return [f for f in result.findings if f.rule.startswith("DEP") and f.severity == ERROR]


def cli_view(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return json.loads(text)


def test_dep_errors_agree_with_the_sdk():
    stats = collections.Counter()

    @settings(max_examples=1000, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(deploy_configs())
    def agree(case):
        data, fmt = case
        text = yaml.safe_dump(data, sort_keys=False) if fmt == "yml" else json.dumps(data, indent=1)
        rejected = sdk_rejects(text)
        errors = preflight_errors(text, fmt)
        stats["generated"] += 1
        if rejected:
            stats["sdk rejects"] += 1
            assert errors, f"the SDK rejects this config but preflight reports no DEP error:\n{text}"
        else:
            stats["sdk accepts"] += 1
            view = cli_view(text)
            unexplained = [(f.rule, f.pointer, f.message) for f in errors
                           if not beyond_the_sdk(f.rule, f.pointer, view)]
            assert not unexplained, f"the SDK accepts this config:\n{text}\nbut preflight says {unexplained}"
            stats["extra errors (documented)" if errors else "clean"] += 1
        stats["agreements"] += 1

    agree()
    print(dict(stats))
    assert stats["agreements"] == stats["generated"] >= 800
    assert stats["sdk rejects"] >= 200 and stats["sdk accepts"] >= 200, stats


# SPEC §3.3: observed outcomes of deploy_config_dict_to_obj (azureml-core 1.61.0.post4)
SPEC_TABLE = [
    ({"computeType": "aks", "autoScaler": {"minReplicas": 1, "maxReplicas": 3}}, True, {"DEP004"}),
    ({"computeType": "aks", "autoScaler": {"autoscaleEnabled": True, "minReplicas": 1, "maxReplicas": 3,
                                           "refreshPeriodInSeconds": 1, "targetUtilization": 70},
      "containerResourceRequirements": {"cpu": 0.5, "memoryInGB": 1.0}}, False, set()),
    ({"computeType": "aks", "autoScaler": {"autoscaleEnabled": True, "targetUtilization": 150}}, False, {"DEP001"}),
    ({"computeType": "aks", "autoScaler": {"autoscaleEnabled": True, "targetUtilization": 0.7}}, False, {"DEP001"}),
    ({"computeType": "aks", "autoScaler": {"autoscaleEnabled": True, "minReplicas": 5, "maxReplicas": 2}}, True,
     {"DEP002"}),
    ({"computeType": "aks", "numReplicas": 3, "autoScaler": {"autoscaleEnabled": True}}, True, {"DEP010"}),
    ({"computeType": "aks", "autoScaler": {"autoscaleEnabled": False}}, True, {"DEP010"}),
    ({"computeType": "aks", "authEnabled": True, "tokenAuthEnabled": True}, True, {"DEP011"}),
    ({"computeType": "aci", "containerResourceRequirements": {"cpu": 0}}, True, {"DEP008"}),
    ({"computeType": "aks", "containerResourceRequirements": {"cpu": 1, "cpuLimit": 0.5}}, True, {"DEP009"}),
    ({"computeType": "aci", "containerResourceRequirements": {"cpu": "1"}}, True, {"DEP006"}),
    ({"computeType": "aks", "containerResourceRequirements": {"cpu": 1, "gpu": 1}}, False, set()),  # DEP013: warning
    ({"containerResourceRequirements": {"cpu": 1}}, True, {"DEP007"}),
    ({"computeType": "aml"}, True, {"DEP007"}),
    ({"computeType": "aks", "namespace": "My_NS"}, True, {"DEP008"}),
    ({"computeType": "local", "port": 70000}, True, {"DEP008"}),
    ({"computeType": "aks", "autoscaler": {"maxReplicas": 3}}, False, set()),  # DEP005: warning
    ({"computeType": "aks", "autoScaler": {"autoscaleEnabled": True, "minReplicas": 0}}, True, {"DEP008"}),
    # json.dumps writes 1e-05, which the CLI's YAML parser reads as text
    ({"computeType": "aci", "containerResourceRequirements": {"cpu": 1e-05}}, True, {"DEP006"}),
]


@pytest.mark.parametrize("config, rejected, rules", SPEC_TABLE)
def test_spec_table(config, rejected, rules):
    text = json.dumps(config)
    assert sdk_rejects(text) is rejected
    assert {f.rule for f in preflight_errors(text, "json")} == rules
