"""`scan --resolve`: the real resolver (uv) against wheels served by a loopback PEP 503 index.

No test touches a public index: uv runs with `--no-config` and the index given here, and pip's
and uv's configuration are switched off in the environment (this machine's pip configuration
names other indexes).
"""
from __future__ import annotations

import json
import os
import textwrap

import pytest

from preflight.cli import main
from wheel_index import STANDARD, Dist, SimpleIndex, build_wheel, isolated_env

DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: churn
model: azureml:churn:1
code_configuration:
  code: src
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
  conda_file: env.yml
instance_type: Standard_DS3_v2
instance_count: 3
"""

SCRIPT = """\
import json
import os


def init():
    pass


def run(data):
    return json.loads(data)
"""

DISTS = STANDARD + [
    Dist("acme-tools", "1.0.0", modules=("acmekit",)),  # an import name unlike its distribution's
    Dist("fancy-parser", "2.1.0", modules=("fparse",), top_level_txt=False),  # modules from RECORD only
    Dist("needs-acme", "0.5.0", modules=("needs_acme",), requires=("acme-tools==1.0.0",)),
]


def conda(*pip: str, python: str = "python=3.10.14") -> str:
    lines = "".join(f"      - {p}\n" for p in pip)
    return f"name: serving\ndependencies:\n  - {python}\n  - pip\n  - pip:\n{lines}"


def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if name.endswith(".py") else text)


def deployment(root, name: str, pip: list[str], script: str = SCRIPT, **extra: str) -> None:
    write(root, {f"{name}/deployment.yml": DEPLOYMENT, f"{name}/env.yml": conda(*pip),
                 f"{name}/src/score.py": script, **{f"{name}/{k}": v for k, v in extra.items()}})


@pytest.fixture
def index(tmp_path_factory, monkeypatch):
    served = tmp_path_factory.mktemp("index")
    cache = tmp_path_factory.mktemp("resolver-cache")
    for key in [k for k in os.environ if k.startswith(("PIP_", "UV_"))]:
        monkeypatch.delenv(key)
    for key, value in isolated_env(str(cache)).items():
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("PREFLIGHT_NO_CACHE", raising=False)  # the resolve cache is under test too
    monkeypatch.setenv("PREFLIGHT_CACHE_DIR", str(tmp_path_factory.mktemp("preflight-cache")))
    with SimpleIndex(str(served), DISTS) as idx:
        monkeypatch.setenv("UV_INDEX_URL", idx.url)  # never the public index, whatever happens
        yield idx


def run_scan(capsys, monkeypatch, root, *args: str) -> tuple[int, list[dict], str]:
    monkeypatch.chdir(root)
    code = main(["scan", ".", "--format", "json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)["findings"], captured.err


def of(findings, *rules):
    return [f for f in findings if f["rule"] in rules]


def test_resolve_reports_what_the_build_and_the_import_would_hit(tmp_path, index, capsys, monkeypatch):
    deployment(tmp_path, "missing-pin", ["numpy==1.26.9", "azureml-inference-server-http==1.3.0"])
    deployment(tmp_path, "new-python", ["newpy==2.0.0", "azureml-inference-server-http==1.3.0"])
    deployment(tmp_path, "bad-import", ["numpy==1.26.4", "azureml-inference-server-http==1.3.0"],
               script=SCRIPT + "import lightgbm\n")
    deployment(tmp_path, "transitive", ["needs-acme==0.5.0", "scikit-learn==1.3.2", "fancy-parser==2.1.0",
                                        "azureml-inference-server-http==1.3.0"],
               script="import joblib\nimport acmekit\nimport sklearn\nimport fparse\nimport helpers\n"
                      "from needs_acme import x\n" + SCRIPT,
               **{"src/helpers.py": "X = 1\n"})
    deployment(tmp_path, "clean", ["numpy==1.26.4", "PyYAML==6.0.1", "azureml-inference-server-http==1.3.0"],
               script="import yaml\nimport numpy\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
                      "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n" + SCRIPT)

    code, findings, err = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    env020 = {f["path"]: f for f in of(findings, "ENV020")}
    scr006 = {f["path"]: f for f in of(findings, "SCR006")}
    assert code == 1
    assert set(env020) == {os.path.join("missing-pin", "env.yml"), os.path.join("new-python", "env.yml")}
    missing = env020[os.path.join("missing-pin", "env.yml")]
    assert "numpy==1.26.9" in missing["message"] and "1.26.4" in missing["message"]
    assert missing["line"] == 6 and missing["severity"] == "error"  # at the requirement's line
    newer = env020[os.path.join("new-python", "env.yml")]
    assert "newpy" in newer["message"] and "3.12" in newer["message"] and newer["line"] == 6
    assert set(scr006) == {os.path.join("bad-import", "src", "score.py")}
    bad = scr006[os.path.join("bad-import", "src", "score.py")]
    assert "'lightgbm'" in bad["message"] and bad["line"] == 11
    assert err == ""
    assert any(r.startswith("/files/") for r in index.requests)  # wheels were read for acmekit and fparse

    # A rerun is answered from the cache: not one request to the index.
    index.requests.clear()
    code2, again, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    assert index.requests == []
    assert (code2, again) == (code, findings)


def test_without_resolve_nothing_is_resolved_or_requested(tmp_path, index, capsys, monkeypatch):
    deployment(tmp_path, "missing-pin", ["numpy==1.26.9", "azureml-inference-server-http==1.3.0"],
               script=SCRIPT + "import lightgbm\n")
    code, findings, _ = run_scan(capsys, monkeypatch, tmp_path)
    assert of(findings, "ENV020", "SCR006") == []
    assert index.requests == []
    # the same project with --resolve: both findings (so the files above are the ones that matter)
    _, found, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    assert sorted(f["rule"] for f in of(found, "ENV020", "SCR006")) == ["ENV020"]  # unresolved: imports not judged


def test_environment_index_lines_are_honoured_and_other_options_never_passed(tmp_path, index, capsys, monkeypatch):
    marker = tmp_path / "links"
    marker.mkdir()
    build_wheel(Dist("numpy", "1.26.9", modules=("numpy",)), str(marker))  # found only through --find-links
    deployment(tmp_path, "own-index", [f"--index-url {index.url}", f"--find-links {marker}",
                                       "--trusted-host evil.example", "-e ./src", "numpy==1.26.9",
                                       "azureml-inference-server-http==1.3.0"])
    code, findings, err = run_scan(capsys, monkeypatch, tmp_path, "--resolve")  # no --index-url: the file's
    assert [f["line"] for f in of(findings, "ENV020")] == [10]
    assert "numpy" in of(findings, "ENV020")[0]["message"]


def test_unreachable_index_is_a_notice_not_a_finding(tmp_path, index, capsys, monkeypatch):
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    deployment(tmp_path, "clean", ["numpy==1.26.4", "numpy>=1"], script=SCRIPT + "import lightgbm\n")
    code, findings, err = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url",
                                   "http://127.0.0.1:9/simple/")
    assert of(findings, "ENV020", "SCR006") == []
    assert "http://127.0.0.1:9/simple/" in err and "warning" in err
    assert "Connection refused" in err, err
    assert of(findings, "ENV003")  # the offline findings are still there


def test_conflict_names_both_requirements_and_suppression_and_baseline_apply(tmp_path, index, capsys, monkeypatch):
    deployment(tmp_path, "conflict", ["scikit-learn==1.3.2", "joblib==1.0", "azureml-inference-server-http==1.3.0"])
    _, findings, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    [finding] = of(findings, "ENV020")
    assert "scikit-learn" in finding["message"] and "joblib" in finding["message"]
    baseline = tmp_path / "baseline.json"
    assert main(["scan", ".", "--resolve", "--index-url", index.url, "--write-baseline", str(baseline)]) == 0
    capsys.readouterr()
    _, after, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url,
                           "--baseline", str(baseline))
    assert of(after, "ENV020") == []
    env = tmp_path / "conflict" / "env.yml"
    env.write_text(env.read_text().replace("scikit-learn==1.3.2", "scikit-learn==1.3.2  # preflight: ignore[ENV020]"))
    _, suppressed, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    assert of(suppressed, "ENV020", "PF004") == []


@pytest.mark.parametrize("fmt", ["text", "sarif", "junit", "github"])
def test_every_format_reports_resolve_findings(tmp_path, index, capsys, monkeypatch, fmt):
    deployment(tmp_path, "missing-pin", ["numpy==1.26.9", "azureml-inference-server-http==1.3.0"])
    monkeypatch.chdir(tmp_path)
    assert main(["scan", ".", "--resolve", "--index-url", index.url, "--format", fmt, "--no-color"]) == 1
    assert "ENV020" in capsys.readouterr().out


def test_requirement_files_resolve_or_are_reported(tmp_path, index, capsys, monkeypatch):
    deployment(tmp_path, "included", ["-r requirements.txt", "-r missing.txt", "-c constraints.txt"],
               **{"requirements.txt": "azureml-inference-server-http==1.3.0\nnumpy\n",
                  "constraints.txt": "numpy==1.26.9\n"})
    _, findings, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    messages = sorted((f["line"], f["message"]) for f in of(findings, "ENV020"))
    assert [line for line, _ in messages] == [6, 7]
    assert "requirements.txt line 2" in messages[0][1] and "numpy" in messages[0][1]  # held back by the -c file
    assert "`-r missing.txt` cannot be opened (missing)" in messages[1][1]


def test_progress_line_only_on_a_terminal(tmp_path, index, capsys, monkeypatch):
    from preflight.progress import Progress

    deployment(tmp_path, "clean", ["numpy==1.26.4", "azureml-inference-server-http==1.3.0"])
    shown = []

    class Terminal:
        def write(self, text):
            shown.append(text)

        def flush(self):
            pass

        def isatty(self):
            return True

    monkeypatch.setattr(Progress, "on", classmethod(lambda cls, stream: cls(Terminal())))
    run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    assert any("resolving 1/1: clean/env.yml" in text for text in shown)
    assert shown[-1].endswith("\033[K")  # erased before the report


def test_v1_inference_config_script_and_identical_environments(tmp_path, index, capsys, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_NO_CACHE", "1")  # identical environments are still resolved once
    env = conda("numpy==1.26.4", "azureml-defaults==1.56.0").replace("azureml-defaults==1.56.0", "scikit-learn==1.3.2")
    write(tmp_path, {"svc/inferenceconfig.json": '{"entryScript": "app/score.py", "sourceDirectory": "src", '
                                                 '"condaFile": "env.yml"}',
                     "svc/src/env.yml": env, "svc/src/copy/env.yml": env, "svc/src/shared.py": "X = 1\n",
                     "svc/src/app/score.py": "import shared\nimport sklearn\nimport torch\n" + SCRIPT})
    _, findings, _ = run_scan(capsys, monkeypatch, tmp_path, "--resolve", "--index-url", index.url)
    assert [(f["path"], f["line"], f["data"]["module"]) for f in of(findings, "SCR006")] == \
        [(os.path.join("svc", "src", "app", "score.py"), 3, "torch")]
    assert sum(r == "/simple/scikit-learn/" for r in index.requests) == 1


def test_index_options_are_checked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["scan", ".", "--index-url", "https://pkgs.example.com/simple/"]) == 2
    assert "used by --resolve" in capsys.readouterr().err
    assert main(["scan", ".", "--resolve", "--index-url", "file:///etc/"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
