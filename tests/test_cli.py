"""The CLI end to end, through a real subprocess, as users and CI call it."""
import json

from conftest import REPO, run_cli, scan_json

UNPINNED = ("name: e\ndependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n"
            "      - numpy==1.26.4\n      - requests>=2\n")


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("preflight ")


def test_rules_lists_pf001_and_env005():
    proc = run_cli("rules")
    assert proc.returncode == 0
    ids = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "PF001" in ids and "ENV005" in ids


def test_rule_shows_docs_and_unknown_rule_exits_2():
    proc = run_cli("rule", "env005")
    assert proc.returncode == 0
    for heading in ("What it does", "Why it matters", "Example", "How to fix"):
        assert heading in proc.stdout
    assert run_cli("rule", "NOPE999").returncode == 2


def test_unknown_flag_exits_2():
    proc = run_cli("scan", "--no-such-flag")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_clean_folder_exits_0(tmp_path):
    (tmp_path / "env.yml").write_text("name: e\ndependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n"
                                      "      - numpy==1.26.4\n")
    proc = run_cli("scan", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    assert "No findings in 1 file" in proc.stdout


def test_json_report_for_unpinned_pip_package(tmp_path):
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "conda.yml").write_text(UNPINNED)
    report, proc = scan_json("envs/conda.yml", cwd=tmp_path)
    assert proc.returncode == 0  # a warning is reported; by default only errors fail the run
    [finding] = report["findings"]
    assert finding["rule"] == "ENV005" and finding["name"] == "pip-package-unpinned"
    assert finding["severity"] == "warning"
    assert finding["path"] == "envs/conda.yml"  # exactly as given: relative stays relative
    assert (finding["line"], finding["column"]) == (7, 9)
    assert "requests" in finding["message"]
    assert finding["pointer"] == "/dependencies/2/pip/1"
    assert report["summary"]["files"] == 1 and report["summary"]["findings"] == 1
    assert report["version"]


def test_text_report_format(tmp_path):
    (tmp_path / "conda.yml").write_text(UNPINNED)
    proc = run_cli("scan", "conda.yml", cwd=tmp_path)
    assert proc.stdout.splitlines()[0].startswith("conda.yml:7:9: ENV005 ")
    assert "\033[" not in proc.stdout  # no colour when not a TTY
    assert proc.stdout.rstrip().splitlines()[-1].startswith("Found 1 finding")


def test_fail_on_controls_the_exit_code(tmp_path):
    (tmp_path / "conda.yml").write_text(UNPINNED)
    assert run_cli("scan", str(tmp_path), "--fail-on", "error").returncode == 0
    assert run_cli("scan", str(tmp_path), "--fail-on", "warning").returncode == 1
    assert run_cli("scan", str(tmp_path), "--fail-on", "never").returncode == 0


def test_select_and_ignore(tmp_path):
    (tmp_path / "conda.yml").write_text(UNPINNED)
    strict = ("--fail-on", "warning")
    assert run_cli("scan", str(tmp_path), "--ignore", "ENV005", *strict).returncode == 0
    assert run_cli("scan", str(tmp_path), "--select", "ENV", *strict).returncode == 1
    assert run_cli("scan", str(tmp_path), "--select", "KV", *strict).returncode == 0


def test_output_file(tmp_path):
    (tmp_path / "conda.yml").write_text(UNPINNED)
    out = tmp_path / "report.json"
    proc = run_cli("scan", str(tmp_path), "--format", "json", "--output", str(out))
    assert proc.stdout == "" and json.loads(out.read_text())["summary"]["findings"] == 1


def test_malformed_file_is_pf001_and_the_scan_goes_on(tmp_path):
    (tmp_path / "a-broken.json").write_text(
        '{\n  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",\n'
        '  "resources": [\n    {"type": "x" "name": "y"}\n  ]\n}\n')
    (tmp_path / "b-conda.yml").write_text(UNPINNED)
    report, proc = scan_json(str(tmp_path))
    rules = [(f["rule"], f["path"].rsplit("/", 1)[-1], f["line"]) for f in report["findings"]]
    assert ("PF001", "a-broken.json", 4) in rules
    assert ("ENV005", "b-conda.yml", 7) in rules
    assert proc.returncode == 1


