"""The result cache: a rerun reuses findings only while nothing they came from has changed.

The invariant every test here checks: a scan with the cache reports exactly what a scan without
it reports, after any edit. Each edit is one a check depends on through another file (a
parameter file, a Bicep module, a `-r` requirements file, the config that links a conda file,
the folder's configuration), and each test first shows the edit changes the findings, so that
agreement means the cache noticed it.
"""
from __future__ import annotations

import ast
import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from preflight import cache as cache_module, engine
from preflight.cache import FOLDER
from preflight.cli import build_options, build_parser
from preflight.engine import scan
from preflight.loaders import load_json

from conftest import FIXTURES, REPO, run_cli


@pytest.fixture(autouse=True)
def _cache_allowed(_no_result_cache, monkeypatch):
    monkeypatch.delenv("PREFLIGHT_NO_CACHE")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def run(*args: str, cache: Path | None):
    """A scan as the CLI runs it (per-file configuration and all), in this process."""
    cache_args = ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    parsed = build_parser().parse_args(["scan", *args, *cache_args])
    options, _ = build_options(parsed)
    return scan(parsed.paths, options)


def report(result) -> list[dict]:
    return [f.to_json() for f in result.findings]


def check_edit(args: list[str], cache: Path, edit) -> tuple[list[dict], list[dict]]:
    """Scan (filling the cache), edit, then scan with and without the cache: they must agree,
    and the edit must have changed the findings."""
    first = run(*args, cache=cache)
    assert run(*args, cache=cache).cache_hits > 0, "the cache was not used at all"
    edit()
    fresh = report(run(*args, cache=None))
    assert fresh != report(first), "this edit does not change the findings: the test proves nothing"
    cached = run(*args, cache=cache)
    assert report(cached) == fresh
    assert run(*args, cache=cache).cache_hits > 0  # and the cache is used again afterwards
    return report(first), fresh


def cache_files(cache_dir: Path) -> list[Path]:
    """The cache files of a --cache-dir (they live in the cache's own folder inside it)."""
    return [p for p in (cache_dir / FOLDER).iterdir() if p.suffix == ".json"]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------ reuse


def test_a_rerun_reports_the_same_findings_from_the_cache(project, cache_dir):
    shutil.copytree(FIXTURES / "demo", project / "demo")
    cold = run("demo", cache=cache_dir)
    assert cold.cache_hits == 0 and cold.findings
    warm = run("demo", cache=cache_dir)
    assert report(warm) == report(cold) == report(run("demo", cache=None))
    assert warm.checked == cold.checked and warm.files == cold.files
    # every file not kept for linking came from the cache
    assert warm.cache_hits >= len(cold.checked) - 6


def test_cli_output_is_identical_with_a_warm_cache(tmp_path, cache_dir):
    args = ("scan", "--format", "json", "--cache-dir", str(cache_dir), str(FIXTURES))
    cold = run_cli(*args)
    warm = run_cli(*args)
    uncached = run_cli("scan", "--format", "json", "--no-cache", str(FIXTURES))
    assert warm.returncode == cold.returncode == uncached.returncode == 1
    assert warm.stdout == cold.stdout == uncached.stdout
    assert json.loads(warm.stdout)["findings"]
    files = cache_files(cache_dir)
    assert len(files) == 1 and json.loads(files[0].read_text())["entries"]
    assert (cache_dir / FOLDER / ".gitignore").read_text().strip().endswith("*")


def test_no_cache_and_the_environment_variable_write_nothing(tmp_path, cache_dir):
    run_cli("scan", "--no-cache", "--cache-dir", str(cache_dir), str(FIXTURES / "env"))
    run_cli("scan", "--cache-dir", str(cache_dir), str(FIXTURES / "env"), env={"PREFLIGHT_NO_CACHE": "1"})
    assert not cache_dir.exists()
    run_cli("scan", str(FIXTURES / "env"), env={"PREFLIGHT_CACHE_DIR": str(cache_dir)})
    assert cache_dir.exists()


def test_the_edited_file_itself_is_checked_again(project, cache_dir):
    write(project / "conda.yml", "dependencies:\n  - python=3.10.13\n  - pip=23.3.1\n  - pip:\n      - numpy==1.26.4\n")
    check_edit(["."], cache_dir, lambda: write(project / "conda.yml", (project / "conda.yml").read_text()
                                              .replace("numpy==1.26.4", "numpy")))


