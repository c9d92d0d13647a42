"""GitHub workflow annotations, and the composite action that runs preflight in a workflow."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, REPO, run_cli

ENV = """name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - numpy==1.26.4
      - requests>=2
"""


def annotations(*args, cwd):
    proc = run_cli("scan", "--format", "github", *args, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.splitlines(), proc


def test_warning_annotation_with_position_title_and_fix(tmp_path):
    (tmp_path / "env.yml").write_text(ENV)
    lines, proc = annotations("env.yml", "--fail-on", "warning", cwd=tmp_path)
    assert proc.returncode == 1
    [line] = lines
    assert line.startswith("::warning file=env.yml,line=7,col=9,title=ENV005::pip package 'requests'")
    assert "%0Afix: pin the tested version" in line and "\n" not in line


def test_info_is_a_notice_and_paths_are_escaped(tmp_path):
    (tmp_path / "a,b:c.yml").write_text(ENV.replace("requests>=2", "requests==2.31.0  # preflight: ignore[ENV005]"))
    lines, proc = annotations(".", cwd=tmp_path)
    [line] = lines
    assert line.startswith("::notice file=a%2Cb%3Ac.yml,line=7,col=")
    assert ",title=PF004::" in line and proc.returncode == 0


def test_absolute_paths_under_the_workspace_become_relative(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "env.yml").write_text(ENV)
    lines, _ = annotations(str(tmp_path / "infra"), cwd=tmp_path)
    assert lines[0].startswith("::warning file=infra/env.yml,line=7,")


def test_clean_scan_prints_nothing(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("requests>=2", "requests==2.31.0"))
    lines, proc = annotations(".", cwd=tmp_path)
    assert lines == [] and proc.returncode == 0


def test_error_annotation_for_kv001(tmp_path):
    shutil.copy(FIXTURES / "integrations" / "kv-wiped.json", tmp_path / "kv.json")
    lines, proc = annotations("kv.json", cwd=tmp_path)
    policies_line = next(i for i, text in enumerate((tmp_path / "kv.json").read_text().splitlines(), 1)
                         if '"accessPolicies"' in text)
    assert any(line.startswith(f"::error file=kv.json,line={policies_line},") and ",title=KV001::" in line
               for line in lines), lines
    assert proc.returncode == 1


# ------------------------------------------------------------------------- the action


def _action() -> dict:
    return yaml.safe_load((REPO / "action.yml").read_text())


def test_action_is_a_composite_that_uploads_sarif():
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert any("pip install" in s.get("run", "") and "GITHUB_ACTION_PATH" in s["run"] for s in steps)
    for step in steps:  # inputs reach scripts through env, never spliced into the script text
        assert "${{" not in step.get("run", ""), step
    assert set(action["inputs"]) >= {"paths", "args", "sarif-file", "upload-sarif", "annotations"}


def _run_scan_step(workspace: Path, tmp_path: Path, **inputs) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the action's scan step as the runner would: its env with the inputs filled in."""
    action = _action()
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "scan")
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    values.update(inputs)
    env = dict(os.environ, GITHUB_OUTPUT=str(tmp_path / "github_output"), NO_COLOR="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    for key, expression in step["env"].items():
        name = expression.removeprefix("${{ inputs.").removesuffix(" }}")
        env[key] = values[name]
    (tmp_path / "github_output").write_text("")
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=120)
    outputs = dict(line.split("=", 1) for line in (tmp_path / "github_output").read_text().splitlines())
    return proc, outputs


@pytest.fixture
def console_script():
    if not (Path(sys.executable).parent / "preflight").exists():
        pytest.skip("the preflight console script is not installed beside this Python")


def test_action_scan_step_writes_sarif_and_annotations(tmp_path, console_script):
    workspace = tmp_path / "repo"
    (workspace / "envs").mkdir(parents=True)
    (workspace / "envs" / "env.yml").write_text(ENV)
    proc, outputs = _run_scan_step(workspace, tmp_path, paths="envs", annotations="true", args="--fail-on warning")
    assert proc.returncode == 0, proc.stderr  # the exit code is reported, and used by a later step
    assert outputs == {"exit-code": "1"}
    log = json.loads((workspace / "preflight.sarif").read_text())
    assert log["runs"][0]["results"][0]["ruleId"] == "ENV005"
    assert "::warning file=envs/env.yml,line=7,col=9,title=ENV005::" in proc.stdout


def test_action_scan_step_passes_extra_args_and_stops_on_usage_errors(tmp_path, console_script):
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / "env.yml").write_text(ENV)
    proc, outputs = _run_scan_step(workspace, tmp_path, args="--fail-on error")
    assert outputs == {"exit-code": "0"} and "env.yml:7:9: ENV005" in proc.stdout
    (workspace / ".preflight.toml").write_text("colour = true\n")
    proc, outputs = _run_scan_step(workspace, tmp_path)
    assert proc.returncode == 2 and outputs == {"exit-code": "2"} and "'colour'" in proc.stderr


# A pip requirement that smuggles a workflow command onto a line of its own, a terminal colour
# and the runner's older `##[command]` form into the log.
HOSTILE_ENV = r"""name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - "requests\n::error title=forged::x\e[31mred ##[warning]old-form>=2"
"""


@pytest.mark.parametrize("annotations", ["false", "true"])
def test_action_log_holds_no_command_from_file_content(tmp_path, console_script, annotations):
    workspace = tmp_path / "repo"
    (workspace / "envs").mkdir(parents=True)
    (workspace / "envs" / "env.yml").write_text(HOSTILE_ENV)
    proc, outputs = _run_scan_step(workspace, tmp_path, paths="envs", annotations=annotations)
    assert proc.returncode == 0 and outputs == {"exit-code": "1"}, proc.stderr
    log = json.loads((workspace / "preflight.sarif").read_text())
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["ENV009"]  # the content was checked
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b" not in stream
        for line in stream.splitlines():
            assert "##[" not in line, line
            if line.lstrip().startswith("::"):  # only preflight's own annotation of the finding
                assert annotations == "true" and line.startswith(
                    "::error file=envs/env.yml,line=6,col=9,title=ENV009::pip cannot parse `requests\\n::error"), line
    commands = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    assert len(commands) == (1 if annotations == "true" else 0)
    if annotations == "false":
        assert "envs/env.yml:6:9: ENV009 [error] pip cannot parse `requests\\n::error title=forged::x\\x1b[31mred" \
            in proc.stdout
