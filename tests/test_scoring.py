"""SCR rules: scoring scripts read with `ast`, linked to the configs that run them."""
from __future__ import annotations

import textwrap

import pytest

from preflight.engine import Options, scan

DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: {name}
endpoint_name: churn
model: {model}
code_configuration:
  code: src
  scoring_script: score.py
environment: azureml:churn-scoring:3
instance_type: Standard_DS3_v2
instance_count: 3
"""


def project(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return scan([str(tmp_path)], Options()).findings


def of(findings, *rules):
    return [(f.rule, f.line, str(f.severity)) for f in findings if f.rule.startswith(rules)]


def test_scripts_are_never_imported_or_run(tmp_path):
    marker = tmp_path / "executed"
    found = project(tmp_path, {"score.py": f"""
        open({str(marker)!r}, "w").close()
        raise SystemExit("imported")

        def init():
            pass
        """})
    assert not marker.exists()
    assert of(found, "SCR") == [("SCR001", 1, "error")]


def test_missing_run_only_for_entry_scripts(tmp_path):
    helper = "def to_frame(rows):\n    return rows\n"
    assert of(project(tmp_path, {"scoring_utils.py": helper}), "SCR") == []
    # the same file, once an inference config runs it, is an entry script without init() or run()
    found = project(tmp_path, {"ic.json": '{"entryScript": "scoring_utils.py", "sourceDirectory": "."}'})
    assert of(found, "SCR001") == [("SCR001", 1, "error")]
    assert "defines no init() and run()" in next(f.message for f in found if f.rule == "SCR001")


def test_star_import_may_define_the_entry_functions(tmp_path):
    found = project(tmp_path, {"score.py": "from churn.serving import *\n\ndef init():\n    pass\n"})
    assert of(found, "SCR001") == []


def test_debugger_calls_through_any_alias(tmp_path):
    found = project(tmp_path, {"score.py": """
        from ptvsd import wait_for_attach
        import debugpy as dbg

        def init():
            dbg.breakpoint()
            wait_for_attach(timeout=30)

        def run(data):
            if data == "debug":
                dbg.listen(5678)
            return data
        """})
    assert of(found, "SCR002") == [("SCR002", 6, "error"), ("SCR002", 7, "error"), ("SCR002", 11, "warning")]
    messages = [f.message for f in found if f.rule == "SCR002"]
    assert "up to 30 s" in messages[1] and "under a condition" in messages[2]


def test_a_function_named_like_a_debugger_call_is_not_one(tmp_path):
    found = project(tmp_path, {"score.py": """
        def listen(port):
            return port

        def init():
            listen(5678)

        def run(data):
            return data
        """})
    assert of(found, "SCR") == []


def test_exception_text_returned_in_any_form(tmp_path):
    found = project(tmp_path, {"score.py": """
        import traceback as tb

        def init():
            pass

        def helper(data):
            try:
                return 1 / data
            except Exception as e:
                return str(e)

        def run(data):
            try:
                return helper(data)
            except ZeroDivisionError as e:
                return f"failed: {e}"
            except KeyError as missing:
                message = "missing " + repr(missing)
                detail = {"error": message}
                return detail
            except Exception:
                return tb.format_exc()
        """})
    # helper() is not run(): its return goes to the caller, not necessarily to the client
    assert [line for _, line, _ in of(found, "SCR003")] == [17, 21, 23]


def test_exception_logged_and_generic_message_returned_is_fine(tmp_path):
    found = project(tmp_path, {"score.py": """
        import logging

        def init():
            pass

        def run(data):
            try:
                return data["x"]
            except Exception as e:
                logging.exception(e)
                error = "internal error"
                return {"error": error}
        """})
    assert of(found, "SCR003") == []


def test_json_loads_of_the_request(tmp_path):
    found = project(tmp_path, {"score.py": """
        import json
        from json import loads

        def init():
            pass

        def run(request_body):
            other = json.loads("{}")
            try:
                data = loads(request_body)
            except KeyError:
                data = None
            try:
                again = json.loads(request_body)
            except:
                again = None
            return json.loads(request_body), data, again, other
        """})
    # line 11 is guarded only against KeyError; line 15 by a bare except; line 2 parses a literal
    assert of(found, "SCR004") == [("SCR004", 11, "info"), ("SCR004", 18, "info")]


def test_inference_schema_run_receives_parsed_data(tmp_path):
    found = project(tmp_path, {"score.py": """
        import json
        from inference_schema.schema_decorators import input_schema

        def init():
            pass

        @input_schema("data", object)
        def run(data):
            return json.loads(data)
        """})
    assert of(found, "SCR004") == []


def test_model_name_checked_against_every_deployment_of_the_script(tmp_path):
    script = """
        from azureml.core import Model as M

        def init():
            M.get_model_path("churn-model")
            M.get_model_path(model_name="fraud-model", version=2)

        def run(data):
            return data
        """
    found = project(tmp_path, {"src/score.py": script,
                               "blue.yml": DEPLOYMENT.format(name="blue", model="azureml:churn-model:3")})
    assert of(found, "SCR005") == [("SCR005", 6, "error")]
    message = next(f.message for f in found if f.rule == "SCR005")
    assert "'fraud-model'" in message and "'churn-model'" in message and "blue.yml" in message
    # a second deployment of the same script deploys the other model: both names are shipped
    found = project(tmp_path, {"green.yml": DEPLOYMENT.format(name="green", model="azureml:fraud-model:1")})
    assert of(found, "SCR005") == []


def test_model_name_unknown_when_a_deployment_declares_none(tmp_path):
    found = project(tmp_path, {
        "src/score.py": "from azureml.core.model import Model\n\ndef init():\n    Model.get_model_path('x')\n\n"
                        "def run(d):\n    return d\n",
        "blue.yml": DEPLOYMENT.format(name="blue", model="{path: ./model}"),
    })
    assert of(found, "SCR005") == []


# ----------------------------------------------------------------------------- SCR007

V1_SCRIPT = """\
import os
from azureml.core.model import Model

