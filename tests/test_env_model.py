"""The environment model (preflight.conda): SPEC §5.2 and §5.5, row by row, and its edges."""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from preflight.conda import (AZUREML_DEFAULTS, V1_MINIMUM, V1_PROBES, PinPolicy, admits_below, build_environment,
                             conda_specifiers, marker_applies, parse_matchspec, parse_pip_line, v1_serving, v2_serving)

STRICT = PinPolicy(conda_minor=False)


# ----------------------------------------------------------------------------- SPEC §5.2, conda

@pytest.mark.parametrize("spec, pinned", [
    ("numpy", False),
    ("numpy=1.11", True),  # DESIGN's default policy: `name=X.Y` counts as pinned
    ("numpy=1.11.1", True),
    ("numpy==1.11", True),
    ("numpy>=1.11", False),
    ("numpy>=1.8,<2", False),
    ("numpy=1.11.1|1.11.3", False),
    ("numpy=1.11.1=py36_0", True),
    ("numpy 1.11.1 py36_0", True),
    ("conda-forge::numpy=1.11.1", True),
    ("conda-forge::numpy", False),
    ("numpy[version='>=1.2',build=py36_0]", False),  # judged by its version part: a range
    ("numpy[version='>=1.2']", False),
    ("numpy[version='1.11.1']", True),
    ("python=3.7.*", False),
    ("python>=3.10,<3.11", False),
    ("numpy=1", False),
    ("numpy==1.11.*", False),
    ("numpy=1.11=*", True),  # version 1.11 with any build: a minor pin
])
def test_conda_pinned_default_policy(spec, pinned):
    assert parse_matchspec(spec, "/dependencies/0").is_pinned() is pinned


@pytest.mark.parametrize("spec, pinned", [
    ("numpy=1.11", False),  # SPEC §5.2: fuzzy 1.11.* is a minor pin, not a pin
    ("numpy=1.11.1", True),
    ("numpy==1.11", True),
    ("numpy=1.11=*", False),
    ("numpy=1.11=py36_0", True),
    ("python=3.10", True),  # python stays exempt at minor
    ("python=3.10.*", False),
])
def test_conda_pinned_strict_policy(spec, pinned):
    assert parse_matchspec(spec, "").is_pinned(STRICT) is pinned


@pytest.mark.parametrize("spec, name, channel, version, build", [
    ("conda-forge::scikit-learn=1.2.2=py310h_0", "scikit-learn", "conda-forge", "1.2.2", "py310h_0"),
    ("numpy 1.11.1 py36_0", "numpy", None, "1.11.1", "py36_0"),
    ("numpy >=1.8,<2", "numpy", None, ">=1.8,<2", None),
    ("numpy[version='>=1.2',build=py36_0]", "numpy", None, ">=1.2", "py36_0"),
    ("Scikit_Learn==1.2", "scikit-learn", None, "==1.2", None),
    ("pip ", "pip", None, None, None),
    ("pkgs/main/linux-64::numpy=1.2.3", "numpy", "pkgs/main/linux-64", "1.2.3", None),
])
def test_matchspec_parts(spec, name, channel, version, build):
    p = parse_matchspec(spec, "")
    assert (p.name, p.channel, p.version, p.build) == (name, channel, version, build)


@pytest.mark.parametrize("version, contains, excludes", [
    ("1.11", ["1.11.0", "1.11.18"], ["1.12.0", "1.1"]),
    ("1.11.*", ["1.11.3"], ["1.12"]),
    ("==1.11", ["1.11", "1.11.0"], ["1.11.1"]),
    (">=1.8,<2", ["1.9"], ["2.0", "1.7"]),
])
def test_conda_version_translates_to_pep440(version, contains, excludes):
    [spec] = conda_specifiers(version)
    assert all(spec.contains(v) for v in contains) and not any(spec.contains(v) for v in excludes)


