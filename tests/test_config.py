"""Configuration: the nearest file per scanned file, every key, validation through JSON Schema."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import run_cli, scan_json
from preflight import config as config_module
from preflight.config import Config, ConfigError, Configs, Glob, load_config, rule_filter

UNPINNED = ("name: e\ndependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n"
            "      - numpy==1.26.4\n      - requests>=2\n")


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rules_by_path(report):
    return sorted((f["path"], f["rule"]) for f in report["findings"])


# ------------------------------------------------------------------------- nearest config


def test_nearest_config_applies_per_file(tmp_path):
    write(tmp_path, "a/env.yml", UNPINNED)
    write(tmp_path, "b/env.yml", UNPINNED)
    write(tmp_path, "b/.preflight.toml", 'ignore = ["ENV005"]\n')
    report, proc = scan_json("a", "b", cwd=tmp_path)
    assert rules_by_path(report) == [("a/env.yml", "ENV005")]
    # The order of the paths does not matter: each file follows its own configuration.
    report, _ = scan_json("b", "a", cwd=tmp_path)
    assert rules_by_path(report) == [("a/env.yml", "ENV005")]


def test_nearer_config_replaces_the_outer_one(tmp_path):
    write(tmp_path, ".preflight.toml", 'ignore = ["ENV005"]\n')
    write(tmp_path, "outer.yml", UNPINNED)
    write(tmp_path, "inner/env.yml", UNPINNED)
    write(tmp_path, "inner/.preflight.toml", 'select = ["ENV"]\n')  # no ignore here: no inheritance
    report, _ = scan_json(".", cwd=tmp_path)
    assert rules_by_path(report) == [("inner/env.yml", "ENV005")]


def test_pyproject_tool_section_and_precedence(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n\n[tool.preflight]\nignore = ["ENV005"]\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 0
    # .preflight.toml wins over pyproject.toml in the same folder.
    write(tmp_path, ".preflight.toml", 'select = ["ENV"]\nfail-on = "warning"\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 1


def test_pyproject_without_a_tool_section_is_passed_over(tmp_path):
    write(tmp_path, ".preflight.toml", 'ignore = ["ENV005"]\n')
    write(tmp_path, "pkg/pyproject.toml", '[project]\nname = "pkg"\n')
    write(tmp_path, "pkg/env.yml", UNPINNED)
    assert run_cli("scan", "pkg", cwd=tmp_path).returncode == 0


def test_explicit_config_file_applies_everywhere(tmp_path):
    write(tmp_path, "a/env.yml", UNPINNED)
    write(tmp_path, "a/.preflight.toml", 'select = ["ENV"]\nfail-on = "warning"\n')
    write(tmp_path, "ci.toml", 'ignore = ["ENV005"]\nfail-on = "warning"\n')
    assert run_cli("scan", "a", cwd=tmp_path).returncode == 1
    assert run_cli("scan", "a", "--config", "ci.toml", cwd=tmp_path).returncode == 0


def test_configuration_is_resolved_once_per_folder(tmp_path, monkeypatch):
    write(tmp_path, ".preflight.toml", 'ignore = ["ENV004"]\n')
    for i in range(5):
        write(tmp_path, f"deep/er/f{i}.yml", "x")
    loads = []
    real = config_module.load_config
    monkeypatch.setattr(config_module, "load_config", lambda p: loads.append(p) or real(p))
    lookups = []
    real_lookup = config_module._config_in
    monkeypatch.setattr(config_module, "_config_in", lambda d: lookups.append(d) or real_lookup(d))
    configs = Configs()
    found = {configs.for_file(str(tmp_path / f"deep/er/f{i}.yml")).path for i in range(5)}
    found.add(configs.for_file(str(tmp_path / "deep/other.yml")).path)
    assert found == {str(tmp_path / ".preflight.toml")}
    assert loads == [str(tmp_path / ".preflight.toml")]
    assert sorted(lookups) == sorted({str(tmp_path / "deep/er"), str(tmp_path / "deep"), str(tmp_path)})


# ---------------------------------------------------------------------------- each key


def test_select_extend_select_and_cli_override(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", 'select = ["KV"]\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 0
    write(tmp_path, ".preflight.toml", 'select = ["KV"]\nextend-select = ["ENV005"]\n')
    assert run_cli("scan", ".", "--fail-on", "warning", cwd=tmp_path).returncode == 1
    # --select on the command line replaces the configuration's selection.
    write(tmp_path, ".preflight.toml", 'select = ["KV"]\n')
    assert run_cli("scan", ".", "--select", "ENV", "--fail-on", "warning", cwd=tmp_path).returncode == 1


def test_per_file_ignores_with_globs(tmp_path):
    write(tmp_path, "legacy/old/env.yml", UNPINNED)
    write(tmp_path, "envs/env.yml", UNPINNED)
    write(tmp_path, "envs/dev.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", '[per-file-ignores]\n"legacy/**" = ["ENV"]\n"dev.yml" = ["ENV005"]\n')
    report, _ = scan_json(".", cwd=tmp_path)
    assert rules_by_path(report) == [("envs/env.yml", "ENV005")]


def test_severity_override_changes_the_report_and_the_exit_code(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", 'fail-on = "error"\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 0
    write(tmp_path, ".preflight.toml", 'fail-on = "error"\n[severity]\nENV005 = "error"\n')
    report, proc = scan_json(".", cwd=tmp_path)
    assert proc.returncode == 1 and report["findings"][0]["severity"] == "error"
    # The most specific entry wins.
    write(tmp_path, ".preflight.toml", '[severity]\nENV = "error"\nENV005 = "info"\n')
    report, proc = scan_json(".", cwd=tmp_path)
    assert report["findings"][0]["severity"] == "info" and proc.returncode == 0


def test_exclude_applies_to_walked_and_named_files(tmp_path):
    write(tmp_path, "generated/env.yml", UNPINNED)
    write(tmp_path, "src/env.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", 'exclude = ["generated/"]\n')
    report, _ = scan_json(".", cwd=tmp_path)
    assert rules_by_path(report) == [("src/env.yml", "ENV005")]
    # pre-commit names files one by one: the configuration's exclude still holds.
    report, proc = scan_json("generated/env.yml", cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0


def test_fail_on_from_config_and_cli_wins(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", 'fail-on = "never"\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 0
    assert run_cli("scan", ".", "--fail-on", "warning", cwd=tmp_path).returncode == 1


def test_pin_exempt_reaches_the_rules(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", '[pin-exempt]\npip = ["requests"]\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 0


def test_load_and_environment_tables_match_by_glob(tmp_path):
    path = write(tmp_path, ".preflight.toml", """
