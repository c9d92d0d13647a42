"""No input makes a DEP or SCR rule fail: values of any type at every key they read.

A value of the wrong type must be a finding (DEP006, DEP007, ...) or nothing, never an
internal error (PF003).
"""
from __future__ import annotations

import os
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight.deploy.capacity import DeclaredLoad
from preflight.deploy.v1 import V1_KEYS
from preflight.engine import Options, scan

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["500m", "1Gi", "0.7", "70", "AKS", "true", "1e3", ""]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)

V1_PATHS = sorted(V1_KEYS) + [("containerResourceRequirements", "gpu"), ("autoscaler",), ("bogus", "x")]
IC_PATHS = [("entryScript",), ("sourceDirectory",), ("runtime",), ("condaFile",), ("extraDockerfileSteps",),
            ("enableGpu",), ("cudaVersion",), ("baseImage",), ("environment",), ("environment", "docker"),
            ("environment", "docker", "baseImage"), ("schemaFile",)]
V2_PATHS = [("type",), ("instance_count",), ("scale_settings",), ("scale_settings", "type"),
            ("scale_settings", "min_instances"), ("scale_settings", "max_instances"),
            ("scale_settings", "target_utilization_percentage"), ("scale_settings", "polling_interval"),
            ("request_settings",), ("request_settings", "request_timeout_ms"),
            ("request_settings", "max_concurrent_requests_per_instance"), ("request_settings", "max_queue_wait_ms"),
            ("liveness_probe",), ("liveness_probe", "success_threshold"), ("readiness_probe", "timeout"),
            ("resources",), ("resources", "requests"), ("resources", "requests", "cpu"),
            ("resources", "limits", "memory"), ("environment",), ("environment", "image"),
            ("environment", "conda_file"), ("environment", "build"), ("environment_variables", "WORKER_COUNT"),
            ("code_configuration",), ("code_configuration", "code"), ("code_configuration", "scoring_script"),
            ("model",), ("model", "path")]
LOAD = DeclaredLoad(20, 250, 40, "test")


def place(data: dict, path: tuple, value) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def assignments(paths):
    return st.lists(st.tuples(st.sampled_from(paths), VALUES), min_size=1, max_size=8)


def check(name: str, base: dict, chosen) -> None:
    data = dict(base)
    for path, value in chosen:
        place(data, path, value)
    text = yaml.safe_dump(data, allow_unicode=True)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        result = scan([path], Options(load=LOAD))
    crashes = [f.message for f in result.findings if f.rule == "PF003"]
    assert not crashes, (crashes, text)
    assert result.checked == [path], text  # classified by its content and read, not skipped
    return result


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(assignments(V1_PATHS), st.sampled_from(["AKS", "aci", "AKSENDPOINT", "local", "bogus", None]))
def test_v1_deploy_configs_never_crash(chosen, compute):
    result = check("deployconfig.yml", {"computeType": compute, "numReplicas": 1}, chosen)
    assert "DEP030" in {f.rule for f in result.findings}  # every v1 file: the end of v1 support


@FAST
@given(assignments(IC_PATHS))
def test_v1_inference_configs_never_crash(chosen):
    result = check("inferenceconfig.yml", {"entryScript": "score.py"}, chosen)
    assert "DEP030" in {f.rule for f in result.findings}


@FAST
@given(assignments(V2_PATHS), st.sampled_from(["managed", "kubernetes", None]))
def test_v2_deployments_never_crash(chosen, compute):
    check("deployment.yml", {"$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
                             "name": "blue", "endpoint_name": "e", "type": compute}, chosen)


@FAST
@given(st.lists(st.sampled_from([
    "import debugpy as d\n", "from ptvsd import *\n", "def init():\n    d.listen(1)\n", "run = None\n",
    "def run(x, *a, **k):\n    try:\n        return json.loads(x)\n"
    "    except (ValueError, E) as e:\n        return e\n",
    "async def run():\n    return 1\n", "class Model:\n    pass\n", "Model.get_model_path(1)\n",
    "Model.get_model_path()\n", "x = [i for i in range(3)]\n", "if x:\n    import json\nelse:\n    pass\n",
    "def run(data):\n    try:\n        pass\n    except:\n        r = traceback.format_exc()\n        return r\n",
    "lambda: debugpy.wait_for_client()\n", "try:\n    pass\nexcept* ValueError:\n    pass\n",
]), min_size=1, max_size=6))
def test_scoring_scripts_never_crash(parts):
    text = "".join(parts)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "score.py")
        with open(path, "w") as f:
            f.write(text)
        result = scan([path], Options())
    assert not [f for f in result.findings if f.rule == "PF003"], text
    assert result.checked == [path], text
