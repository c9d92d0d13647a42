"""The ENV rules on small linked projects: what fires where, and what never does."""
import csv
import json
import os
import textwrap

import pytest
from conftest import FIXTURES, run_cli, scan_json

from preflight.engine import Options, scan

ENV_FIXTURES = FIXTURES / "env"


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n") if isinstance(text, str) else json.dumps(text, indent=2))
    return root


def run(root, select="ENV"):
    result = scan([str(root)], Options(select={select}))
    return [f for f in result.findings if f.rule.startswith(select)]


def rules_by_file(findings):
    out = {}
    for f in findings:
        out.setdefault(os.path.basename(f.path), set()).add(f.rule)
    return out


CONDA_OK = """
    dependencies:
      - python=3.10.13
      - pip=23.3.1
      - pip:
          - scikit-learn==1.3.2
    """


# ----------------------------------------------------------------------------- the four outcomes asked for

def test_v1_project_without_azureml_defaults_gets_env001_on_the_conda_file():
    findings = run(ENV_FIXTURES / "v1-missing")
    assert [(f.rule, os.path.basename(f.path), str(f.severity)) for f in findings] == [
        ("ENV001", "environment.yml", "error")]
    assert "inferenceconfig.json" in findings[0].message and findings[0].line == 8


def test_v1_project_with_old_normalised_azureml_defaults_gets_env002():
    findings = run(ENV_FIXTURES / "v1-too-old")
    assert [(f.rule, f.line) for f in findings] == [("ENV002", 9)]
    assert "AzureML_Defaults==1.0.6" in findings[0].message and "1.0.6" in findings[0].message


def test_v2_deployment_without_the_inference_server_gets_env003_and_not_env001():
    findings = run(ENV_FIXTURES / "v2-missing")
    assert [(f.rule, os.path.basename(f.path)) for f in findings] == [("ENV003", "conda.yaml")]
    assert "azureml-inference-server-http" in findings[0].message and "deployment.yml" in findings[0].message
    assert "azureml-defaults" not in (findings[0].message + findings[0].fix)  # no v1 advice to v2 users


def test_unlinked_environment_gets_only_pinning_findings():
    findings = run(ENV_FIXTURES / "unlinked")
    assert sorted((f.rule, f.data["package"]) for f in findings) == [("ENV004", "pandas"), ("ENV005", "scikit-learn")]


# ----------------------------------------------------------------------------- ENV001

def test_v1_inline_environment_in_the_inference_config(tmp_path):
    write(tmp_path, {"ic.json": {"entryScript": "score.py", "environment": {"python": {
        "userManagedDependencies": False,
        "condaDependencies": {"dependencies": ["python=3.10.13", "pip=23.3.1", {"pip": ["numpy==1.26.4"]}]}}}}})
    [finding] = run(tmp_path)
    assert finding.rule == "ENV001" and finding.path.endswith("ic.json")
    assert finding.pointer == "/environment/python/condaDependencies/dependencies/2/pip"


def test_user_managed_dependencies_are_not_checked_for_azureml_defaults(tmp_path):
    write(tmp_path, {"ic.json": {"entryScript": "score.py", "environment": {"python": {
        "userManagedDependencies": True,
        "condaDependencies": {"dependencies": ["pip=23.3.1", {"pip": ["numpy==1.26.4"]}]}}}}})
    assert run(tmp_path) == []


@pytest.mark.parametrize("layout", ["source-directory", "parent-relative", "cli-working-folder"])
def test_v1_conda_file_is_resolved_like_the_cli(tmp_path, layout):
    if layout == "source-directory":
        files = {"ic.yml": "entryScript: score.py\nsourceDirectory: src\ncondaFile: env/conda.yml\n",
                 "src/env/conda.yml": CONDA_OK}
    elif layout == "parent-relative":
        files = {"scoring/ic.yml": "entryScript: score.py\ncondaFile: ../conda.yml\nsourceDirectory:\n",
                 "conda.yml": CONDA_OK}
    else:  # sourceDirectory "." is the folder `az ml model deploy` runs in: here the config's parent
        files = {"config/ic.yml": "entryScript: score.py\nsourceDirectory: .\ncondaFile: config/conda.yml\n",
                 "config/conda.yml": CONDA_OK}
    write(tmp_path, files)
    assert [(f.rule, os.path.basename(f.path)) for f in run(tmp_path)] == [("ENV001", "conda.yml")]