def test_options_that_change_findings_have_their_own_entries(project, cache_dir):
    shutil.copytree(FIXTURES / "env", project / "env")
    everything = report(run("env", cache=cache_dir))
    only_env001 = report(run("env", "--select", "ENV001", cache=cache_dir))
    assert only_env001 == report(run("env", "--select", "ENV001", cache=None))
    assert {f["rule"] for f in only_env001} == {"ENV001"} != {f["rule"] for f in everything}
    assert report(run("env", cache=cache_dir)) == everything


# ------------------------------------------------------------------ what a check depends on


def test_a_parameter_file_added_beside_a_template(project, cache_dir):
    shutil.copytree(FIXTURES / "arm" / "guarded-condition", project / "t")
    params = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
              "contentVersion": "1.0.0.0", "parameters": {"keyVaultOption": {"value": "existing"}}}
    check_edit(["t/azuredeploy.json"], cache_dir,
               lambda: write(project / "t" / "azuredeploy.parameters.json", json.dumps(params)))


def test_a_folder_listing_another_check_made_first(project, cache_dir):
    """Models are built once per scan (a folder's parameter files, listed for the first template
    in it): every later check that uses one depends on what it looked at too."""
    shutil.copytree(FIXTURES / "arm" / "guarded-condition", project / "t")
    shutil.copy(FIXTURES / "integrations" / "kv-rbac.json", project / "t" / "a-first.json")
    params = {"parameters": {"keyVaultOption": {"value": "existing"}}}
    check_edit(["t"], cache_dir, lambda: write(project / "t" / "azuredeploy.parameters.json", json.dumps(params)))


def test_a_parameter_file_edited(project, cache_dir):
    shutil.copytree(FIXTURES / "arm" / "guarded-condition", project / "t")
    params = project / "t" / "azuredeploy.parameters.json"
    write(params, json.dumps({"parameters": {"keyVaultOption": {"value": "existing"}}}))
    check_edit(["t/azuredeploy.json"], cache_dir,
               lambda: write(params, json.dumps({"parameters": {"keyVaultOption": {"value": "new"}}})))


def test_a_linked_template_edited(project, cache_dir):
    shutil.copytree(FIXTURES / "arm" / "linked", project / "t")
    linked = project / "t" / "modules" / "vault.json"
    data = load_json(linked.read_text())  # a template: comments allowed
    data["resources"][0]["properties"]["enableRbacAuthorization"] = True
    data["resources"][0]["properties"].pop("accessPolicies", None)
    check_edit(["t/main.json"], cache_dir, lambda: write(linked, json.dumps(data)))


def test_a_bicep_module_edited(project, cache_dir):
    shutil.copytree(FIXTURES / "bicep" / "module", project / "b")
    module = project / "b" / "modules" / "keyvault.bicep"
    check_edit(["b/main.bicep"], cache_dir,
               lambda: write(module, module.read_text().replace("enableRbacAuthorization: rbac",
                                                                "enableRbacAuthorization: true")))


def test_a_requirements_file_a_conda_file_includes(project, cache_dir):
    write(project / "conda.yml", "dependencies:\n  - python=3.10.13\n  - pip=23.3.1\n  - pip:\n"
                                 "      - -r requirements.txt\n")
    write(project / "requirements.txt", "numpy==1.26.4\n")
    check_edit(["conda.yml"], cache_dir, lambda: write(project / "requirements.txt", "numpy\n"))


def test_the_inference_config_that_links_a_conda_file(project, cache_dir):
    shutil.copytree(FIXTURES / "env" / "v1-missing", project / "svc")
    config = project / "svc" / "inferenceconfig.json"
    check_edit(["svc"], cache_dir, lambda: write(config, config.read_text().replace("environment.yml", "other.yml")))


def test_the_configuration_that_declares_a_purpose(project, cache_dir):
    shutil.copytree(FIXTURES / "env" / "unlinked", project / "env")
    check_edit(["env"], cache_dir, lambda: write(project / "env" / ".preflight.toml",
                                                 '[[environment]]\npath = "conda.yml"\npurpose = "v1-scoring"\n'))


