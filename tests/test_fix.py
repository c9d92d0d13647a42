"""Autofix: lock parsing, one-entry rewrites, and byte-exact round trips through the CLI."""
import json
import os
import stat
import textwrap

import pytest
from conftest import FIXTURES, run_cli, scan_json

from preflight.conda import parse_matchspec, parse_pip_line
from preflight.fix import PinsError, load_pins, parse_pins, repin_conda, repin_pip

LOCK = "pandas==2.1.4\nscikit-learn==1.3.2\ninference-schema==1.7.1\nazureml-defaults==1.56.0\n" \
       "azureml-inference-server-http==1.4.0\nnumpy==1.26.4\njoblib==1.3.2\n"


def dedent(text):
    return textwrap.dedent(text).lstrip("\n")


def fix(tmp_path, *args):
    lock = tmp_path / "lock.txt"
    if not lock.exists():
        lock.write_text(LOCK)
    return run_cli("fix", *args, "--pins", str(lock), cwd=tmp_path)


# ----------------------------------------------------------------------------- the lock

def test_pip_freeze():
    pins = parse_pins("# comment\nNumPy==1.26.4\n-e git+https://x/y@abc#egg=y\nlocal @ file:///tmp/local\n"
                      "requests===2.31.0  # pinned\n", "freeze.txt")
    assert pins.pip == {"numpy": "1.26.4", "requests": "2.31.0"} and pins.conda == {}


def test_conda_list_export_keeps_pip_installed_packages_apart():
    pins = parse_pins("# This file may be used to create an environment using:\n# platform: linux-64\n"
                      "python=3.10.13=h955ad1f_0\nscikit-learn=1.3.2=py310h1128e8f_0\n"
                      "azureml-defaults=1.56.0=pypi_0\n", "export.txt")
    assert pins.conda == {"python": "3.10.13", "scikit-learn": "1.3.2"}
    assert pins.pip == {"azureml-defaults": "1.56.0"}


def test_conda_env_export():
    pins = parse_pins(dedent("""
        name: scoring
        channels:
          - conda-forge
        dependencies:
          - conda-forge::python=3.10.13=h955ad1f_0_cpython
          - pip=23.3.1=pyhd8ed1ab_0
          - pip:
              - azureml-defaults==1.56.0
        prefix: /opt/conda/envs/scoring
        """), "env.yml")
    assert pins.conda == {"python": "3.10.13", "pip": "23.3.1"} and pins.pip == {"azureml-defaults": "1.56.0"}


def test_conda_list_table_and_pip_list_json():
    table = parse_pins("# packages in environment at /opt/conda:\n#\n# Name    Version   Build  Channel\n"
                       "numpy     1.26.4    py310_0\nrequests  2.31.0    pypi_0  pypi\n", "list.txt")
    assert table.conda == {"numpy": "1.26.4"} and table.pip == {"requests": "2.31.0"}
    listed = parse_pins('[{"name": "Pandas", "version": "2.1.4"}]', "list.json")
    assert listed.pip == {"pandas": "2.1.4"}