def test_conda_alternatives_are_kept_apart():
    specs = conda_specifiers("1.11.1|1.11.3")
    assert len(specs) == 2 and any(s.contains("1.11.3") for s in specs) and not any(s.contains("1.11.2") for s in specs)


# ----------------------------------------------------------------------------- SPEC §5.2, pip

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("line, kind, pinned", [
    ("pkg==1.2.3", "requirement", True),
    ("pkg===1.2.3", "requirement", True),
    ("pkg @ https://example.org/pkg-1.2.3-py3-none-any.whl", "requirement", True),
    (f"pkg @ git+https://github.com/o/pkg@{SHA}", "requirement", True),
    ("pkg @ git+https://github.com/o/pkg@main", "requirement", False),
    ("pkg==1.*", "requirement", False),
    ("pkg~=1.2", "requirement", False),
    ("pkg>=1.2", "requirement", False),
    ("pkg<2", "requirement", False),
    ("pkg!=1.0", "requirement", False),
    ("pkg", "requirement", False),
    ("pkg=={{latest-pypi-version}}", "requirement", True),  # templated: left alone
    ("-r file.txt", "option", True),
    ("-c constraints.txt", "option", True),
    ("--index-url https://pypi.example/simple", "option", True),
    ("--extra-index-url https://pypi.example/simple", "option", True),
    ("--find-links https://example.org/wheels", "option", True),
    ("./local.whl", "reference", True),
    ("git+https://github.com/o/pkg", "reference", False),
    (f"git+https://github.com/o/pkg@{SHA}#egg=pkg", "reference", True),
])
def test_pip_lines(line, kind, pinned):
    req = parse_pip_line(line, "/dependencies/1/pip/0")
    assert req.kind == kind and req.pinned is pinned


@pytest.mark.parametrize("line, option, value", [
    ("-r requirements.txt", "--requirement", "requirements.txt"),
    ("-rrequirements.txt", "--requirement", "requirements.txt"),
    ("--requirement=req.txt", "--requirement", "req.txt"),
    ("-i https://x/simple", "--index-url", "https://x/simple"),
    ("--extra-index-url https://x/simple", "--extra-index-url", "https://x/simple"),
    ("-r https://h/r.txt [--no-deps]", "--requirement", "https://h/r.txt"),
    ("--trusted-host pkgs.example.com", "--trusted-host", "pkgs.example.com"),
])
def test_pip_options_are_kept_apart(line, option, value):
    req = parse_pip_line(line, "")
    assert (req.kind, req.option, req.value) == ("option", option, value)


def test_editable_vcs_is_a_reference_with_its_egg_name():
    req = parse_pip_line("-e git+https://github.com/o/p@main#egg=My_Pkg", "")
    assert req.kind == "reference" and req.name == "my-pkg" and not req.pinned


def test_direct_artifact_urls_give_name_and_version():
    wheel = parse_pip_line("https://download.pytorch.org/whl/cpu/torch-1.1.0-cp36-cp36m-linux_x86_64.whl", "")
    sdist = parse_pip_line("https://aka.ms/x/en_core_web_sm-3.7.1.tar.gz", "")
    assert (wheel.name, wheel.version) == ("torch", Version("1.1.0"))
    assert (sdist.name, sdist.version) == ("en-core-web-sm", Version("3.7.1"))


def test_hashes_after_a_requirement_are_options_not_garbage():
    req = parse_pip_line("numpy==1.26.4 --hash=sha256:abc", "")
    assert req.kind == "requirement" and req.name == "numpy" and req.pinned


# ----------------------------------------------------------------------------- SPEC §5.5