def test_requirement_file_that_provides_azureml_defaults(tmp_path):
    write(tmp_path, {"ic.yml": "entryScript: score.py\ncondaFile: conda.yml\n",
                     "conda.yml": "dependencies:\n  - pip=23.3.1\n  - pip:\n      - -r requirements.txt\n",
                     "requirements.txt": "azureml-defaults==1.56.0\n"})
    assert run(tmp_path) == []
    (tmp_path / "requirements.txt").unlink()
    [finding] = run(tmp_path)
    assert finding.rule == "ENV001" and str(finding.severity) == "warning" and "requirements.txt" in finding.message


def test_azureml_defaults_as_a_conda_package_is_its_own_warning(tmp_path):
    write(tmp_path, {"ic.yml": "entryScript: score.py\ncondaFile: conda.yml\n",
                     "conda.yml": "dependencies:\n  - python=3.10.13\n  - azureml-defaults=1.56.0\n"})
    assert [(f.rule, str(f.severity)) for f in run(tmp_path)] == [("ENV006", "warning")]


def test_configured_purpose_makes_an_unlinked_file_a_scoring_environment(tmp_path):
    write(tmp_path, {"envs/score.yml": CONDA_OK, "envs/train.yml": CONDA_OK,
                     ".preflight.toml": '[[environment]]\npath = "envs/score*.yml"\npurpose = "v1-scoring"\n'})
    report, proc = scan_json("--select", "ENV", ".", cwd=tmp_path)
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [("ENV001", "envs/score.yml")]
    assert "declared v1-scoring" in report["findings"][0]["message"]


