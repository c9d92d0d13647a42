"""A Bicep module is compiled once per scan (in each process) for all the files that call it
(preflight.bicep.reuse), and the findings are those of compiling it again for each caller: for
callers that pass it different values, that reach it through a cycle of modules or near the
depth limit, and after the module changed between two scans."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from preflight.bicep import compiler, reuse, syntax
from preflight.cli import build_options, build_parser
from preflight.engine import scan

VAULT = """param name string
param policies array = []

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: resourceGroup().location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enablePurgeProtection: true
    accessPolicies: policies
  }
}
"""


def caller(module: str, name: str, policies: str = "[]") -> str:
    return f"module v '{module}' = {{\n  name: 'd-{name}'\n  params: {{ name: '{name}', policies: {policies} }}\n}}\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def findings(*paths: Path, cwd: Path) -> list[dict]:
    parsed = build_parser().parse_args(["scan", "--no-cache", "--jobs", "1", "--select", "KV001,PF010",
                                        *(str(p.relative_to(cwd)) for p in paths)])
    options, _ = build_options(parsed)
    return sorted((f.to_json() for f in scan(parsed.paths, options).findings), key=repr)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def module_parses(monkeypatch) -> dict[str, int]:
    """How many times each module text is parsed for compiling (the scanned files themselves
    are parsed by the loader, not here)."""
    counts: dict[str, int] = {}
    parse = compiler.parse

    def counting(text: str, *args, **kwargs):
        counts[text] = counts.get(text, 0) + 1
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(compiler, "parse", counting)
    return counts


def test_a_module_shared_by_two_callers_is_compiled_once(project, module_parses, monkeypatch):
    write(project / "modules" / "vault.bicep", VAULT)
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a"))
    write(project / "b.bicep", caller("modules/vault.bicep", "kv-b", "[{ tenantId: 't', objectId: 'o' }]"))
    write(project / "c" / "c.bicep", caller("../modules/vault.bicep", "kv-c"))
    found = findings(project, cwd=project)
    assert module_parses == {VAULT: 1}
    # each caller's own values: the empty policies of a and c are KV001, b's are not
    kv001 = [f for f in found if f["rule"] == "KV001"]
    assert sorted((f["data"]["vault"], f["path"], *f["data"]["callers"]) for f in kv001) == [
        ("kv-a", "modules/vault.bicep", "a.bicep:1"), ("kv-c", "modules/vault.bicep", "c/c.bicep:1")]
    # the same findings as compiling the module again for each caller
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(project, cwd=project) == found
    assert module_parses == {VAULT: 1 + 3}


def test_a_module_scanned_before_its_callers_is_compiled_once(project, module_parses, monkeypatch):
    """Its own compile (a scanned file's, with positions) is the one its callers take."""
    write(project / "modules" / "vault.bicep", VAULT)
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a"))
    write(project / "b.bicep", caller("modules/vault.bicep", "kv-b", "[{ tenantId: 't', objectId: 'o' }]"))
    paths = [project / "modules" / "vault.bicep", project / "a.bicep", project / "b.bicep"]
    found = findings(*paths, cwd=project)
    assert module_parses == {}  # the callers compiled nothing
    assert [(f["data"]["vault"], f["data"]["callers"]) for f in found] == [("kv-a", ["a.bicep:1"])]
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(*paths, cwd=project) == found
    assert module_parses == {VAULT: 2}


def test_a_module_edited_between_two_scans_is_compiled_again(project, module_parses):
    module = project / "modules" / "vault.bicep"
    write(module, VAULT)
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a"))
    write(project / "b.bicep", caller("modules/vault.bicep", "kv-b"))
    before = findings(project, cwd=project)
    assert [f["rule"] for f in before] == ["KV001", "KV001"]
    write(module, VAULT.replace("    accessPolicies: policies\n", "    enableRbacAuthorization: true\n"))
    after = findings(project, cwd=project)
    assert after == [] and len(module_parses) == 2  # the new text was compiled, in the same process


def test_a_file_the_module_loads_edited_between_two_scans(project):
    write(project / "modules" / "vault.bicep",
          VAULT.replace("param policies array = []", "var policies = loadJsonContent('policies.json')"))
    write(project / "modules" / "policies.json", "[]")
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a").replace(", policies: []", ""))
    write(project / "b.bicep", caller("modules/vault.bicep", "kv-b").replace(", policies: []", ""))
    assert [f["rule"] for f in findings(project, cwd=project)] == ["KV001", "KV001"]
    write(project / "modules" / "policies.json", '[{"tenantId": "t", "objectId": "o", "permissions": {}}]')
    assert findings(project, cwd=project) == []


def compare_without_sharing(project: Path, monkeypatch) -> list[dict]:
    """The findings of a scan of the project, which must be those of a scan in which each file
    compiles its modules itself."""
    shared = findings(project, cwd=project)
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(project, cwd=project) == shared
    monkeypatch.undo()
    return shared


def test_modules_reached_through_a_cycle_of_modules(project, monkeypatch):
    """x <-> y, and z calls x: from x, y's call back is the cycle; from z, x's call to y is
    followed and y's call back to x is the cycle."""
    write(project / "x.bicep", caller("y.bicep", "kv-x") + VAULT.replace("param name string\n", "")
          .replace("name: name", "name: 'kv-x-own'").replace("param policies array = []\n", "var policies = []\n"))
    write(project / "y.bicep", caller("x.bicep", "kv-y"))
    write(project / "z.bicep", caller("x.bicep", "kv-z"))
    found = compare_without_sharing(project, monkeypatch)
    assert "part of a cycle of modules" in " ".join(f["message"] for f in found)
    assert {f["data"]["vault"] for f in found if f["rule"] == "KV001"} == {"kv-x-own"}


def test_a_module_reached_again_near_the_depth_limit(project, monkeypatch, module_parses):
    """a.bicep -> m -> z -> vault compiles m, z and the vault in full. p.bicep reaches z again
    through a chain of seven modules, where z's own call is one too deep, and then m, which calls
    z: both as compiling them for p gives, not as they were compiled for a."""
    write(project / "a.bicep", caller("m.bicep", "kv-a"))
    write(project / "m.bicep", "param name string\nparam policies array\n" + caller("z.bicep", "kv-z"))
    write(project / "z.bicep", "param name string\nparam policies array\n" + caller("vault.bicep", "kv-z"))
    write(project / "vault.bicep", VAULT)
    for i in range(1, 8):
        write(project / "chain" / f"c{i}.bicep", "param name string\nparam policies array\n"
              + caller(f"c{i + 1}.bicep" if i < 7 else "../z.bicep", f"kv-c{i}"))
    write(project / "p.bicep",
          caller("chain/c1.bicep", "kv-p") + caller("m.bicep", "kv-p").replace("module v", "module w"))
    found = compare_without_sharing(project, monkeypatch)
    assert "nested deeper than" in " ".join(f["message"] for f in found)
    kv001 = [f for f in found if f["rule"] == "KV001"]
    assert [(f["data"]["vault"], f["data"]["callers"]) for f in kv001] == [
        ("kv-z", ["a.bicep:1 > m.bicep:3 > z.bicep:3"])]
    assert module_parses[(project / "m.bicep").read_text()] == 2 * 2  # compiled again for p, in both scans


def test_the_cache_is_bounded_and_empty_outside_a_scan(project):
    assert reuse.current() is None
    with reuse.sharing(max_chars=2 * len(VAULT), max_document_chars=2 * len(VAULT)) as cache:
        for i in range(4):
            cache.put((f"/m{i}.bicep", "/"), compiler.ModuleResult((None, {}, None, []), {}, size=len(VAULT)))
        assert len(cache.entries) == 2 and cache.chars <= 2 * len(VAULT)
        assert list(cache.entries) == [("/m2.bicep", "/"), ("/m3.bicep", "/")]  # the least recently used left
        for i in range(4):
            cache.documents.put(f"/d{i}.bicep", i, len(VAULT))
            cache.documents.get("/d0.bicep")
        assert [cache.documents.get(f"/d{i}.bicep") for i in range(4)] == [0, None, None, 3]
        assert reuse.current() is cache
    assert reuse.current() is None


@pytest.mark.parametrize("module_first", [False, True])
def test_every_caller_of_a_shared_module_depends_on_it_in_the_result_cache(project, tmp_path, monkeypatch,
                                                                          module_first):
    """The second caller takes the module compiled for the first (or both take the module's own
    compile, scanned first): their result-cache entries must still record the module's files
    (and the files the module reads), or an edit would be missed."""
    monkeypatch.delenv("PREFLIGHT_NO_CACHE")
    write(project / "modules" / "vault.bicep",
          VAULT.replace("param policies array = []", "var policies = loadJsonContent('policies.json')"))
    write(project / "modules" / "policies.json", "[]")
    for name in ("a", "b"):
        write(project / f"{name}.bicep", caller("modules/vault.bicep", f"kv-{name}").replace(", policies: []", ""))

    def cached() -> list[dict]:
        paths = ["modules/vault.bicep"] * module_first + ["a.bicep", "b.bicep"]
        parsed = build_parser().parse_args(["scan", "--jobs", "1", "--select", "KV001", *paths,
                                            "--cache-dir", str(tmp_path / "cache")])
        options, _ = build_options(parsed)
        result = scan(parsed.paths, options)
        return [(f.to_json()["data"]["vault"], result.cache_hits) for f in result.findings]

    assert cached() == [("kv-a", 0), ("kv-b", 0)]
    assert cached() == [("kv-a", 2 + module_first), ("kv-b", 2 + module_first)]  # from the cache
    write(project / "modules" / "policies.json", '[{"tenantId": "t", "objectId": "o", "permissions": {}}]')
    assert cached() == []


def test_a_scanned_module_is_not_compiled_again_to_place_a_finding_in_it(project, monkeypatch):
    """A finding its caller makes on the module's resource is placed in the module's file, which
    the scan loads again: the module's own compile, kept from its scan, is taken (the same text
    compiles to the same document), and the finding is where compiling it again puts it."""
    parses: dict[str, int] = {}
    parse = syntax.parse

    def counting(text: str, *args, **kwargs):
        parses[text] = parses.get(text, 0) + 1
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(syntax, "parse", counting)
    write(project / "modules" / "vault.bicep", VAULT)
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a"))
    paths = [project / "modules" / "vault.bicep", project / "a.bicep"]
    found = findings(*paths, cwd=project)
    assert [(f["path"], f["line"], f["data"]["callers"]) for f in found] == [
        ("modules/vault.bicep", 11, ["a.bicep:1"])]  # its accessPolicies
    assert parses[VAULT] == 1  # scanned once; not parsed again to place the finding
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(*paths, cwd=project) == found
    assert parses[VAULT] == 1 + 2  # without sharing: scanned, then loaded again


def test_a_module_compiled_for_a_caller_before_its_own_scan_is_not_compiled_again(project, monkeypatch):
    """The caller comes first: the module's compile for it (with its positions, during a scan)
    is the one its own scan takes, and the findings, at their lines, are those of compiling it
    again."""
    module = VAULT.replace("param policies array = []", "param policies array = []\nimport * as t 'types.bicep'")
    write(project / "modules" / "vault.bicep", module)
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a"))
    compiled: list[str] = []
    compile, parse = compiler.Unit.compile, syntax.parse

    def counting(unit):
        compiled.append(os.path.basename(unit.abspath))
        return compile(unit)

    def parsing(text: str, *args, **kwargs):
        compiled.append("parse " + text.partition("\n")[0])
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(compiler.Unit, "compile", counting)
    monkeypatch.setattr(compiler, "parse", parsing)
    monkeypatch.setattr(syntax, "parse", parsing)
    paths = [project / "a.bicep", project / "modules" / "vault.bicep"]
    found = findings(*paths, cwd=project)
    # vault.bicep parsed and compiled once, for a.bicep; its own scan takes them
    assert compiled == ["parse module v 'modules/vault.bicep' = {", "a.bicep",
                        "parse param name string", "vault.bicep"]
    assert {(f["rule"], f["path"], f["line"]) for f in found} >= {
        ("KV001", "modules/vault.bicep", 12), ("PF010", "modules/vault.bicep", 3)}
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(*paths, cwd=project) == found
    # without sharing: for a, for its own scan, and again to place the findings in it
    assert [c for c in compiled[4:] if not c.startswith("parse")] == ["a.bicep"] + ["vault.bicep"] * 3


def test_a_scanned_file_is_read_again_only_for_a_caller_that_takes_its_compile(project, monkeypatch, module_parses):
    """Its compile is kept unchecked: the first caller that takes it reads the file as a module
    compile would, and takes it only when that is the text the scan compiled."""
    write(project / "modules" / "vault.bicep", VAULT)
    write(project / "lone.bicep", VAULT.replace("name: name", "name: 'kv-lone'"))
    write(project / "a.bicep", caller("modules/vault.bicep", "kv-a"))
    write(project / "b.bicep", caller("modules/vault.bicep", "kv-b"))
    reads: list[str] = []
    read_text = compiler._read_text

    def reading(abspath: str) -> str | None:
        reads.append(os.path.relpath(abspath, project))
        return read_text(abspath)

    monkeypatch.setattr(compiler, "_read_text", reading)
    paths = [project / "modules" / "vault.bicep", project / "lone.bicep", project / "a.bicep", project / "b.bicep"]
    found = findings(*paths, cwd=project)
    assert reads == [os.path.join("modules", "vault.bicep")] and module_parses == {}  # once, for a; b takes it
    assert [f["data"]["callers"] for f in found if "callers" in f["data"]] == [["a.bicep:1"], ["b.bicep:1"]]

    # A module read that gives another text (the file changed since the scan read it): compiled again.
    monkeypatch.setattr(compiler, "_read_text", lambda abspath: read_text(abspath) + "\n")
    assert findings(*paths, cwd=project) == found
    assert module_parses == {VAULT + "\n": 1}


@pytest.fixture
def one_entry(monkeypatch) -> None:
    """Scans keep a single module result in the cache's count (the last one stored)."""
    sharing = reuse.sharing
    monkeypatch.setattr(reuse, "sharing", lambda: sharing(max_chars=1, max_document_chars=1))


def test_a_module_held_by_a_kept_caller_is_taken_again(project, module_parses, one_entry, monkeypatch):
    """a -> m -> vault: vault's result left the bound's count when m's was stored, and m's when
    a's was, but a's result holds both (its template is made of theirs): c takes m from there,
    and b the vault m holds, and both find what compiling them again finds."""
    write(project / "a.bicep", caller("m.bicep", "kv-a"))
    write(project / "m.bicep", "param name string\nparam policies array\n" + caller("vault.bicep", "kv-m"))
    write(project / "vault.bicep", VAULT)
    write(project / "b.bicep", caller("vault.bicep", "kv-b"))
    write(project / "c.bicep", caller("m.bicep", "kv-c"))
    paths = [project / name for name in ("a.bicep", "c.bicep", "b.bicep")]
    found = findings(*paths, cwd=project)
    assert module_parses == {VAULT: 1, (project / "m.bicep").read_text(): 1}
    assert sorted(tuple(f["data"]["callers"]) for f in found if f["rule"] == "KV001") == [
        ("a.bicep:1 > m.bicep:3", "c.bicep:1 > m.bicep:3"), ("b.bicep:1",)]
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(*paths, cwd=project) == found


def test_a_module_compiled_inside_a_cycle_is_not_taken_for_another_caller(project, one_entry, monkeypatch):
    """x <-> y: x's kept result holds y's, compiled with y's call back to x not followed (the
    cycle). z calls y: y compiled for z follows that call, and z deploys x's vault through it."""
    write(project / "x.bicep", caller("y.bicep", "kv-x") + VAULT.replace("param name string\n", "")
          .replace("name: name", "name: 'kv-x-own'").replace("param policies array = []\n", "var policies = []\n"))
    write(project / "y.bicep", caller("x.bicep", "kv-y"))
    write(project / "z.bicep", caller("y.bicep", "kv-z"))
    paths = [project / "x.bicep", project / "z.bicep"]
    found = findings(*paths, cwd=project)
    assert [f["data"]["callers"] for f in found if f["rule"] == "KV001"] == [["z.bicep:1 > y.bicep:1"]]
    monkeypatch.setattr(reuse, "current", lambda: None)
    assert findings(*paths, cwd=project) == found