@pytest.mark.parametrize("line, kind, pinned, admits_old", [
    ("azureml-defaults", "requirement", False, None),  # empty spec: pip installs the latest
    ("azureml-defaults>=1.0.45", "requirement", False, False),
    ("azureml-defaults==1.0.45", "requirement", True, False),
    ("azureml-defaults===1.0.45", "requirement", True, False),
    ("azureml_defaults==1.0.83.1", "requirement", True, False),
    ("AzureML.Defaults~=1.61.0", "requirement", False, False),
    ("azureml-defaults~=1.0", "requirement", False, True),
    ("azureml-defaults~=1.0.0", "requirement", False, True),
    ("azureml-defaults==1.*", "requirement", False, True),
    ("azureml-defaults<2", "requirement", False, True),
    ("azureml-defaults!=1.0.45", "requirement", False, True),
    ("azureml-defaults>1.0", "requirement", False, True),
    ("azureml-defaults==1.0.43", "requirement", True, True),
    ("azureml-defaults[async]>=1.0.45", "requirement", False, False),
    ("azureml-defaults>=1.0.45; python_version<'3.8'", "requirement", False, False),
    ("AzureML_Defaults==1.0.6", "requirement", True, True),
])
def test_spec_5_5_azureml_defaults_rows(line, kind, pinned, admits_old):
    req = parse_pip_line(line, "")
    assert req.kind == kind and req.name == AZUREML_DEFAULTS and req.pinned is pinned
    if admits_old is None:
        assert not req.specifier
    else:
        assert (admits_below(req.specifier, V1_MINIMUM, V1_PROBES) is not None) is admits_old


@pytest.mark.parametrize("filename, old", [
    ("azureml_defaults-1.0.43-py3-none-any.whl", True),
    ("azureml_defaults-1.56.0-py3-none-any.whl", False),
])
def test_spec_5_5_url_reference_version_comes_from_the_wheel_name(filename, old):
    req = parse_pip_line(f"azureml-defaults @ https://example.org/{filename}", "")
    assert req.url and req.pinned and (req.version < V1_MINIMUM) is old


@pytest.mark.parametrize("line, kind", [
    ("-r requirements.txt", "option"),
    ("--extra-index-url https://example.org/simple", "option"),
    ("git+https://github.com/o/p", "reference"),
    ("./dist/x.whl", "reference"),
    ("numpy=1.23.5", "reference"),
])
def test_spec_5_5_non_requirements(line, kind):
    req = parse_pip_line(line, "")
    assert req.kind == kind and req.name in (None, "x")


def test_conda_style_spec_under_pip_is_unparsable_but_paths_are_not():
    assert parse_pip_line("numpy=1.23.5", "").unparsable
    assert not parse_pip_line("./dist/x.whl", "").unparsable
    assert not parse_pip_line("git+https://github.com/o/p", "").unparsable


def test_admitted_version_is_the_highest_real_release_below_the_minimum():
    req = parse_pip_line("azureml-defaults<1.0.45", "")
    assert admits_below(req.specifier, V1_MINIMUM, V1_PROBES) == Version("1.0.44.9999")
    req = parse_pip_line("azureml-defaults<=1.0.43", "")
    assert admits_below(req.specifier, V1_MINIMUM, V1_PROBES) == Version("1.0.43")


@pytest.mark.parametrize("marker, python, expected", [
    ("python_version < '3.8'", "3.10", False),
    ("python_version < '3.8'", "3.7", True),
    ("python_full_version >= '3.10.2'", "3.10.13", True),
    ("python_full_version >= '3.10.2'", "3.10", None),  # patch unknown
    ("sys_platform == 'win32'", "3.10", None),  # not knowable from the file
    ("python_version < '3.8'", None, None),
])
def test_markers_are_evaluated_against_the_conda_python_only(marker, python, expected):
    assert marker_applies(marker, Version(python) if python else None) is expected


# ----------------------------------------------------------------------------- the environment

def env_of(data, directory=None):
    return build_environment(data, "", directory)