def init():
    global model
    model = open(Model.get_model_path("churn"), "rb").read()

def run(raw_data):
    return raw_data
"""
SERVING_CONDA = """\
name: serve
dependencies:
  - python=3.10
  - pip:
    - azureml-inference-server-http==1.3.4
    - scikit-learn==1.5.1
"""


def v2_files(environment: str, script: str = V1_SCRIPT, kind: str = "online") -> dict[str, str]:
    deployment = DEPLOYMENT.format(name="blue", model="azureml:churn:3").replace(
        "environment: azureml:churn-scoring:3\n", environment)
    if kind == "batch":
        deployment = deployment.replace("managedOnlineDeployment", "batchDeployment").replace(
            "instance_type: Standard_DS3_v2\ninstance_count: 3\n", "compute: azureml:cpu-cluster\n")
    return {"deployment.yml": deployment, "src/score.py": script}


def test_v1_import_without_azureml_core_in_the_conda_file(tmp_path):
    found = project(tmp_path, {**v2_files("environment:\n  image: mcr.microsoft.com/azureml/minimal\n"
                                          "  conda_file: conda.yml\n"), "conda.yml": SERVING_CONDA})
    assert of(found, "SCR007") == [("SCR007", 2, "error")]
    finding = next(f for f in found if f.rule == "SCR007")
    assert "../deployment.yml" in finding.message  # as seen from the script's folder
    assert finding.data["calls"] == ["Model.get_model_path"]
    assert "AZUREML_MODEL_DIR" in finding.fix


def test_v1_import_with_an_inline_conda_file_and_in_a_batch_deployment(tmp_path):
    inline = ("environment:\n  image: mcr.microsoft.com/azureml/minimal\n  conda_file:\n"
              "    dependencies:\n      - python=3.10\n      - pip:\n        - pandas==2.2.2\n")
    assert of(project(tmp_path / "online", v2_files(inline)), "SCR007") == [("SCR007", 2, "error")]
    assert of(project(tmp_path / "batch", v2_files(inline, kind="batch")), "SCR007") == [("SCR007", 2, "error")]


def test_v1_import_through_a_local_environment_yaml(tmp_path):
    files = {**v2_files("environment: env.yml\n"), "conda.yml": SERVING_CONDA,
             "env.yml": "name: churn-env\nimage: mcr.microsoft.com/azureml/minimal\nconda_file: conda.yml\n"}
    assert of(project(tmp_path, files), "SCR007") == [("SCR007", 2, "error")]


def test_registry_environment_is_unknowable(tmp_path):
    for i, environment in enumerate(["environment: azureml:churn-scoring:3\n",
                                     "environment: azureml://registries/azureml/environments/sklearn-1.5/versions/1\n",
                                     "environment:\n  image: myregistry.azurecr.io/churn:1\n",
                                     "environment:\n  build:\n    path: docker\n"]):
        files = {**v2_files(environment), "docker/Dockerfile": "FROM python:3.10\n"}
        assert of(project(tmp_path / str(i), files), "SCR007") == [], environment


@pytest.mark.parametrize("extra", ["azureml-core==1.57.0", "azureml-defaults==1.57.0", "./wheels/core.whl"])
def test_environment_that_may_install_azureml_core(tmp_path, extra):
    conda = SERVING_CONDA + f"    - {extra}\n"
    files = {**v2_files("environment:\n  image: img\n  conda_file: conda.yml\n"), "conda.yml": conda}
    assert of(project(tmp_path, files), "SCR007") == []


def test_guarded_or_v2_only_scripts_are_left_alone(tmp_path):
    guarded = V1_SCRIPT.replace("from azureml.core.model import Model\n",
                                "try:\n    from azureml.core.model import Model\n"
                                "except ImportError:\n    Model = None\n")
    plain = "import os\n\ndef init():\n    pass\n\ndef run(raw):\n    return os.environ['AZUREML_MODEL_DIR']\n"
    for i, script in enumerate([guarded, plain]):
        files = {**v2_files("environment:\n  image: img\n  conda_file: conda.yml\n", script),
                 "conda.yml": SERVING_CONDA}
        assert of(project(tmp_path / str(i), files), "SCR007") == []


def test_every_v1_import_form_is_found(tmp_path):
    script = ("import azureml.core\nfrom azureml import core\nfrom azureml.core import Run\n\n"
              "def init():\n    Run.get_context()\n\ndef run(raw):\n    return raw\n")
    files = {**v2_files("environment:\n  image: img\n  conda_file: conda.yml\n", script), "conda.yml": SERVING_CONDA}
    found = project(tmp_path, files)
    assert [line for _, line, _ in of(found, "SCR007")] == [1, 2, 3]
    assert "Run.get_context" in next(f.data["calls"] for f in found if f.rule == "SCR007")