def test_config_file_ignore_and_unknown_key(tmp_path):
    (tmp_path / "conda.yml").write_text(UNPINNED)
    (tmp_path / ".preflight.toml").write_text('ignore = ["ENV005"]\n')
    assert run_cli("scan", ".", cwd=tmp_path).returncode == 0
    (tmp_path / ".preflight.toml").write_text('ignroe = ["ENV005"]\n')
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "ignroe" in proc.stderr


def test_demo_fixture_has_findings_and_exits_1():
    proc = run_cli("scan", "fixtures/demo", cwd=REPO)
    assert proc.returncode == 1
    assert "ENV005" in proc.stdout and "Traceback" not in proc.stderr


def test_python_dash_m_and_console_script_agree(tmp_path):
    import shutil
    import subprocess
    exe = shutil.which("preflight")
    if exe is None:
        import pytest
        pytest.skip("console script not on PATH")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert out.stdout == run_cli("--version").stdout


def _findings_by_path(report):
    found: dict[str, list[str]] = {}
    for f in report["findings"]:
        found.setdefault(f["path"], []).append(f["rule"])
    return found


def test_a_file_reached_by_several_paths_is_checked_once(tmp_path):
    """Named twice, `./x` and `x`, a folder and a file in it, a link to it: one file, one
    report of it, where it first appears on the command line."""
    import os

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yml").write_text(UNPINNED)
    (tmp_path / "sub" / "b.yml").write_text(UNPINNED)
    os.symlink("a.yml", tmp_path / "link.yml")
    report, proc = scan_json("sub/b.yml", "a.yml", "./a.yml", ".", "sub", "sub/b.yml", "link.yml", "--fail-on",
                             "warning", cwd=tmp_path)
    assert proc.returncode == 1
    assert _findings_by_path(report) == {"sub/b.yml": ["ENV005"], "a.yml": ["ENV005"]}
    assert report["summary"]["files"] == 2


def _deny(monkeypatch, *paths):
    """Make `paths` unreadable to this process, as `chmod 000` does for a user who is not root
    (tests may run as root, who reads and lists anything): the folder cannot be listed and the
    file cannot be opened."""
    import errno
    import os

    denied = {str(p) for p in paths}
    real_scandir, real_open = os.scandir, os.open

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def scandir(path="."):
        return refuse(path) if os.fspath(path) in denied else real_scandir(path)

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        return refuse(path) if os.fspath(path) in denied else real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", open_)


def _unreadable_repo(root):
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "env.yml").write_text(UNPINNED)
    (root / "secret.yml").write_text(UNPINNED)
    (root / "z-env.yml").write_text(UNPINNED)
    return root / "locked", root / "secret.yml"


def _assert_unreadable_reported(report, root):
    found = _findings_by_path(report)
    assert found == {str(root / "locked"): ["PF001"], str(root / "secret.yml"): ["PF001"],
                     str(root / "z-env.yml"): ["ENV005"]}
    messages = {f["path"]: f["message"] for f in report["findings"]}
    assert "cannot list folder: Permission denied" in messages[str(root / "locked")]
    assert "cannot read: Permission denied" in messages[str(root / "secret.yml")]