def test_a_configuration_read_for_another_file_is_a_dependency(tmp_path):
    """A check that reads the configuration of another file (a deployment's, from a model of
    the project) depends on it: a configuration added in that file's folder is a change."""
    from preflight import fs
    from preflight.config import Configs
    from preflight.contract import Options
    from preflight.engine import DocumentStore

    (tmp_path / "sub").mkdir()
    configs = Configs()
    with fs.recording() as deps:
        configs.used_for(str(tmp_path / "sub" / "deploy.yml"))
    assert [key[0] for key in deps] == ["config"]
    rows = [[kind, path, arg, outcome] for (kind, path, arg), outcome in deps.items()]
    assert fs.Verifier(DocumentStore(Options(configs=Configs())).dependency_now).unchanged(rows)
    (tmp_path / "sub" / ".preflight.toml").write_text('[deploy]\nha-min-instances = 3\n')
    assert not fs.Verifier(DocumentStore(Options(configs=Configs())).dependency_now).unchanged(rows)


def test_a_file_removed_from_the_folder(project, cache_dir):
    shutil.copytree(FIXTURES / "arm" / "guarded-condition", project / "t")
    params = project / "t" / "azuredeploy.parameters.json"
    write(params, json.dumps({"parameters": {"keyVaultOption": {"value": "existing"}}}))
    check_edit(["t/azuredeploy.json"], cache_dir, params.unlink)


def test_the_worker_pool_records_what_its_checks_looked_at(project, cache_dir, monkeypatch):
    monkeypatch.setattr(engine, "POOL_MIN_FILES", 2)
    shutil.copytree(FIXTURES, project / "fixtures")
    params = project / "fixtures" / "arm" / "guarded-condition" / "azuredeploy.parameters.json"

    def edit():
        write(params, json.dumps({"parameters": {"keyVaultOption": {"value": "existing"}}}))

    check_edit(["fixtures", "--jobs", "2"], cache_dir, edit)


# ------------------------------------------------------------------ a cache that cannot be trusted or written


def test_a_corrupt_cache_file_is_ignored_and_replaced(project, cache_dir):
    shutil.copytree(FIXTURES / "env", project / "env")
    expected = report(run("env", cache=cache_dir))
    [cache_file] = cache_files(cache_dir)
    good = cache_file.read_text()
    entries = json.loads(good)["entries"]
    assert entries
    for garbage in ("{not json", "[]", json.dumps({"format": 2, "entries": {p: {"key": 3} for p in entries}}),
                    json.dumps({"format": 2, "entries": {p: [e[0], "{not json"] for p, e in entries.items()}}),
                    json.dumps({"format": 2, "entries": {p: [e[0]] for p, e in entries.items()}})):
        cache_file.write_text(garbage)
        result = run("env", cache=cache_dir)
        assert report(result) == expected and result.cache_hits == 0
    # an entry whose findings are malformed is a miss, not a crash
    for path, (key, text) in entries.items():
        entry = json.loads(text)
        entry["findings"] = [["only", "two"]]
        entries[path] = [key, json.dumps(entry)]
    cache_file.write_text(json.dumps({"format": 2, "entries": entries}))
    result = run("env", cache=cache_dir)
    assert report(result) == expected and result.cache_hits == 0
    assert run("env", cache=cache_dir).cache_hits > 0  # and the cache was rewritten whole