def test_structure_pointers_and_bad_items():
    env = env_of({"name": "e", "channels": ["conda-forge", 3], "dependencies": [
        "python=3.10.13", 3.8, None, ["x"], {"conda": ["y"]}, "pip",
        {"pip": ["numpy==1.26.4", 7, "-r req.txt"]}, {"pip": "oops"}]})
    assert [p.name for p in env.conda] == ["python", "pip"]
    assert env.channels == ["conda-forge"]
    assert [r.pointer for r in env.pip] == ["/dependencies/6/pip/0", "/dependencies/6/pip/2"]
    assert [b[0] for b in env.bad_items] == ["/dependencies/1", "/dependencies/2", "/dependencies/3",
                                             "/dependencies/4", "/dependencies/6/pip/1", "/dependencies/7/pip"]
    assert env.pip_pointers == ["/dependencies/6/pip", "/dependencies/7/pip"]


def test_inline_base_pointer():
    env = build_environment({"dependencies": [{"pip": ["numpy"]}]}, "/environment/python/condaDependencies")
    assert env.pip[0].pointer == "/environment/python/condaDependencies/dependencies/0/pip/0"


def test_requirement_files_are_followed_relative_to_the_conda_file(tmp_path):
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("# base\nazureml-defaults==1.56.0\n-r more.txt\n")
    (tmp_path / "reqs" / "more.txt").write_text("requests>=2 \\\n  # continued\npandas==2.1.4\n-r base.txt\n")
    (tmp_path / "pins.txt").write_text("requests==2.31.0\n")
    env = env_of({"dependencies": [{"pip": ["-r reqs/base.txt", "-c pins.txt", "-r missing.txt",
                                             "-r https://example.org/r.txt"]}]}, str(tmp_path))
    names = [(r.name, r.where) for r in env.requirements]
    assert ("azureml-defaults", "base.txt line 2") in names and ("pandas", "more.txt line 3") in names
    assert all(r.pointer == "/dependencies/0/pip/0" for r in env.requirements)
    statuses = {(i.target, i.status) for i in env.includes}
    assert {("reqs/base.txt", "read"), ("more.txt", "read"), ("base.txt", "cycle"), ("pins.txt", "read"),
            ("missing.txt", "missing"), ("https://example.org/r.txt", "remote")} <= statuses
    assert env.constrained_exactly("requests") and not env.constrained_exactly("pandas")
    assert v1_serving(env).state == "ok"


def test_python_version_of_the_environment():
    assert env_of({"dependencies": ["python=3.10.13"]}).python_version() == Version("3.10.13")
    assert env_of({"dependencies": ["python=3.7.*"]}).python_version() == Version("3.7")
    assert env_of({"dependencies": ["python>=3.8"]}).python_version() is None


@pytest.mark.parametrize("pip, state", [
    ([], "missing"),
    (["azureml-inference-server-http"], "ok"),
    (["azureml-defaults"], "unpinned-defaults"),
    (["azureml-defaults>=1.34"], "ok"),
    (["azureml-defaults==1.33.0"], "old-defaults"),
    (["azureml-defaults~=1.0"], "old-defaults"),
    (["azureml-defaults==1.56.0"], "ok"),
    (["-r https://example.org/r.txt"], "unknown"),
])
def test_v2_serving_verdicts(pip, state):
    assert v2_serving(env_of({"dependencies": ["pip=23.3.1", {"pip": pip}]})).state == state


def test_v1_serving_verdicts():
    assert v1_serving(env_of({"dependencies": [{"pip": ["numpy"]}]})).state == "missing"
    assert v1_serving(env_of({"dependencies": ["azureml-defaults=1.56.0"]})).state == "conda-side"
    marker = "azureml-defaults==1.56.0; python_version < '3.8'"
    assert v1_serving(env_of({"dependencies": ["python=3.10.13", {"pip": [marker]}]})).state == "missing"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "channels", "dependencies", "x"]), json_values, max_size=4),
       st.lists(json_values | st.text(max_size=30), max_size=6))