def test_unreadable_file_and_folder_found_in_a_folder_are_pf001(tmp_path, monkeypatch, capsys):
    """They were skipped without a word ("No findings in 0 files", exit 0)."""
    from preflight.cli import main

    root = tmp_path / "repo"
    _deny(monkeypatch, *_unreadable_repo(root))
    capsys.readouterr()
    code = main(["scan", "--quiet", "--format", "json", str(root)])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    _assert_unreadable_reported(json.loads(out), root)
    # the whole folder unreadable: reported, not "No findings in 0 files"
    _deny(monkeypatch, root)
    code = main(["scan", "--quiet", "--format", "json", str(root)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and _findings_by_path(report) == {str(root): ["PF001"]}


def test_unreadable_by_mode_file_and_folder_are_pf001(tmp_path):
    """The same with real file modes, where they bind (not for root)."""
    import os

    import pytest

    if os.geteuid() == 0:
        pytest.skip("root reads files and lists folders whatever their mode")
    root = tmp_path / "repo"
    locked, secret = _unreadable_repo(root)
    locked.chmod(0)
    secret.chmod(0)
    try:
        report, proc = scan_json(str(root))
    finally:
        locked.chmod(0o755)
        secret.chmod(0o644)
    assert proc.returncode == 1
    _assert_unreadable_reported(report, root)


def test_lock_that_is_a_fifo_a_device_or_nested_too_deep_is_a_one_line_error(tmp_path):
    """`--pins` named a FIFO (the run hung) or `/dev/zero`; a `conda env export` lock or a
    `pip list --format=json` nested too deep was an internal RecursionError."""
    import os

    import pytest

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    (tmp_path / "conda.yml").write_text(UNPINNED)
    os.mkfifo(tmp_path / "lock.txt")
    (tmp_path / "block.yml").write_text("name: e\ndependencies:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)))
    (tmp_path / "flow.yml").write_text("name: e\ndependencies:\n  - " + "[" * 3000 + "]" * 3000 + "\n")
    (tmp_path / "list.json").write_text("[" * 100_000 + "]" * 100_000)
    expected = {"lock.txt": "cannot read: not a regular file", "/dev/zero": "cannot read: not a regular file",
                "block.yml": "nesting depth", "flow.yml": "nesting depth", "list.json": "nesting deeper than"}
    for lock, words in expected.items():
        for command in (["fix", "--diff"], ["scan", "--fix"]):
            proc = run_cli(*command, "--pins", lock, "conda.yml", cwd=tmp_path, timeout=60)
            assert proc.returncode == 2 and proc.stdout == "", (lock, proc.stderr)
            [message] = proc.stderr.splitlines()
            assert message.startswith(f"preflight: error: --pins {lock}: ") and words in message, message
    assert (tmp_path / "conda.yml").read_text() == UNPINNED


def test_the_command_line_fills_typed_scan_options(tmp_path, monkeypatch):
    """Each scan option the rules read is a typed field of Options, from the command line or
    the configuration of the first path, never a key of the free-form `extra`."""
    import datetime

    from preflight.cli import build_options, build_parser
    from preflight.config import Config
    from preflight.contract import DeploymentTarget
    from preflight.deploy.capacity import DeclaredLoad

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREFLIGHT_TODAY")
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    (tmp_path / ".preflight.toml").write_text('today = "2027-01-02"\nkeyvault-api-version = "2026-02-01"\n')

    def options(*args: str):
        return build_options(build_parser().parse_args(["scan", ".", "--no-cache", *args]))[0]

    plain = options()
    assert isinstance(plain.config, Config) and plain.config.path.endswith(".preflight.toml")
    assert plain.config_for(str(tmp_path / "x.yml")) is plain.config  # each file's own, here the same
    assert (plain.today, plain.pinning, plain.load, plain.deployment, plain.keyvault_api_version, plain.extra) == \
        (datetime.date(2027, 1, 2), None, None, DeploymentTarget(), None, {})
    given = options("--today", "2027-03-04", "--pinning", "compatible", "--expected-rps", "5", "--latency-ms", "200",
                    "--subscription", " sub-1 ", "--resource-group", "rg-1", "--diff")
    assert given.today == datetime.date(2027, 3, 4) and given.pinning == "compatible"
    assert given.load == DeclaredLoad(5, 200, None, "--expected-rps/--latency-ms")
    assert given.deployment == DeploymentTarget(subscription="sub-1", resource_group="rg-1")
    assert given.keyvault_api_version == "2026-02-01" and given.extra == {}