[[load]]
path = "deploy/aks-*.yml"
rps = 20
latency-ms = 150
spike-pct = 30

[[environment]]
path = "envs/score*.yml"
purpose = "v1-scoring"
""")
    config = load_config(str(path))
    [load] = config.matching("load", str(tmp_path / "deploy/aks-prod.yml"))
    assert (load["rps"], load["latency-ms"], load["spike-pct"]) == (20, 150, 30)
    assert config.matching("load", str(tmp_path / "deploy/aci.yml")) == []
    assert config.matching("environment", str(tmp_path / "envs/score-v1.yml"))[0]["purpose"] == "v1-scoring"
    assert config.matching("environment", str(tmp_path / "other/score-v1.yml")) == []


# -------------------------------------------------------------------------- validation


@pytest.mark.parametrize("toml, expected", [
    ('ignroe = ["ENV005"]\n', "unknown key 'ignroe'"),
    ('select = "ENV005"\n', "'select' must be an array, not string"),
    ('fail-on = "sometimes"\n', "'fail-on' must be one of error, warning, info, never"),
    ('max-file-size = "big"\n', "'max-file-size' must be an integer"),
    ('ignore = ["ENV 005"]\n', "'ignore[0]'"),
    ('[severity]\nENV005 = "fatal"\n', "'severity.ENV005' must be one of error, warning, info"),
    ('[per-file-ignores]\n"a/*" = "ENV005"\n', "'per-file-ignores.\"a/*\"' must be an array"),
    ('[pin-exempt]\nnpm = ["x"]\n', "unknown key 'pin-exempt.npm'"),
    ('[[load]]\npath = "x.yml"\nrps = 10\n', "'load[0]' is missing 'latency-ms'"),
    ('[[load]]\npath = "x.yml"\nrps = 10\nlatency-ms = 100\nburst = 1\n', "unknown key 'load[0].burst'"),
    ('[[environment]]\npath = "e.yml"\npurpose = "v3"\n', "'environment[0].purpose' must be one of v1-scoring"),
    ('[[environment]]\npath = "e.yml"\n', "'environment[0]' is missing 'purpose'"),
    ('exclude = ["[z-a]"]\n', "invalid glob '[z-a]'"),
    ('pinning = "loose"\n', "'pinning' must be one of exact, compatible"),
    ('select = [\n', "invalid TOML"),
])
def test_invalid_configuration_exits_2_naming_the_key(tmp_path, toml, expected):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, ".preflight.toml", toml)
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert expected in proc.stderr and ".preflight.toml" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_pyproject_errors_name_the_tool_table(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, "pyproject.toml", '[tool.preflight]\nselect = ["ENV"]\nfail_on = "error"\n')
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown key 'tool.preflight.fail_on'" in proc.stderr


def test_invalid_nested_config_found_during_the_scan_exits_2(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, "sub/env.yml", UNPINNED)
    write(tmp_path, "sub/.preflight.toml", "colour = true\n")
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "sub/.preflight.toml" in proc.stderr and "'colour'" in proc.stderr
    assert "Traceback" not in proc.stderr


DEEP_ARRAY = "exclude = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLE = "[severity." + ".".join(["a"] * 3000) + "]\nx = 'error'\n"  # dotted keys: no bracket nests


@pytest.mark.parametrize("name, toml, expected", [
    (".preflight.toml", DEEP_ARRAY, "invalid TOML: arrays or inline tables nested too deep"),
    (".preflight.toml", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "nested too deep"),
    (".preflight.toml", DEEP_TABLE, "the configuration has tables or arrays nested more than 32 levels deep"),
    ("pyproject.toml", "[tool.preflight]\n" + DEEP_TABLE.replace("[severity.", "[tool.preflight.severity."),
     "tool.preflight has tables or arrays nested more than 32 levels deep"),
])
def test_deeply_nested_configuration_is_a_one_line_error(tmp_path, name, toml, expected):
    """It was an internal RecursionError, found or named with --config."""
    write(tmp_path, "env.yml", UNPINNED)
    write(tmp_path, "cfg/" + name, toml)
    for args, where in ((["scan", "."], None), (["scan", "--config", f"cfg/{name}", "env.yml"], f"cfg/{name}")):
        if where is None:
            write(tmp_path, name, toml)
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == ""
        [message] = proc.stderr.splitlines()
        assert message.startswith(f"preflight: error: {where or tmp_path / name}: ") and expected in message
        (tmp_path / name).unlink(missing_ok=True)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_config_that_is_a_fifo_or_a_device_is_refused_not_read(tmp_path, special):
    """`--config` named a FIFO (the run hung, waiting for a writer) or `/dev/zero` (read
    without end); a FIFO where a configuration is looked for is passed over."""
    import os

    write(tmp_path, "env.yml", UNPINNED)
    if special == "fifo":
        os.mkfifo(tmp_path / "fifo.toml")
        special = "fifo.toml"
        os.mkfifo(tmp_path / ".preflight.toml")
        proc = run_cli("scan", "--format", "json", "--fail-on", "warning", ".", cwd=tmp_path, timeout=60)
        assert proc.returncode == 1 and json.loads(proc.stdout)["summary"]["files"] == 1, proc.stderr
    proc = run_cli("scan", "--config", special, "env.yml", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"preflight: error: {special}: cannot read: not a regular file\n"


def test_missing_explicit_config_exits_2(tmp_path):
    proc = run_cli("scan", ".", "--config", "nope.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.toml" in proc.stderr


def test_schema_is_a_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(config_module.SCHEMA)
    json.dumps(config_module.SCHEMA)  # plain data, publishable as is


def test_jsonschema_is_imported_only_when_a_configuration_is_found(tmp_path):
    write(tmp_path, "clean/env.yml", "name: e\ndependencies:\n  - python=3.10.12\n")
    write(tmp_path, "configured/env.yml", "name: e\ndependencies:\n  - python=3.10.12\n")
    write(tmp_path, "configured/.preflight.toml", 'ignore = ["ENV004"]\n')
    probe = ("import sys; from preflight.cli import main; code = main(['scan', '--quiet', sys.argv[1]]); "
             "print('jsonschema' in sys.modules, code)")
    without = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "clean")], capture_output=True,
                             text=True, cwd=tmp_path)
    with_config = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "configured")], capture_output=True,
                                 text=True, cwd=tmp_path)
    assert without.stdout.split()[-2:] == ["False", "0"], without.stderr
    assert with_config.stdout.split()[-2:] == ["True", "0"], with_config.stderr


# ------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize("pattern, path, expected", [
    ("generated", "a/generated/x.json", True),
    ("generated/", "generated/x.json", True),
    ("*.test.json", "deep/in/a.test.json", True),
    ("infra/*.json", "infra/a.json", True),
    ("infra/*.json", "infra/nested/a.json", False),
    ("infra/*.json", "other/infra/a.json", False),
    ("infra/**/*.json", "infra/nested/deeper/a.json", True),
    ("**/score*.py", "a/b/score_v2.py", True),
    ("./envs", "envs/dev.yml", True),
    ("env?.yml", "env1.yml", True),
    ("env[!0-9].yml", "env1.yml", False),
    ("infra/*.json", "../infra/a.json", False),
])
def test_glob(pattern, path, expected):
    assert Glob(pattern).matches(path) is expected


def test_more_specific_selector_wins_and_ties_go_to_ignore():
    assert rule_filter({"KV001"}, {"KV"})("KV001") is True
    assert rule_filter({"KV001"}, {"KV"})("KV002") is False
    assert rule_filter({"KV"}, {"KV"})("KV001") is False
    assert rule_filter(None, {"ENV"})("ENV005") is False and rule_filter(None, {"ENV"})("KV001") is True
    config = Config("/p/.preflight.toml", {"select": ["ENV"], "ignore": ["ENV00"], "extend-select": ["ENV005"]})
    enabled = rule_filter(None, set(), config, "/p/env.yml")
    assert [enabled(r) for r in ("ENV001", "ENV005", "ENV010", "KV001")] == [False, True, True, False]


def test_config_errors_are_config_errors(tmp_path):
    path = write(tmp_path, ".preflight.toml", "select = 3\n")
    with pytest.raises(ConfigError, match="'select' must be an array, not integer"):
        load_config(str(path))


def test_folder_lookups_are_bounded_and_each_configuration_stays_one_object(tmp_path, monkeypatch):
    """Configs remembers a bounded number of folders; a folder looked up again after being
    dropped gets the same Config object (filters and the result cache key on it)."""
    (tmp_path / ".preflight.toml").write_text('ignore = ["ENV005"]\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".preflight.toml").write_text('ignore = ["ENV004"]\n')
    folders = [tmp_path / f"f{i}" for i in range(6)] + [tmp_path / "sub" / f"g{i}" for i in range(6)]
    for folder in folders:
        folder.mkdir()
    monkeypatch.setattr(config_module, "_FOLDERS_KEPT", 2)
    configs = Configs()
    first = [configs.for_file(str(f / "conda.yml")) for f in folders]
    again = [configs.for_file(str(f / "conda.yml")) for f in folders]
    assert len(configs._by_parent) <= 2 and len(configs._by_dir) <= 4
    assert all(a is b for a, b in zip(first, again))
    assert {c.path for c in first[:6]} == {str(tmp_path / ".preflight.toml")}
    assert {c.path for c in first[6:]} == {str(tmp_path / "sub" / ".preflight.toml")}


def test_folders_without_a_configuration_share_one_default_object(tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "_FOLDERS_KEPT", 1)
    configs = Configs()
    found = {id(configs.for_file(str(tmp_path / f"f{i}" / "x.yml"))) for i in range(5)}
    assert len(found) == 1 and configs.for_file(str(tmp_path / "x.yml")).path is None


def test_by_default_only_errors_fail_and_fail_on_in_the_configuration_restores_warnings(tmp_path):
    write(tmp_path, "env.yml", UNPINNED)
    proc = run_cli("scan", "--format", "json", ".", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["summary"]["warnings"] >= 1  # reported, not failing
    write(tmp_path, ".preflight.toml", 'fail-on = "warning"\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 1
    assert run_cli("scan", ".", "--fail-on", "error", cwd=tmp_path).returncode == 0  # the command line wins