def test_configured_training_purpose_replaces_the_link(tmp_path):
    write(tmp_path, {"ic.yml": "entryScript: score.py\ncondaFile: conda.yml\n", "conda.yml": CONDA_OK,
                     ".preflight.toml": '[[environment]]\npath = "conda.yml"\npurpose = "training"\n'})
    report, proc = scan_json("--select", "ENV", ".", cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0


def test_a_bad_purpose_is_a_usage_error(tmp_path):
    write(tmp_path, {"conda.yml": CONDA_OK,
                     ".preflight.toml": '[[environment]]\npath = "conda.yml"\npurpose = "scoring"\n'})
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "purpose" in proc.stderr


# ----------------------------------------------------------------------------- ENV002

@pytest.mark.parametrize("line, fires", [
    ("azureml-defaults==1.0.43", True), ("azureml-defaults~=1.0", True), ("azureml-defaults<2", True),
    ("azureml-defaults!=1.0.45", True), ("azureml-defaults>1.0", True), ("azureml-defaults==1.*", True),
    ("azureml-defaults", False), ("azureml-defaults>=1.0.45", False), ("AzureML.Defaults~=1.61.0", False),
    ("azureml-defaults @ https://example.org/azureml_defaults-1.0.43-py3-none-any.whl", True),
])
def test_env002_fires_wherever_the_specifier_is(tmp_path, line, fires):
    write(tmp_path, {"conda.yml": f"dependencies:\n  - pip=23.3.1\n  - pip:\n      - '{line}'\n"})
    assert any(f.rule == "ENV002" for f in run(tmp_path, "ENV002")) is fires


def test_env002_on_a_v2_environment_recommends_the_inference_server(tmp_path):
    write(tmp_path, {"d.yml": V2_DEPLOYMENT, "conda.yml": "dependencies:\n  - pip=23.3.1\n  - pip:\n"
                                                         "      - azureml-defaults==1.0.43\n"})
    findings = run(tmp_path)
    env002 = next(f for f in findings if f.rule == "ENV002")
    assert "azureml-inference-server-http" in env002.fix and ">=1.0.45" not in env002.fix
    assert {f.rule for f in findings} == {"ENV002", "ENV003"}


# ----------------------------------------------------------------------------- ENV003

V2_DEPLOYMENT = """
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
    name: blue
    endpoint_name: ep
    model: azureml:m:1
    code_configuration: {code: src, scoring_script: score.py}
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
      conda_file: conda.yml
    instance_type: Standard_DS3_v2
    instance_count: 3
    """


@pytest.mark.parametrize("pip, expected", [
    (["azureml-inference-server-http==1.4.0"], []),
    (["azureml-defaults>=1.34"], []),
    (["azureml-defaults==1.56.0"], []),
    (["azureml-defaults==1.33.0"], [("ENV003", "error")]),
    (["azureml-defaults"], [("ENV003", "info")]),
    (["numpy==1.26.4"], [("ENV003", "error")]),
    (["-r https://example.org/requirements.txt"], [("ENV003", "warning")]),
])
def test_env003_verdicts(tmp_path, pip, expected):
    conda = {"dependencies": ["python=3.11.9", "pip=24.0", {"pip": pip}]}
    write(tmp_path, {"d.yml": V2_DEPLOYMENT, "conda.yml": json.dumps(conda)})
    assert [(f.rule, str(f.severity)) for f in run(tmp_path, "ENV003")] == expected


@pytest.mark.parametrize("change", [
    "environment: azureml:my-env:1\n",  # registered: no conda file here
    "  inference_config: {liveness_route: {port: 5001, path: /}, readiness_route: {port: 5001, path: /},"
    " scoring_route: {port: 5001, path: /score}}\n",  # custom container
    "code_configuration: null\n",  # MLflow no-code deployment
])
def test_env003_skips_registered_custom_container_and_no_code(tmp_path, change):
    text = textwrap.dedent(V2_DEPLOYMENT)
    if change.startswith("environment:"):
        text = text.replace("environment:\n", "environment_was:\n") + change
    elif change.startswith("  inference_config"):
        text = text.replace("  conda_file: conda.yml\n", "  conda_file: conda.yml\n" + change)
    else:
        text = text.replace("code_configuration: {code: src, scoring_script: score.py}\n", change)
    write(tmp_path, {"d.yml": text, "conda.yml": CONDA_OK})
    assert run(tmp_path, "ENV003") == [] and run(tmp_path, "ENV001") == []


def test_env003_inline_conda_mapping_in_the_deployment(tmp_path):
    text = textwrap.dedent(V2_DEPLOYMENT).replace(
        "  conda_file: conda.yml\n",
        "  conda_file:\n    dependencies:\n      - python=3.11.9\n      - pip=24.0\n      - pip:\n"
        "          - numpy==1.26.4\n")
    write(tmp_path, {"d.yml": text})
    [finding] = run(tmp_path)
    assert finding.rule == "ENV003" and finding.pointer == "/environment/conda_file/dependencies/2/pip"


def test_batch_deployments_are_not_online_scoring(tmp_path):
    text = (textwrap.dedent(V2_DEPLOYMENT).replace("managedOnlineDeployment", "batchDeployment")
            + "mini_batch_size: 10\n")
    write(tmp_path, {"d.yml": text, "conda.yml": CONDA_OK})
    assert run(tmp_path) == []


# ----------------------------------------------------------------------------- ENV004 / ENV005

def test_pinning_in_inline_v1_environment_json_and_v2_environment_yaml(tmp_path):
    write(tmp_path, {
        "azureml_environment.json": {"name": "e", "python": {"userManagedDependencies": False, "condaDependencies": {
            "dependencies": ["python=3.10.13", "numpy", {"pip": ["pandas>=2"]}]}}},
        "env.yml": "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: e\n"
                   "image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file:\n  dependencies:\n"
                   "    - pip=23.3.1\n    - pip:\n        - requests\n",
    })
    found = sorted((os.path.basename(f.path), f.rule, f.data["package"], f.line) for f in run(tmp_path)
                   if f.rule in ("ENV004", "ENV005"))
    assert found == [("azureml_environment.json", "ENV004", "numpy", 8),
                     ("azureml_environment.json", "ENV005", "pandas", 11),
                     ("env.yml", "ENV005", "requests", 8)]


def test_markers_constraints_templates_and_references(tmp_path):
    write(tmp_path, {"pins.txt": "requests==2.31.0\n", "conda.yml": """
        dependencies:
          - python=3.10.13
          - pip=23.3.1
          - pip:
              - -c pins.txt
              - requests
              - oldlib; python_version < '3.8'
              - newlib; python_version >= '3.8'
              - azureml-core=={{latest-pypi-version}}
              - https://example.org/wheels/torch-1.1.0-cp36-cp36m-linux_x86_64.whl
              - git+https://github.com/o/tool@main#egg=tool
        """})
    assert sorted(f.data["package"] for f in run(tmp_path, "ENV005")) == ["newlib", "tool"]


def test_pin_exemptions_and_strict_conda_policy_from_the_configuration(tmp_path):
    write(tmp_path, {"conda.yml": "dependencies:\n  - python=3.10\n  - numpy=1.26\n  - pip\n  - pip:\n"
                                  "      - azureml-defaults\n      - requests\n",
                     ".preflight.toml": '[pin-exempt]\npip = ["AzureML_Defaults"]\nconda = ["pip"]\n'})
    report, _ = scan_json("--select", "ENV004,ENV005", ".", cwd=tmp_path)
    assert sorted(f["data"]["package"] for f in report["findings"]) == ["requests"]
    (tmp_path / ".preflight.toml").write_text(
        'pin-conda-minor = false\n[pin-exempt]\npip = ["requests", "azureml-defaults"]\n')
    report, _ = scan_json("--select", "ENV004,ENV005", ".", cwd=tmp_path)
    assert sorted(f["data"]["package"] for f in report["findings"]) == ["numpy", "pip"]  # python=3.10 stays ok


COMPATIBLE_PINS = """
    dependencies:
      - python=3.10
      - numpy~=1.26.0
      - scipy=1.11.*
      - pandas>=2.0
      - pip:
          - requests~=2.31
          - urllib3==2.0.*
          - idna==3.*
          - flask>=3.0
          - click
    """


def test_compatible_pinning_accepts_compatible_release_and_series(tmp_path):
    write(tmp_path, {"conda.yml": COMPATIBLE_PINS})
    exact, _ = scan_json("--select", "ENV004,ENV005", ".", cwd=tmp_path)
    assert sorted(f["data"]["package"] for f in exact["findings"]) == [
        "click", "flask", "idna", "numpy", "pandas", "requests", "scipy", "urllib3"]
    compatible, _ = scan_json("--select", "ENV004,ENV005", "--pinning", "compatible", ".", cwd=tmp_path)
    # A range or a bare name stays unpinned; a series needs at least X.Y (`==3.*` is a major series).
    assert sorted(f["data"]["package"] for f in compatible["findings"]) == ["click", "flask", "idna", "pandas"]


def test_pinning_from_the_configuration_and_the_command_line_wins(tmp_path):
    write(tmp_path, {"conda.yml": COMPATIBLE_PINS, ".preflight.toml": 'pinning = "compatible"\n'})
    report, _ = scan_json("--select", "ENV005", ".", cwd=tmp_path)
    assert sorted(f["data"]["package"] for f in report["findings"]) == ["click", "flask", "idna"]
    report, _ = scan_json("--select", "ENV005", "--pinning", "exact", ".", cwd=tmp_path)
    assert "requests" in {f["data"]["package"] for f in report["findings"]}


def test_compatible_pinning_accepts_a_compatible_constraint_file(tmp_path):
    write(tmp_path, {"conda.yml": "dependencies:\n  - pip:\n      - -c constraints.txt\n      - requests\n",
                     "constraints.txt": "requests~=2.31.0\n"})
    assert [f.data["package"] for f in run(tmp_path, "ENV005")] == ["requests"]
    report, _ = scan_json("--select", "ENV005", "--pinning", "compatible", ".", cwd=tmp_path)
    assert report["findings"] == []


# ----------------------------------------------------------------------------- hygiene rules

@pytest.mark.parametrize("deps, expected", [
    (["numpy=1.21.2", {"pip": ["numpy==1.23.5"]}], True),
    (["pip=23.3.1", {"pip": ["numpy==1.23.5", "NumPy==1.24.0"]}], True),
    (["numpy=1.21", {"pip": ["numpy==1.21.2"]}], False),
    (["numpy>=1.20", {"pip": ["numpy>=1.21"]}], False),
    (["numpy=1.21.2", "numpy=1.22.0"], True),
    (["pip=23.3.1", {"pip": ["numpy==1.23.5; python_version<'3.8'", "numpy==1.24.0"]}], False),
])
def test_env007_conflicting_versions(tmp_path, deps, expected):
    write(tmp_path, {"conda.yml": json.dumps({"dependencies": deps})})
    assert bool(run(tmp_path, "ENV007")) is expected


def test_env008_pip_section_without_pip(tmp_path):
    write(tmp_path, {"conda.yml": "dependencies:\n  - python=3.10.13\n  - pip:\n      - numpy==1.26.4\n"})
    [finding] = run(tmp_path, "ENV008")
    assert finding.line == 3
    write(tmp_path, {"conda.yml": "dependencies:\n  - conda-forge::pip=23.3.1\n  - pip:\n      - numpy==1.26.4\n"})
    assert run(tmp_path, "ENV008") == []


def test_env009_items_that_are_not_packages(tmp_path):
    write(tmp_path, {"conda.yml": "dependencies:\n  - python\n  - 3.8\n  -\n  - pip=23.3.1\n  - pip:\n"
                                  "      - numpy=1.23.5\n      - 7\n"})
    found = [(f.line, str(f.severity)) for f in run(tmp_path, "ENV009")]
    assert found == [(3, "error"), (4, "error"), (7, "error"), (8, "error")]


def test_env010_plain_http_sources(tmp_path):
    write(tmp_path, {"conda.yml": """
        channels:
          - http://conda.example.com/channel
          - conda-forge
        dependencies:
          - pip=23.3.1
          - pip:
              - --extra-index-url http://pkgs.example.com/simple
              - --index-url https://pypi.org/simple
              - --trusted-host pkgs.example.com
              - --find-links http://localhost:8000/wheels
              - pkg @ http://example.com/pkg-1.0-py3-none-any.whl
        """})
    assert sorted(f.line for f in run(tmp_path, "ENV010")) == [2, 7, 9, 11]


def test_env011_second_pip_section_drops_the_first(tmp_path):
    write(tmp_path, {"conda.yml": "dependencies:\n  - pip=23.3.1\n  - pip:\n      - azureml-defaults==1.56.0\n"
                                  "  - numpy=1.26.4\n  - pip:\n      - scikit-learn==1.3.2\n"})
    [finding] = run(tmp_path, "ENV011")
    assert finding.line == 3 and "azureml-defaults" in finding.message and "line 6" in finding.message


def test_env012_extra_index_outside_pypi(tmp_path):
    write(tmp_path, {"conda.yml": "dependencies:\n  - pip=23.3.1\n  - pip:\n"
                                  "      - --extra-index-url https://pypi.org/simple\n"
                                  "      - --extra-index-url https://pkgs.example.com/simple\n"})
    assert [(f.line, str(f.severity)) for f in run(tmp_path, "ENV012")] == [(5, "info")]


# ----------------------------------------------------------------------------- links for other families

def test_scoring_script_of_v1_and_v2():
    from preflight.documents import Kind
    from preflight.rulepacks import load_rule_packs
    from preflight.engine import DocumentStore, ScanContext
    from preflight.loaders import read_regular_file as read_file
    from preflight.documents import load_document
    from preflight.project import environment_links_of, scoring_script_of

    load_rule_packs()
    options = Options()
    store = DocumentStore(options)
    docs = {}
    for rel in ("v1-missing/inferenceconfig.json", "v2-missing/deployment.yml"):
        path = str(ENV_FIXTURES / rel)
        docs[rel] = load_document(path, read_file(path, 10**6))
        store.retain(docs[rel])
    ctx = ScanContext(options, store)
    v1 = scoring_script_of(docs["v1-missing/inferenceconfig.json"], ctx)
    v2 = scoring_script_of(docs["v2-missing/deployment.yml"], ctx)
    assert v1.exists and v1.path == str(ENV_FIXTURES / "v1-missing" / "score.py") and v1.pointer == "/entryScript"
    assert v2.exists and v2.path == str(ENV_FIXTURES / "v2-missing" / "code" / "score.py")
    assert ctx.document_at(v2.path).kind == Kind.SCORING_SCRIPT
    [link] = environment_links_of(docs["v2-missing/deployment.yml"], ctx)
    assert link.exists and link.path.endswith("environment/conda.yaml")


def test_scoring_script_of_missing_and_non_local_code(tmp_path):
    from preflight.engine import DocumentStore, ScanContext
    from preflight.documents import load_document
    from preflight.project import scoring_script_of

    options = Options()
    store = DocumentStore(options)
    a = load_document(str(tmp_path / "a.yml"), b"name: a\nendpoint_name: e\ncode_configuration:\n"
                                                b"  code: azureml:code:1\n  scoring_script: score.py\n")
    b = load_document(str(tmp_path / "b.json"), b'{"entryScript": "nope.py", "sourceDirectory": "src"}')
    store.retain(a)
    store.retain(b)
    ctx = ScanContext(options, store)
    assert scoring_script_of(a, ctx).path is None and scoring_script_of(a, ctx).reason
    link = scoring_script_of(b, ctx)
    assert not link.exists and link.path == str(tmp_path / "src" / "nope.py")


# ----------------------------------------------------------------------------- the labelled corpus

def test_corpus_labels(corpus):
    rows = list(csv.DictReader(open(corpus / "labels-conda.tsv"), delimiter="\t"))
    folders = sorted({str(corpus / os.path.dirname(r["path"])) for r in rows})
    findings = scan(folders, Options(select={"ENV"})).findings
    by_path = {}
    for f in findings:
        by_path.setdefault(os.path.relpath(os.path.abspath(f.path), corpus), []).append(f)
    for row in rows:
        got = by_path.get(row["path"], [])
        unpinned = {f.data["package"].lower() for f in got if f.rule in ("ENV004", "ENV005")}
        expected = {p.strip().lower() for p in row["unpinned_packages"].split(",") if p.strip()}
        assert unpinned == expected, row["path"]
        # ENV001 is the v1 rule: v2 environments (notes name a `conda_file` or v2) are ENV003's business.
        v1_scoring = (row["is_azureml_scoring_env"] == "yes"
                      and not ("v2" in row["notes"] or "conda_file" in row["notes"]))
        missing_defaults = any(f.rule == "ENV001" for f in got)
        assert missing_defaults is (v1_scoring and row["has_azureml_defaults"] == "no"), row["path"]


# ----------------------------------------------------------------------------- hostile shapes

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
    | st.sampled_from(["pip", "numpy", "-r x.txt", "azureml-defaults<2", "http://x/y", "azureml:e:1"]),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(
        st.sampled_from(["pip", "dependencies", "python", "condaDependencies", "conda_file", "environment",
                         "code_configuration", "scoring_script", "inference_config", "channels", "x"]), c, max_size=4),
    max_leaves=25)