def test_a_lock_without_versions_is_a_usage_error(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(PinsError):
        load_pins(str(tmp_path / "empty.txt"))
    with pytest.raises(PinsError):
        load_pins(str(tmp_path / "missing.txt"))
    (tmp_path / "conda.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
    proc = run_cli("fix", ".", "--pins", "empty.txt", cwd=tmp_path)
    assert proc.returncode == 2 and "no package versions" in proc.stderr


# ----------------------------------------------------------------------------- one entry

@pytest.mark.parametrize("line, version, expected", [
    ("pandas>=2.0", "2.1.4", "pandas==2.1.4"),
    ("inference-schema[numpy-support]", "1.7.1", "inference-schema[numpy-support]==1.7.1"),
    ("pkg>=1; python_version >= '3.8'", "1.2", "pkg==1.2; python_version >= '3.8'"),
    ("pkg (>=1.0)", "1.2", "pkg==1.2"),
    ("Scikit_Learn~=1.3", "1.3.2", "Scikit_Learn==1.3.2"),
])
def test_repin_pip(line, version, expected):
    assert repin_pip(parse_pip_line(line, ""), version) == (expected, None)


@pytest.mark.parametrize("line, version, reason", [
    ("pandas>=2.0", "1.5.3", "outside `>=2.0`"),
    ("numpy --hash=sha256:abc", "1.26.4", "hashes"),
    ("numpy", "not a version", "not a valid version"),
])
def test_repin_pip_refuses_what_it_cannot_do_safely(line, version, reason):
    new, problem = repin_pip(parse_pip_line(line, ""), version)
    assert new == "" and reason in problem


@pytest.mark.parametrize("spec, version, expected", [
    ("scikit-learn", "1.3.2", "scikit-learn=1.3.2"),
    ("tzdata", "2024a", "tzdata==2024a"),
    ("conda-forge::numpy>=1.20", "1.26.4", "conda-forge::numpy=1.26.4"),
    ("python=3.10.*", "3.10.13", "python=3.10.13"),
    ("numpy 1.26.*", "1.26.4", "numpy 1.26.4"),
])
def test_repin_conda(spec, version, expected):
    assert repin_conda(parse_matchspec(spec, ""), version) == (expected, None)


@pytest.mark.parametrize("spec, version, reason", [
    ("numpy[version='>=1.2']", "1.26.4", "bracket"),
    ("numpy>=2", "1.26.4", "outside"),
    ("numpy", "1.26.4; rm -rf", "not a plain version"),
])
def test_repin_conda_refuses_what_it_cannot_do_safely(spec, version, reason):
    new, problem = repin_conda(parse_matchspec(spec, ""), version)
    assert new == "" and reason in problem


# ----------------------------------------------------------------------------- round trips

PROJECT_CONDA = """
    # Scoring environment (comments stay)
    name: churn
    channels:
      - conda-forge
    dependencies:
      - python=3.10.13   # interpreter
      - pip=23.3.1
      - 'scikit-learn'
      - pip:
        - "pandas>=2.0"
        - joblib==1.3.2    # already pinned
        - inference-schema[numpy-support]
    # trailing comment
    """
PROJECT_FIXED = """
    # Scoring environment (comments stay)
    name: churn
    channels:
      - conda-forge
    dependencies:
      - python=3.10.13   # interpreter
      - pip=23.3.1
      - 'scikit-learn=1.3.2'
      - pip:
        - "pandas==2.1.4"
        - joblib==1.3.2    # already pinned
        - inference-schema[numpy-support]==1.7.1
        - azureml-defaults==1.56.0
    # trailing comment
    """


def v1_project(tmp_path, conda=PROJECT_CONDA, newline="\n"):
    (tmp_path / "ic.json").write_text('{"entryScript": "score.py", "condaFile": "conda.yml"}\n')
    (tmp_path / "conda.yml").write_bytes(dedent(conda).replace("\n", newline).encode())
    return tmp_path / "conda.yml"


def test_fix_keeps_comments_order_quoting_and_mixed_indentation(tmp_path):
    conda = v1_project(tmp_path)
    proc = fix(tmp_path, ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert conda.read_text() == dedent(PROJECT_FIXED)
    assert "added azureml-defaults==1.56.0" in proc.stdout
    report, _ = scan_json("--select", "ENV", ".", cwd=tmp_path)
    assert report["findings"] == []


def test_second_run_changes_nothing(tmp_path):
    conda = v1_project(tmp_path)
    fix(tmp_path, ".")
    first = conda.read_bytes()
    mtime = conda.stat().st_mtime_ns
    proc = fix(tmp_path, ".")
    assert proc.returncode == 0 and "Fixed 0 problems" in proc.stdout
    assert conda.read_bytes() == first and conda.stat().st_mtime_ns == mtime


def test_diff_shows_the_fix_and_writes_nothing(tmp_path):
    conda = v1_project(tmp_path)
    before = conda.read_bytes()
    mtime = conda.stat().st_mtime_ns
    proc = fix(tmp_path, ".", "--diff")
    assert proc.returncode == 1
    assert "-    - \"pandas>=2.0\"\n+    - \"pandas==2.1.4\"\n" in proc.stdout
    assert "+    - azureml-defaults==1.56.0\n" in proc.stdout and proc.stdout.startswith("--- a/conda.yml")
    assert conda.read_bytes() == before and conda.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["conda.yml", "ic.json", "lock.txt"]


def test_crlf_bom_and_permissions_are_kept(tmp_path):
    conda = v1_project(tmp_path, newline="\r\n")
    conda.write_bytes(b"\xef\xbb\xbf" + conda.read_bytes())
    os.chmod(conda, 0o640)
    assert fix(tmp_path, ".").returncode == 0
    raw = conda.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == raw.count(b"\n")
    assert raw[3:].decode() == dedent(PROJECT_FIXED).replace("\n", "\r\n")
    assert stat.S_IMODE(conda.stat().st_mode) == 0o640


def test_a_fix_it_cannot_apply_is_reported_and_the_rest_applied(tmp_path):
    conda = v1_project(tmp_path)
    (tmp_path / "lock.txt").write_text(LOCK.replace("pandas==2.1.4", "pandas==1.5.3").replace("joblib", "x"))
    proc = fix(tmp_path, ".")
    assert proc.returncode == 1
    assert "conda.yml:10:7: not fixed: pip package 'pandas': the lock has 1.5.3, outside `>=2.0`" in proc.stdout
    text = conda.read_text()
    assert '"pandas>=2.0"' in text and "inference-schema[numpy-support]==1.7.1" in text


def test_failure_mid_write_leaves_the_original_intact(tmp_path, monkeypatch):
    from preflight import fix as fixmod
    from preflight.engine import Options

    conda = v1_project(tmp_path)
    before = conda.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixmod.os, "replace", broken_replace)
    result = fixmod.run([str(tmp_path)], Options(), load_pins_text(tmp_path))
    assert conda.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["conda.yml", "ic.json", "lock.txt"]  # no temporary file left
    [plan] = result.plans
    assert not plan.written and any("No space left" in n.message for n in plan.notes)


def load_pins_text(tmp_path):
    (tmp_path / "lock.txt").write_text(LOCK)
    return load_pins(str(tmp_path / "lock.txt"))


def test_write_fixed_file_cleans_up_when_the_data_cannot_be_written(tmp_path, monkeypatch):
    from preflight import fix as fixmod

    target = tmp_path / "f.yml"
    target.write_text("old\n")
    monkeypatch.setattr(fixmod.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(fixmod.NotWritten, match="I/O error"):
        fixmod.write_fixed_file(str(target), b"old\n", b"new\n")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["f.yml"]


def test_only_the_files_asked_for_are_touched(tmp_path):
    (tmp_path / "a.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
    (tmp_path / "b.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
    assert fix(tmp_path, "a.yml").returncode == 0
    assert "numpy==1.26.4" in (tmp_path / "a.yml").read_text()
    assert (tmp_path / "b.yml").read_text().endswith("- numpy\n")


def test_never_writes_through_a_symlink_out_of_the_scanned_tree(tmp_path):
    outside = tmp_path / "outside"
    project = tmp_path / "project"
    outside.mkdir()
    project.mkdir()
    (outside / "env.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
    (project / "env.yml").symlink_to(outside / "env.yml")
    (tmp_path / "lock.txt").write_text(LOCK)
    proc = run_cli("fix", "project", "--pins", "lock.txt", cwd=tmp_path)
    assert proc.returncode == 1 and "outside the scanned folders" in proc.stdout
    assert (outside / "env.yml").read_text().endswith("- numpy\n")


def test_a_symlink_inside_the_tree_is_fixed_once_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "env.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
    (tmp_path / "link.yml").symlink_to(tmp_path / "real" / "env.yml")
    proc = fix(tmp_path, ".")
    assert proc.returncode == 0 and "Fixed 1 problem in 1 file" in proc.stdout
    assert (tmp_path / "link.yml").is_symlink()
    assert (tmp_path / "real" / "env.yml").read_text().endswith("- numpy==1.26.4\n")


def test_adds_a_pip_section_when_there_is_none(tmp_path):
    (tmp_path / "lock.txt").write_text("pip=23.3.1=pyhd8ed1ab_0\nazureml-inference-server-http=1.4.0=pypi_0\n")
    (tmp_path / "d.yml").write_text(dedent("""
        name: blue
        endpoint_name: ep
        code_configuration: {code: ., scoring_script: score.py}
        environment:
          image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
          conda_file: conda.yml
        """))
    (tmp_path / "conda.yml").write_text("dependencies:\n- python=3.11.9\n- scikit-learn=1.5.1\n")
    proc = run_cli("fix", ".", "--pins", "lock.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert (tmp_path / "conda.yml").read_text() == (
        "dependencies:\n- python=3.11.9\n- scikit-learn=1.5.1\n- pip=23.3.1\n- pip:\n    - "
        "azureml-inference-server-http==1.4.0\n")
    report, _ = scan_json("--select", "ENV", ".", cwd=tmp_path)
    assert report["findings"] == []


def test_without_a_lock_the_serving_package_is_added_unpinned(tmp_path):
    v1_project(tmp_path)
    proc = run_cli("fix", ".", cwd=tmp_path)
    assert proc.returncode == 0 and "--pins FILE" in proc.stdout
    text = (tmp_path / "conda.yml").read_text()
    assert text.endswith("    - azureml-defaults\n# trailing comment\n") and '"pandas>=2.0"' in text


def test_inline_json_environment_is_pinned_in_place(tmp_path):
    original = dedent("""
        {
            "entryScript": "score.py",
            "environment": {
                "python": {
                    "condaDependencies": {
                        "dependencies": [
                            "python=3.10.13",
                            "pip=23.3.1",
                            {"pip": ["numpy", "azureml-defaults==1.56.0"]}
                        ]
                    }
                }
            }
        }
        """)
    (tmp_path / "ic.json").write_text(original)
    assert fix(tmp_path, ".").returncode == 0
    assert (tmp_path / "ic.json").read_text() == original.replace('["numpy",', '["numpy==1.26.4",')


def test_aliases_are_left_alone(tmp_path):
    text = "dependencies:\n  - pip=23.3.1\n  - pip:\n      - &np numpy\n  - extra: [*np]\n"
    (tmp_path / "conda.yml").write_text(text)
    proc = fix(tmp_path, ".")
    assert proc.returncode == 1 and "alias" in proc.stdout
    assert (tmp_path / "conda.yml").read_text() == text


def test_inline_suppressions_and_selection_are_respected(tmp_path):
    text = ("dependencies:\n  - pip=23.3.1\n  - scipy\n  - pip:\n"
            "      - numpy  # preflight: ignore[ENV005]\n      - pandas\n")
    (tmp_path / "conda.yml").write_text(text)
    (tmp_path / "lock.txt").write_text(LOCK + "scipy==1.11.4\n")
    assert run_cli("fix", ".", "--pins", "lock.txt", "--ignore", "ENV004", cwd=tmp_path).returncode == 0
    assert (tmp_path / "conda.yml").read_text() == text.replace("- pandas", "- pandas==2.1.4")


def test_scan_fix_then_reports_what_is_left(tmp_path):
    v1_project(tmp_path)
    (tmp_path / "lock.txt").write_text(LOCK.replace("pandas==2.1.4\n", ""))
    report, proc = scan_json("--select", "ENV", "--fail-on", "warning", "--fix", "--pins", "lock.txt", ".",
                             cwd=tmp_path)
    assert [(f["rule"], f["data"]["package"]) for f in report["findings"]] == [("ENV005", "pandas")]
    assert "not fixed: pip package 'pandas'" in proc.stderr and proc.returncode == 1


def test_scan_diff_and_pins_without_fix(tmp_path):
    v1_project(tmp_path)
    (tmp_path / "lock.txt").write_text(LOCK)
    assert run_cli("scan", ".", "--pins", "lock.txt", cwd=tmp_path).returncode == 2
    before = (tmp_path / "conda.yml").read_bytes()
    proc = run_cli("scan", ".", "--diff", "--pins", "lock.txt", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout.startswith("--- a/conda.yml")
    assert (tmp_path / "conda.yml").read_bytes() == before


def test_demo_project_fix_round_trip(tmp_path):
    import shutil

    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    (tmp_path / "lock.txt").write_text(LOCK)
    proc = run_cli("fix", "demo", "--pins", "lock.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    report, _ = scan_json("--select", "ENV", "demo", cwd=tmp_path)
    assert report["findings"] == []
    assert json.loads((tmp_path / "demo" / "deploy" / "inferenceconfig.json").read_text())["condaFile"]


def test_fix_leaves_compatible_pins_alone_under_the_compatible_policy(tmp_path):
    conda = tmp_path / "conda.yml"
    text = "dependencies:\n  - numpy~=1.26.0\n  - pip:\n    - pandas~=2.1.0\n    - joblib>=1.0\n"
    conda.write_text(text)
    (tmp_path / ".preflight.toml").write_text('pinning = "compatible"\n')
    proc = fix(tmp_path, "--select", "ENV004,ENV005", ".")
    assert conda.read_text() == text.replace("joblib>=1.0", "joblib==1.3.2"), proc.stdout + proc.stderr
    proc = fix(tmp_path, "--select", "ENV004,ENV005", "--pinning", "exact", ".")
    assert "pandas==2.1.4" in conda.read_text() and "numpy=1.26.4" in conda.read_text()