def test_any_shape_builds_without_raising(top, deps):
    build_environment(top, "", os.getcwd())
    # a well-formed entry among the odd ones is still read
    env = build_environment({"dependencies": deps + ["zlib-sentinel=1.2.13", {"pip": deps}]}, "", None)
    assert env.conda_package("zlib-sentinel") is not None
    states = {"ok", "missing", "conda-side", "unknown", "old-defaults", "unpinned-defaults"}
    assert v1_serving(env).state in states and v2_serving(env).state in states
    assert env.python_version() is None or isinstance(env.python_version(), Version)


def test_requirement_files_outside_the_repository_are_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("leaked-package==1.0\n")
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / ".git").mkdir()
    (tmp_path / "proj" / "base.txt").write_text("numpy==1.26.4\n")
    os.symlink("/proc/self/environ", tmp_path / "proj" / "sub" / "env.txt")
    os.symlink(secret, tmp_path / "proj" / "sub" / "link.txt")
    env = build_environment({"dependencies": [{"pip": [f"-r {secret}", "-r ~/reqs.txt", "-r env.txt", "-r link.txt",
                                                       "-r ../../secret.txt", "-c ../../secret.txt",
                                                       "-r ../base.txt"]}]}, "", str(tmp_path / "proj" / "sub"))
    outside = "outside the repository"
    assert [(i.target, i.status) for i in env.includes] == [
        (str(secret), outside), ("~/reqs.txt", outside), ("env.txt", outside), ("link.txt", outside),
        ("../../secret.txt", outside), ("../../secret.txt", outside), ("../base.txt", "read")]
    assert [r.name for r in env.requirements] == ["numpy"]  # only through the path that stays inside
    assert not env.constraints


def test_without_a_repository_the_scanned_folder_confines(tmp_path):
    (tmp_path / "secret.txt").write_text("leaked-package==1.0\n")
    (tmp_path / "proj").mkdir()
    env = build_environment({"dependencies": [{"pip": ["-r ../secret.txt"]}]}, "", str(tmp_path / "proj"))
    assert [(i.target, i.status) for i in env.includes] == [("../secret.txt", "outside the repository")]


@pytest.mark.parametrize("path, text, kind", [
    ("azureml_environment.json", '{"name": "e", "python": {"userManagedDependencies": false, '
                                 '"condaDependencies": {"dependencies": ["python=3.10"]}}}', "environment-v1"),
    ("env.yml", "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: e\n"
                "image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest\n", "environment-v2"),
    ("env.yml", "name: e\nimage: mcr.microsoft.com/azureml/base:latest\nconda_file: conda.yml\n", "environment-v2"),
    ("run.yml", "script: train.py\nenvironment:\n  python:\n    condaDependenciesFile: conda.yml\n", None),
])
def test_environment_files_are_classified(path, text, kind):
    from preflight.documents import load_document

    doc = load_document(path, text.encode())
    assert (str(doc.kind) if doc else None) == kind


def test_a_repeated_pip_line_is_read_alike_but_keeps_its_own_place():
    """Environments repeat lines: each reading of a line has the same requirement, and its own
    pointer, source and line."""
    first = parse_pip_line("pandas[excel]>=2.0 ; python_version >= '3.9'", "/dependencies/2/pip/0", "a.yml", 7)
    again = parse_pip_line("pandas[excel]>=2.0 ; python_version >= '3.9'", "/dependencies/3/pip/1", "b.yml", 9)
    assert (first.name, str(first.specifier), first.marker, first.extras) == \
        (again.name, str(again.specifier), again.marker, again.extras) == \
        ("pandas", ">=2.0", 'python_version >= "3.9"', frozenset({"excel"}))
    assert (first.pointer, first.source, first.line) == ("/dependencies/2/pip/0", "a.yml", 7)
    assert (again.pointer, again.source, again.line) == ("/dependencies/3/pip/1", "b.yml", 9)