@settings(max_examples=150, deadline=None)
@given(_values, st.sampled_from(["CONDA", "ENVIRONMENT_V1", "ENVIRONMENT_V2", "INFERENCE_V1",
                                 "ONLINE_DEPLOYMENT_V2", "BATCH_DEPLOYMENT_V2"]))
def test_rules_never_raise_on_any_shape(data, kind):
    from preflight.documents import Document, Kind
    from preflight.contract import REGISTRY
    from preflight.rulepacks import load_rule_packs
    from preflight.engine import DocumentStore, ScanContext
    from preflight.findings import Issue

    load_rule_packs()
    doc = Document("/nonexistent/x.yml", Kind[kind], "yaml", text="", data=data)
    options = Options()
    store = DocumentStore(options)
    if doc.kind in (Kind.INFERENCE_V1, Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2):
        store.retain(doc)
    ctx = ScanContext(options, store)
    ran = []
    for rule_id, r in REGISTRY.items():
        if rule_id.startswith("ENV") and r.check is not None:
            issues = list(r.check(doc, ctx))
            assert all(isinstance(i, Issue) and i.message for i in issues), (rule_id, issues)
            if doc.kind in r.kinds:
                ran.append(rule_id)
    assert ran  # every kind drawn is one that ENV rules read: they ran on it


def test_env005_says_whether_a_vcs_url_names_a_revision(tmp_path):
    write(tmp_path, {"conda.yml": """
        dependencies:
          - python=3.10.13
          - pip:
              - git+https://github.com/org/tool-a.git
              - git+ssh://git@github.com/org/tool-b.git
              - git+https://github.com/org/tool-c.git@main#egg=tool-c
              - git+https://github.com/org/tool-d.git@0123456789abcdef0123456789abcdef01234567
        """})
    messages = sorted(f.message for f in run(tmp_path, "ENV005"))
    assert len(messages) == 3  # the full commit hash is a pin
    no_revision = [m for m in messages if "names no commit or tag" in m]
    assert len(no_revision) == 2 and all("tool-a" in m or "tool-b" in m for m in no_revision)
    (branch,) = [m for m in messages if "branch or tag" in m]
    assert "tool-c" in branch