def test_an_unwritable_cache_is_reported_and_the_scan_goes_on(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = run_cli("scan", "--format", "json", "--cache-dir", str(blocker / "cache"), str(FIXTURES / "env"))
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["findings"]
    assert "cache not saved" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ a folder of its own


def scan_cli(project: Path, cache_dir: Path, *extra: str, fmt: str = "json", timeout: float = 120):
    return run_cli("scan", "--format", fmt, "--cache-dir", str(cache_dir), *extra, "env", cwd=project,
                   timeout=timeout)


def plant(cache_file: Path, edit) -> int:
    """Rewrite every entry of a cache file through `edit(entry) -> entry`, keys kept: what
    someone who can write the cache could do. The number of entries that changed."""
    data = json.loads(cache_file.read_text())
    changed = 0
    for path, (key, text) in data["entries"].items():
        planted = json.dumps(edit(json.loads(text)))
        changed += planted != json.dumps(json.loads(text))
        data["entries"][path] = [key, planted]
    cache_file.write_text(json.dumps(data))
    return changed


def no_findings(entry: dict) -> dict:
    return {**entry, "findings": []}


@pytest.fixture
def filled(project, cache_dir) -> tuple[Path, str]:
    """A project scanned once with the cache: (the cache file, the uncached JSON report)."""
    shutil.copytree(FIXTURES / "env", project / "env")
    expected = run_cli("scan", "--format", "json", "--no-cache", "env", cwd=project)
    assert expected.returncode == 1 and json.loads(expected.stdout)["findings"]
    assert scan_cli(project, cache_dir).stdout == expected.stdout
    [cache_file] = cache_files(cache_dir)
    return cache_file, expected.stdout


def test_the_cache_deletes_nothing_in_the_folder_it_is_given(project):
    """`--cache-dir infra` (or PREFLIGHT_CACHE_DIR=.) names where the cache's own folder goes:
    the clean-up of stale cache files never touches the user's files there."""
    shutil.copytree(FIXTURES / "env", project / "env")
    month_ago = 60 * 86400
    own = project / "infra" / FOLDER
    own.mkdir(parents=True, mode=0o700)
    (own / "CACHEDIR.TAG").write_bytes(cache_module.MARKER)
    stale_entry = own / ("0" * 32 + ".json")
    mine = [project / "infra" / "main.json", project / "old.json", own / "notes.json"]
    for path in [*mine, stale_entry]:
        path.write_text("{}")
        os.utime(path, (path.stat().st_mtime - month_ago,) * 2)
    proc = run_cli("scan", "--cache-dir", "infra", "env", cwd=project)
    assert proc.returncode == 1 and "cache" not in proc.stderr, proc.stderr
    proc = run_cli("scan", "env", cwd=project, env={"PREFLIGHT_CACHE_DIR": "."})
    assert proc.returncode == 1 and "cache" not in proc.stderr, proc.stderr
    assert all(path.read_text() == "{}" for path in mine)
    assert not stale_entry.exists()  # its own stale files do go
    assert [p.name for p in cache_files(project) if p.name != "notes.json"] == \
        [p.name for p in cache_files(project / "infra") if p.name != "notes.json"] != []


def test_a_planted_entry_is_used_only_from_a_private_folder(filled, project, cache_dir):
    cache_file, expected = filled
    plant(cache_file, no_findings)
    planted = scan_cli(project, cache_dir)  # the entries are used: what the checks below guard
    fewer = len(json.loads(planted.stdout)["findings"])  # the linking configs' own, never cached
    assert fewer < len(json.loads(expected)["findings"])
    for mode in (0o777, 0o775, 0o720):
        plant(cache_file, no_findings)
        os.chmod(cache_dir / FOLDER, mode)
        proc = scan_cli(project, cache_dir)
        assert proc.returncode == 1 and proc.stdout == expected
        [warning] = proc.stderr.splitlines()
        assert "result cache not used" in warning and "writable by others" in warning and f"{mode:04o}" in warning
        assert json.loads(cache_file.read_text())["entries"]  # left as it was: not written either
    os.chmod(cache_dir / FOLDER, 0o700)
    again = scan_cli(project, cache_dir)  # the same folder, private again, is used
    assert len(json.loads(again.stdout)["findings"]) == fewer


def test_a_folder_of_another_user_is_not_trusted(filled, project, cache_dir, monkeypatch):
    cache_file, expected = filled
    plant(cache_file, no_findings)
    owner = (cache_dir / FOLDER).stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    monkeypatch.chdir(project)
    result = run("env", cache=cache_dir)
    assert report(result) == json.loads(expected)["findings"]
    assert result.cache_hits == 0 and "belongs to another user" in result.cache_error


def test_a_folder_with_foreign_files_or_a_link_is_not_used(project, cache_dir, tmp_path):
    shutil.copytree(FIXTURES / "env", project / "env")
    own = cache_dir / FOLDER
    own.mkdir(parents=True, mode=0o700)
    (own / "report.json").write_text("{}")
    proc = scan_cli(project, cache_dir)
    assert proc.returncode == 1 and json.loads(proc.stdout)["findings"]
    assert "did not write" in proc.stderr and sorted(p.name for p in own.iterdir()) == ["report.json"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (own / "report.json").unlink()
    own.rmdir()
    own.symlink_to(elsewhere)
    proc = scan_cli(project, cache_dir)
    assert proc.returncode == 1 and "is not a folder" in proc.stderr and list(elsewhere.iterdir()) == []


def test_a_folder_that_cannot_be_marked_is_a_warning(project, cache_dir, monkeypatch):
    shutil.copytree(FIXTURES / "env", project / "env")
    (cache_dir / FOLDER).mkdir(parents=True, mode=0o700)

    def read_only(self, name, data):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(cache_module.PrivateFolder, "_create", read_only)
    result = run("env", cache=cache_dir)
    assert report(result) == report(run("env", cache=None)) and result.findings
    assert "result cache not used" in result.cache_error and os.strerror(errno.EROFS) in result.cache_error


def test_a_fifo_in_place_of_the_cache_file_does_not_hang_the_scan(filled, project, cache_dir):
    cache_file, expected = filled
    cache_file.unlink()
    os.mkfifo(cache_file)
    proc = scan_cli(project, cache_dir, timeout=60)
    assert proc.returncode == 1 and proc.stdout == expected and proc.stderr == ""
    assert cache_file.is_file() and json.loads(cache_file.read_text())["entries"]  # replaced whole


def test_a_link_in_place_of_the_cache_file_is_not_followed(filled, project, cache_dir, tmp_path):
    cache_file, expected = filled
    planted = tmp_path / "planted.json"
    planted.write_text(cache_file.read_text())
    plant(planted, no_findings)
    planted_text = planted.read_text()
    for target in ("/dev/zero", str(planted)):
        cache_file.unlink()
        cache_file.symlink_to(target)
        proc = scan_cli(project, cache_dir, timeout=60)
        assert proc.returncode == 1 and proc.stdout == expected and proc.stderr == ""
        assert not cache_file.is_symlink()  # replaced by a file of its own, not written through
    assert planted.read_text() == planted_text


def _finding_line_as_text(entry: dict) -> dict:
    for row in entry["findings"]:
        row[7] = str(row[7])
    return entry


WRONG_TYPES = [
    _finding_line_as_text,
    lambda e: {**e, "findings": [[*row[:2], "error", *row[3:]] for row in e["findings"]]},
    lambda e: {**e, "findings": [[*row[:2], 7, *row[3:]] for row in e["findings"]]},
    lambda e: {**e, "findings": [[*row[:9], ["data"], row[10]] for row in e["findings"]]},
    lambda e: {**e, "findings": {"rule": "ENV001"}},
    lambda e: {**e, "suppressions": [{"selectors": "ENV", "line": 1, "column": 1, "scope": "file", "lines": [],
                                      "prefix": "", "pointer": "", "used": []}]},
    lambda e: {**e, "suppressions": [{"selectors": ["ENV"], "line": "1", "column": 1, "scope": "file",
                                      "lines": [], "prefix": "", "pointer": "", "used": []}]},
    lambda e: {**e, "deps": [["read", 0, 1000, "digest"]]},  # a number is a file descriptor to os.*
    lambda e: {**e, "deps": [["read", "/x", [1], "digest"]]},
    lambda e: {**e, "deps": {"read": "/x"}},
    lambda e: [e],
]


def test_an_entry_of_the_wrong_types_is_a_miss(filled, project, cache_dir):
    cache_file, expected = filled
    good = cache_file.read_text()
    for fmt in ("json", "text", "sarif"):  # each format read a finding's fields its own way
        cache_file.write_text(good)
        wanted = run_cli("scan", "--format", fmt, "--no-cache", "env", cwd=project)
        plant(cache_file, _finding_line_as_text)
        proc = scan_cli(project, cache_dir, fmt=fmt)
        assert (proc.returncode, proc.stdout, proc.stderr) == (1, wanted.stdout, "")
    cache_file.write_text(good)
    hits = run("env", cache=cache_dir).cache_hits  # in this process (the project's folder): same key
    assert hits == len(json.loads(good)["entries"])
    for edit in WRONG_TYPES:
        cache_file.write_text(good)
        changed = plant(cache_file, edit)
        result = run("env", cache=cache_dir)
        assert report(result) == json.loads(expected)["findings"], edit
        assert changed > 0 and result.cache_hits == hits - changed, edit  # each planted entry a miss
        assert run("env", cache=cache_dir).cache_hits == hits  # rewritten with good entries


# ------------------------------------------------------------------ checks look at files only through preflight.fs

# Modules that run before or after the checks (discovery, configuration, reports, the cache
# itself); every other module's look-ups must be recorded, or the cache would miss a change.
OUTSIDE_CHECKS = {"baseline.py", "cache.py", "cli.py", "config.py", "discover.py", "engine.py", "fix.py", "fs.py",
                  "loaders.py", "merge.py", "output.py"}
_OS_CALLS = {"open", "listdir", "scandir", "stat", "lstat", "walk"}
_PATH_CALLS = {"exists", "isfile", "isdir", "getsize", "lexists", "getmtime"}


def _file_system_calls(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("open", "read_regular_file"):
            out.append(f"{path.name}:{node.lineno} {f.id}()")
        elif (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "os"
              and f.attr in _OS_CALLS):
            out.append(f"{path.name}:{node.lineno} os.{f.attr}()")
        elif isinstance(f, ast.Attribute) and f.attr in _PATH_CALLS and isinstance(f.value, ast.Attribute) \
                and f.value.attr == "path":
            out.append(f"{path.name}:{node.lineno} os.path.{f.attr}()")
        elif isinstance(f, ast.Attribute) and f.attr in ("read_text", "read_bytes"):
            out.append(f"{path.name}:{node.lineno} .{f.attr}()")
    return out


def test_checks_look_at_files_only_through_preflight_fs():
    sources = [p for p in (REPO / "preflight").rglob("*.py")
               if not (p.parent.name == "preflight" and p.name in OUTSIDE_CHECKS)
               and p.parent.name not in ("report", "live", "resolve")]  # providers turn the cache off; rules included
    assert len(sources) > 20
    offenders = [call for p in sources for call in _file_system_calls(p)]
    assert offenders == [], "use preflight.fs so the result cache sees these: " + ", ".join(offenders)


def test_the_guard_finds_a_direct_look_up(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nif os.path.isfile('x'):\n    open('x').read()\nos.listdir('.')\n")
    assert len(_file_system_calls(sample)) == 3


# ------------------------------------------------------------------ the corpus


def test_corpus_cached_rerun_matches_a_fresh_scan(corpus, tmp_path, cache_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cold = run(str(corpus), cache=cache_dir)
    warm = run(str(corpus), cache=cache_dir)
    assert len(cold.findings) > 1000
    assert report(warm) == report(cold)
    assert warm.cache_hits > 0.9 * cold.files


def test_findings_whose_evidence_is_not_json_are_not_cached(project, cache_dir):
    """A rule's structured evidence that JSON cannot hold: that file is checked on every run,
    the others are still cached."""
    from preflight import fs
    from preflight.cache import ResultCache
    from preflight.findings import Finding, Severity

    cache = ResultCache(str(cache_dir), "k", 1000)
    odd = Finding("ENV005", "x", Severity.WARNING, "a.yml", "", "m", data={"when": object()})
    plain = Finding("ENV005", "x", Severity.WARNING, "b.yml", "", "m", data={"names": ["numpy"]})
    for f in (odd, plain):
        cache.put(f.path, True, None, {("read", os.path.abspath(f.path), 1000): "d1"}, [f], None)
    assert "a.yml" not in cache.entries and "b.yml" in cache.entries
    [found], _ = cache.lookup("b.yml", ResultCache.entry_key(True, "d1", None), fs.Verifier(lambda *a: None))
    assert found.to_json() == plain.to_json()


def test_the_scan_key_follows_the_installed_parsers(tmp_path, monkeypatch):
    """An upgraded parser package (its files rewritten) is a new cache: findings rest on it."""
    from preflight import cache as cache_module
    from preflight.contract import Options
    from preflight.rulepacks import load_rule_packs

    load_rule_packs()
    package = tmp_path / "fakeparser"
    package.mkdir()
    init = package / "__init__.py"
    init.write_text("VERSION = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cache_module, "_DEPENDENCY_MODULES", ("fakeparser",))
    before = cache_module.scan_key(Options())
    assert cache_module.scan_key(Options()) == before
    init.write_text("VERSION = 22\n")
    os.utime(init, ns=(1, 1))
    assert cache_module.scan_key(Options()) != before


def test_the_scan_key_covers_every_option_that_can_change_a_finding(tmp_path):
    """Each option but the unkeyed ones (the baseline, progress, jobs, the cache folder,
    providers) has a key of its own: a pinned day, a pinning override, a declared load or a
    deployment target checked under another value is another cache."""
    import dataclasses
    import datetime

    from preflight.config import Config, Configs
    from preflight.contract import DeploymentTarget, Options
    from preflight.deploy.capacity import DeclaredLoad
    from preflight.conda import PinPolicy
    from preflight.rulepacks import load_rule_packs

    load_rule_packs()
    changed = {
        "select": {"KV"}, "ignore": {"ENV001"}, "exclude": ("x/*",), "params": {"a": 1},
        "parameter_files": (str(tmp_path / "p.json"),), "max_file_bytes": 10, "extra": {"pack": "on"},
        "config": Config(str(tmp_path / ".preflight.toml"), {"today": "2027-01-01"}),
        "today": datetime.date(2027, 3, 1), "pinning": "compatible", "pin_policy": PinPolicy(conda_minor=False),
        "load": DeclaredLoad(20, 100), "deployment": DeploymentTarget(subscription="s"),
        "keyvault_api_version": "2026-02-01", "configs": Configs(),
    }
    fields = {f.name for f in dataclasses.fields(Options)}
    assert fields == set(changed) | cache_module.UNKEYED_OPTIONS  # each new option is decided on
    plain = cache_module.scan_key(Options())
    for name, value in changed.items():
        assert cache_module.scan_key(Options(**{name: value})) != plain, name
    assert cache_module.scan_key(Options(today=datetime.date(2027, 3, 1))) == \
        cache_module.scan_key(Options(today=datetime.date(2027, 3, 1)))
    unkeyed = {"baseline": object(), "progress": object(), "providers": (object(),), "jobs": 2, "cache_dir": "c"}
    assert set(unkeyed) == cache_module.UNKEYED_OPTIONS
    for name, value in unkeyed.items():
        assert cache_module.scan_key(Options(**{name: value})) == plain, name


def test_a_pinned_day_from_the_command_line_is_its_own_cache(project, cache_dir):
    """KV019 says warning before 2027-02-27, error from then on: a scan pinned to another day
    never reuses the other day's findings."""
    (project / "t.json").write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0", "resources": [{
            "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-one",
            "location": "westeurope", "properties": {
                "tenantId": "00000000-0000-0000-0000-000000000000", "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": True}}]}))

    def kv019(day: str, cache: Path | None) -> str:
        [severity] = [f["severity"] for f in report(run("t.json", "--today", day, cache=cache)) if f["rule"] == "KV019"]
        return severity

    assert kv019("2026-12-07", cache_dir) == "warning"
    assert kv019("2027-03-01", cache_dir) == "error" == kv019("2027-03-01", None)
    assert kv019("2026-12-07", cache_dir) == "warning"


def test_the_cache_file_is_written_piece_by_piece_as_one_json_text(tmp_path):
    # The entries already hold the cache's text: a whole copy of it (and of its bytes) on save
    # doubled a large scan's peak memory (the corpus: 63 MiB against 37 without a cache).
    import tracemalloc

    from preflight.cache import FORMAT, ResultCache

    cache = ResultCache(str(tmp_path), "k", 1 << 20)
    cache.entries = {f"/repo/file{i}.json": ["key", '{"findings":["' + "é\"x" * 20_000 + '"]}'] for i in range(60)}
    cache._changed = True
    text_size = sum(len(text) for _, text in cache.entries.values())
    tracemalloc.start()
    try:
        assert cache.save(set(cache.entries)) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < text_size / 4
    written = (tmp_path / FOLDER / "k.json").read_bytes()
    assert written == json.dumps({"format": FORMAT, "entries": cache.entries}, separators=(",", ":")).encode()
    assert ResultCache(str(tmp_path), "k", 1 << 20).entries == cache.entries
