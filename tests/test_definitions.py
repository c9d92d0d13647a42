"""One report per defect, where it is fixed: a finding in a Bicep module is reported once, in
the module file, naming the files that deploy it (preflight.definitions)."""
from __future__ import annotations

import json
import os
import textwrap

from preflight.engine import Options, scan

VAULT_MODULE = """\
param name string
param accessPolicies array = []

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: 'westeurope'
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: false
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    accessPolicies: accessPolicies
  }
}
"""


def caller(name: str, policies: str = "[]") -> str:
    return textwrap.dedent(f"""\
        module vault 'modules/vault.bicep' = {{
          name: 'vault'
          params: {{
            name: '{name}'
            accessPolicies: {policies}
          }}
        }}
        """)


GRANT = "[\n      {\n        tenantId: subscription().tenantId\n" \
        "        objectId: '00000000-0000-0000-0000-000000000001'\n" \
        "        permissions: { secrets: [ 'get' ] }\n      }\n    ]"


def repo(tmp_path, callers: dict[str, str]):
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "modules").mkdir(exist_ok=True)
    (tmp_path / "modules" / "vault.bicep").write_text(VAULT_MODULE)
    for name, text in callers.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def kv(result, rule: str):
    return [f for f in result.findings if f.rule == rule]


def test_a_module_deployed_by_several_files_is_one_finding_naming_them(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")})
    [finding] = kv(scan([str(root)], Options()), "KV001")
    assert finding.path == str(root / "modules" / "vault.bicep")
    assert finding.line == VAULT_MODULE.splitlines().index("    accessPolicies: accessPolicies") + 1
    assert finding.data["callers"] == [f"{root / 'dev.bicep'}:1", f"{root / 'prod.bicep'}:1"]
    assert finding.message.endswith("(deployed by ../dev.bicep:1 and 1 more)") and "defaults" not in finding.message


def test_the_message_names_the_outermost_deploying_file_and_data_the_whole_chain(tmp_path):
    root = repo(tmp_path, {"main.bicep": "module mid 'modules/mid.bicep' = {\n  name: 'mid'\n}\n"})
    (root / "modules" / "mid.bicep").write_text(caller("kv-x").replace("modules/vault.bicep", "vault.bicep"))
    [finding] = kv(scan([str(root / "main.bicep")], Options()), "KV001")
    assert finding.data["callers"] == [f"{root / 'main.bicep'}:1 > {root / 'modules' / 'mid.bicep'}:1"]
    assert finding.message.endswith("(deployed by ../main.bicep:1)")
    assert "'kv-x'" in finding.message


def test_a_module_whose_only_caller_passes_policies_is_not_judged_on_its_empty_default(tmp_path):
    root = repo(tmp_path, {"main.bicep": caller("kv-x", GRANT)})
    result = scan([str(root)], Options())
    assert kv(result, "KV001") == []
    [replaced] = kv(result, "KV003")  # judged through its caller's value: one policy
    assert replaced.path.endswith("vault.bicep") and replaced.data["callers"] == [f"{root / 'main.bicep'}:1"]


def test_a_module_scanned_without_its_callers_is_judged_on_its_defaults(tmp_path):
    root = repo(tmp_path, {"main.bicep": caller("kv-x", GRANT)})
    [wiped] = kv(scan([str(root / "modules")], Options()), "KV001")
    assert wiped.path.endswith("vault.bicep") and "callers" not in wiped.data
    assert wiped.message.endswith("(its defaults: no caller in the scan)")  # and it says so


def test_the_fingerprint_stays_when_a_caller_is_added(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x")})
    [before] = kv(scan([str(root)], Options()), "KV001")
    (root / "prod.bicep").write_text(caller("kv-x"))
    [after] = kv(scan([str(root)], Options()), "KV001")
    assert len(after.data["callers"]) == 2 and len(before.data["callers"]) == 1
    assert (after.path, after.line, after.fingerprint) == (before.path, before.line, before.fingerprint)


def test_the_same_report_with_the_result_cache_and_without(tmp_path):
    root = repo(tmp_path / "repo", {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")}) \
        if (tmp_path / "repo").mkdir() is None else None
    plain = scan([str(root)], Options())
    options = Options(cache_dir=str(tmp_path / "cache"))
    cold, warm = scan([str(root)], options), scan([str(root)], options)
    assert warm.cache_hits > 0
    shown = [[f.to_json() for f in r.findings] for r in (plain, cold, warm)]
    assert shown[0] == shown[1] == shown[2]
    assert [f.rule for f in plain.findings].count("KV001") == 1


def test_a_suppression_in_the_module_file_hides_the_finding_from_every_caller(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")})
    text = VAULT_MODULE.replace("    accessPolicies: accessPolicies",
                                "    // preflight: ignore[KV001]\n    accessPolicies: accessPolicies")
    (root / "modules" / "vault.bicep").write_text(text)
    result = scan([str(root)], Options())
    assert kv(result, "KV001") == [] and kv(result, "PF004") == []


def test_a_note_about_a_module_is_reported_once_in_the_module(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")})
    (root / "modules" / "vault.bicep").write_text(VAULT_MODULE + "var script = loadTextContent('gone.ps1')\n")
    [note] = kv(scan([str(root)], Options()), "PF010")
    assert note.path.endswith("vault.bicep") and "gone.ps1" in note.message
    assert note.line == VAULT_MODULE.count("\n") + 1


def test_finops_hub_reports_each_vault_defect_once_in_its_module(corpus):
    folder = corpus / "azure-quickstart-templates/quickstarts/microsoft.costmanagement/finops-hub"
    found = scan([str(folder)], Options()).findings
    in_bicep = [f for f in found if f.path.endswith(".bicep")]
    module = str(folder / "modules" / "keyVault.bicep")
    assert [f for f in found if f.rule == "KV001"] == []  # its only caller passes policies
    [replaced] = [f for f in in_bicep if f.rule == "KV003"]
    assert replaced.path == module and replaced.data["callers"] == [f"{folder / 'main.bicep'}:33 > "
                                                                    f"{folder / 'modules' / 'hub.bicep'}:133"]
    keys = [(f.rule, f.path, f.line) for f in in_bicep]
    assert len(keys) == len(set(keys))  # no defect twice
    # azuredeploy.json, compiled from main.bicep, inlines the module: not reported again there
    assert [f.path for f in found if f.rule == "KV003"] == [module]
    assert replaced.data["compiled"] == [f"{folder / 'azuredeploy.json'}:1305"]
    [declared] = [f for f in in_bicep if f.rule == "KV019" and f.path == module and f.line == 53]
    [existing] = [f for f in in_bicep if f.rule == "KV019" and f.path.endswith("dataFactory.bicep")]
    assert declared.data["compiled"] == [f"{folder / 'azuredeploy.json'}:1292"] and "compiled" not in existing.data


# ---------------------------------------------------------------- compiled copies of Bicep files

OPEN_VAULT_MODULE = VAULT_MODULE.replace("    publicNetworkAccess: 'Disabled'\n", "")  # + KV015, a warning
VAULT_RESOURCE = {
    "type": "Microsoft.KeyVault/vaults",
    "apiVersion": "2024-11-01",
    "name": "[parameters('name')]",
    "location": "westeurope",
    "properties": {
        "tenantId": "[subscription().tenantId]",
        "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": False,
        "enablePurgeProtection": True,
        "accessPolicies": "[parameters('accessPolicies')]",
    },
}


def compiled(name: str, by: str | None = "bicep", inline: bool = True) -> str:
    """What `bicep build` makes of caller(name): the module inlined as a nested deployment (or,
    with `inline=False`, the vault declared at the top level)."""
    head = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0"}
    if by is not None:
        head["metadata"] = {"_generator": {"name": by, "version": "0.30.23.60470", "templateHash": "1"}}
    module = {**head, "parameters": {"name": {"type": "string"},
                                     "accessPolicies": {"type": "array", "defaultValue": []}},
              "resources": [VAULT_RESOURCE]}
    if not inline:
        return json.dumps({**module, "parameters": {"name": {"type": "string", "defaultValue": name},
                                                    "accessPolicies": {"type": "array", "defaultValue": []}}},
                          indent=2)
    return json.dumps({**head, "resources": [{
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "vault",
        "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "mode": "Incremental",
                       "parameters": {"name": {"value": name}, "accessPolicies": {"value": []}},
                       "template": module}}]}, indent=2)


def entries_with_copies(tmp_path, count: int, by: str | None = "bicep"):
    tmp_path.mkdir(exist_ok=True)
    root = repo(tmp_path, {f"env{i}.bicep": caller("kv-x") for i in range(count)})
    (root / "modules" / "vault.bicep").write_text(OPEN_VAULT_MODULE)
    for i in range(count):
        (root / f"env{i}.json").write_text(compiled("kv-x", by))
    return root


def test_a_module_in_ten_compiled_entries_is_one_warning_and_at_most_two_errors(tmp_path):
    root = entries_with_copies(tmp_path, 10)
    result = scan([str(root)], Options())
    [warning] = kv(result, "KV015")  # not once more in each env*.json
    assert warning.path == str(root / "modules" / "vault.bicep")
    assert warning.data["callers"] == sorted(f"{root / f'env{i}.bicep'}:1" for i in range(10))
    line = vault_properties_line(compiled("kv-x"))
    assert warning.data["compiled"] == sorted(f"{root / f'env{i}.json'}:{line}" for i in range(10))
    assert warning.message.endswith("(deployed by ../env0.bicep:1 and 9 more)")  # the copies: in data
    # A compiled template is deployed on its own too: its wipe stays an error on one copy (the
    # first by path), and the module's finding names the other nine. Two findings in all.
    wipes = kv(result, "KV001")
    assert sorted(f.path for f in wipes) == [str(root / "env0.json"), str(root / "modules" / "vault.bicep")]
    [in_module] = [f for f in wipes if f.path.endswith(".bicep")]
    [kept] = [f for f in wipes if f.path.endswith(".json")]  # every copy has the same shape
    assert in_module.data["compiled"] == sorted(f"{root / f'env{i}.json'}:{kept.line}" for i in range(1, 10))
    assert all("/properties/template/" in f.pointer for f in wipes if f.path.endswith(".json"))


def vault_properties_line(text: str) -> int:
    """The line of the vault's `properties` in a compiled template (where KV015 points)."""
    return next(n for n, line in enumerate(text.splitlines()) if '"tenantId"' in line)


def test_a_compiled_copy_is_kept_when_no_bicep_build_wrote_it_or_its_source_is_not_scanned(tmp_path):
    root = entries_with_copies(tmp_path, 2, by=None)  # hand-written nested deployments
    assert len(kv(scan([str(root)], Options()), "KV015")) == 3
    root = entries_with_copies(tmp_path / "other", 2)
    found = kv(scan([str(root / "env0.json"), str(root / "env1.json"), str(root / "modules")], Options()), "KV015")
    assert sorted(os.path.basename(f.path) for f in found) == ["env0.json", "env1.json", "vault.bicep"]


def test_a_defect_at_the_top_level_of_a_compiled_template_is_kept_beside_its_source(tmp_path):
    # A compiled entry template is deployed on its own (a Deploy-to-Azure button deploys the
    # JSON, not the Bicep): what is wrong at its own top level is its own finding.
    (tmp_path / ".git").mkdir()
    (tmp_path / "main.bicep").write_text(OPEN_VAULT_MODULE.replace("param name string", "param name string = 'kv-x'"))
    (tmp_path / "main.json").write_text(compiled("kv-x", inline=False))
    found = kv(scan([str(tmp_path)], Options()), "KV015")
    assert sorted(os.path.basename(f.path) for f in found) == ["main.bicep", "main.json"]
    assert all("compiled" not in f.data for f in found)


def test_the_fingerprint_stays_when_a_compiled_copy_is_added(tmp_path):
    root = entries_with_copies(tmp_path, 1)
    (root / "env0.json").unlink()
    [before] = kv(scan([str(root)], Options()), "KV015")
    (root / "env0.json").write_text(compiled("kv-x"))
    [after] = kv(scan([str(root)], Options()), "KV015")
    line = vault_properties_line(compiled("kv-x"))
    assert "compiled" not in before.data and after.data["compiled"] == [f"{root / 'env0.json'}:{line}"]
    assert (after.path, after.line, after.fingerprint) == (before.path, before.line, before.fingerprint)


def test_compiled_copies_fold_the_same_with_workers_the_result_cache_and_neither(tmp_path, monkeypatch):
    from preflight import engine

    root = entries_with_copies(tmp_path / "repo", 3)
    plain = scan([str(root)], Options(jobs=1))
    monkeypatch.setattr(engine, "POOL_MIN_FILES", 1)
    pooled = scan([str(root)], Options(jobs=2))
    options = Options(cache_dir=str(tmp_path / "cache"), jobs=1)
    cold, warm = scan([str(root)], options), scan([str(root)], options)
    assert warm.cache_hits > 0
    shown = [[f.to_json() for f in r.findings] for r in (plain, pooled, cold, warm)]
    assert shown[0] == shown[1] == shown[2] == shown[3]
    assert [f.rule for f in plain.findings].count("KV015") == 1


# ---------------------------------------------------------------- templateLink.relativePath

def linking(name: str, target: str = "modules/vault.json", policies: list | None = None) -> str:
    return json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{
            "type": "Microsoft.Resources/deployments",
            "apiVersion": "2022-09-01",
            "name": "vault",
            "properties": {"mode": "Incremental", "templateLink": {"relativePath": target},
                           "parameters": {"name": {"value": name}, "accessPolicies": {"value": policies or []}}},
        }]}, indent=2)


def linked_repo(tmp_path, callers: dict[str, str]):
    root = repo(tmp_path, callers)
    (root / "modules" / "vault.bicep").unlink()
    (root / "modules" / "vault.json").write_text(compiled("kv-default", by=None, inline=False))
    return root


def test_a_linked_template_deployed_by_several_files_is_one_finding_in_it_naming_them(tmp_path):
    root = linked_repo(tmp_path, {"dev.json": linking("kv-x"), "prod.json": linking("kv-x")})
    [wipe] = kv(scan([str(root)], Options()), "KV001")
    assert wipe.path == str(root / "modules" / "vault.json")
    lines = (root / "modules" / "vault.json").read_text().splitlines()
    assert lines[wipe.line - 1].strip().startswith('"accessPolicies"')
    assert wipe.data["callers"] == [f"{root / 'dev.json'}:5", f"{root / 'prod.json'}:5"]
    assert wipe.message.endswith("(deployed by ../dev.json:5 and 1 more)") and "linked from here" not in wipe.message


def test_a_linked_template_whose_callers_pass_policies_is_not_judged_on_its_empty_default(tmp_path):
    grant = [{"tenantId": "[subscription().tenantId]", "objectId": "00000000-0000-0000-0000-000000000001",
              "permissions": {"secrets": ["get"]}}]
    root = linked_repo(tmp_path, {"main.json": linking("kv-x", policies=grant)})
    assert kv(scan([str(root)], Options()), "KV001") == []
    [alone] = kv(scan([str(root / "modules")], Options()), "KV001")  # no caller in the scan
    assert alone.path.endswith("vault.json") and "callers" not in alone.data
    assert alone.message.endswith("(its defaults: no caller in the scan)")


def test_a_json_module_of_a_bicep_file_is_one_finding_in_it(tmp_path):
    root = linked_repo(tmp_path, {"main.bicep": caller("kv-x").replace("vault.bicep", "vault.json")})
    [wipe] = kv(scan([str(root)], Options()), "KV001")
    assert wipe.path == str(root / "modules" / "vault.json") and wipe.data["callers"] == [f"{root / 'main.bicep'}:1"]


def test_the_fingerprint_of_a_linked_template_finding_stays_when_a_caller_is_added(tmp_path):
    root = linked_repo(tmp_path, {"dev.json": linking("kv-x")})
    [before] = kv(scan([str(root)], Options()), "KV001")
    (root / "prod.json").write_text(linking("kv-x"))
    [after] = kv(scan([str(root)], Options()), "KV001")
    assert len(after.data["callers"]) == 2 and len(before.data["callers"]) == 1
    assert (after.path, after.line, after.fingerprint) == (before.path, before.line, before.fingerprint)


def test_generated_by_bicep_reads_only_the_top_level_generator(tmp_path):
    from preflight.definitions import generated_by_bicep

    def template(name: str, metadata: dict) -> str:
        path = tmp_path / name
        resources = [{"type": "Microsoft.Resources/deployments", "name": f"r{i}",
                      "properties": {"template": {"metadata": {"_generator": {"name": "bicep"}}}}}
                     for i in range(50)]
        path.write_text(json.dumps({"metadata": metadata, "resources": resources}))
        return str(path)

    assert generated_by_bicep(template("top.json", {"_generator": {"name": "bicep", "version": "0.1"}}))
    # A nested template's generator says nothing of the outer one.
    assert not generated_by_bicep(template("nested.json", {"_generator": {"name": "other"}}))
    assert not generated_by_bicep(template("none.json", {"description": "_generator bicep"}))
    # As JSON reads duplicate keys: the last one counts.
    path = tmp_path / "twice.json"
    path.write_text('{"metadata": {"_generator": {"name": "bicep"}}, "metadata": {"_generator": {"name": "x"}}}')
    assert not generated_by_bicep(str(path))
    path.write_text('{"metadata": {"_generator": {"name": "x"}}, "metadata": {"_generator": {"name": "bicep"}}}')
    assert generated_by_bicep(str(path))


def test_the_deploying_file_is_named_in_what_room_the_first_line_leaves():
    from preflight.definitions import _deployed_by

    module = "/repo/infra/modules/key-vault/vault.bicep"
    callers = ["/repo/infra/main.bicep:974 > /repo/infra/modules/key-vault/vault.bicep:3", "/repo/other.bicep:2"]
    assert _deployed_by(callers, module) == "deployed by ../../main.bicep:974 and 1 more"
    assert _deployed_by(callers, module, 40) == "deployed by ../../main.bicep and 1 more"
    assert _deployed_by(callers, module, 36) == "deployed by main.bicep and 1 more"
    assert _deployed_by(callers, module, 20) == "deployed by 2 files"


def test_module_calls_are_read_from_the_bytes_the_scan_read(tmp_path):
    """Links come from each file's bytes as the scan first reads them: a registry module, a link
    out of the repository and a file that calls itself deploy nothing scanned."""
    from preflight import definitions, fs

    (tmp_path / ".git").mkdir()
    calls = definitions.ModuleCalls()
    main, nested, vault = (str(tmp_path / n) for n in ("main.json", "nested.json", "vault.bicep"))
    with fs.scanning([str(tmp_path)]):
        calls.read(main, b'{"templateLink": {"relativePath": "nested.json"}, "x": {"relativePath": "../out.json"}}')
        calls.read(nested, b'{"templateLink": {"relativePath": "[variables(\'p\')]"}}')  # an expression
        calls.read(vault, b"module a 'br/public:avm/res/key-vault/vault:0.9.0' = {}\nmodule me 'vault.bicep' = {}\n")
    assert calls.called([main, nested, vault]) == {definitions.file_key(nested)}
    assert calls.called([main, vault]) == set()  # a link to a file the scan did not check


def ran_rules(monkeypatch) -> list[tuple[str, str]]:
    """(file name, rule id) of every rule check that runs from now on."""
    from preflight import engine

    ran: list[tuple[str, str]] = []
    check = engine.check_document

    def counting(doc, ctx, rules, in_modules=True):
        ran.extend((os.path.basename(doc.path), r.id) for r in rules)
        return check(doc, ctx, rules, in_modules)

    monkeypatch.setattr(engine, "check_document", counting)
    return ran


def test_a_deployed_module_runs_only_the_rules_about_its_own_text(tmp_path, monkeypatch):
    """Its own check's other findings would be dropped (it is judged through its callers): those
    rules do not run on it, and the report is the one of a full check."""
    from preflight import filters

    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x", GRANT)})
    ran = ran_rules(monkeypatch)
    result = scan([str(root)], Options(jobs=1))
    assert {rule for name, rule in ran if name == "vault.bicep"} == {"PF010"}
    assert {"KV001", "ARM004"} <= {rule for name, rule in ran if name == "dev.bicep"}
    monkeypatch.setattr(filters, "JUDGED_ON_ITS_OWN_TEXT", None)  # (not consulted when every rule runs)
    monkeypatch.setattr(filters.FindingFilter, "expect_deployed", lambda self, templates: None)
    full = scan([str(root)], Options(jobs=1))
    assert [f.to_json() for f in result.findings] == [f.to_json() for f in full.findings]
    assert [f.rule for f in result.findings].count("KV001") == 1


def test_a_deployed_module_with_suppressions_runs_every_rule(tmp_path, monkeypatch):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x")})
    text = VAULT_MODULE.replace("    accessPolicies: accessPolicies",
                                "    // preflight: ignore[KV001]\n    accessPolicies: accessPolicies")
    (root / "modules" / "vault.bicep").write_text(text)
    ran = ran_rules(monkeypatch)
    result = scan([str(root)], Options(jobs=1))
    assert "KV001" in {rule for name, rule in ran if name == "vault.bicep"}
    assert kv(result, "PF004") == []  # its own check used the suppression, as before


def test_a_file_whose_caller_does_not_load_as_a_template_is_judged_on_its_own(tmp_path, monkeypatch):
    """A JSON file that looks like a template and links to a module, but is not one: the module
    was expected to be judged through it, and is judged on its own after all."""
    from preflight import engine

    root = linked_repo(tmp_path, {"notes.json": json.dumps({
        "resources": "see below", "templateLink": {"relativePath": "modules/vault.json"}})})
    ran = ran_rules(monkeypatch)
    [wipe] = kv(scan([str(root)], Options(jobs=1)), "KV001")
    assert [rule for name, rule in ran if name == "vault.json"].count("PF010") == 2  # then every rule
    assert wipe.path.endswith("vault.json") and "callers" not in wipe.data
    assert wipe.message.endswith("(its defaults: no caller in the scan)")
    monkeypatch.setattr(engine, "POOL_MIN_FILES", 1)
    for jobs in (1, 2):
        [wipe] = kv(scan([str(root)], Options(jobs=jobs)), "KV001")
        assert wipe.path.endswith("vault.json") and "callers" not in wipe.data
        assert wipe.message.endswith("(its defaults: no caller in the scan)")


def test_a_cached_module_is_checked_again_when_its_last_caller_goes(tmp_path):
    """A module's cache entry from a scan that judged it through its callers holds only the
    findings about its own text: without a caller, it is checked in full again."""
    root = repo(tmp_path / "repo", {"dev.bicep": caller("kv-x")}) if (tmp_path / "repo").mkdir() is None else None
    options = Options(cache_dir=str(tmp_path / "cache"), jobs=1)
    [through] = kv(scan([str(root)], options), "KV001")
    assert through.data["callers"]
    (root / "dev.bicep").unlink()
    [alone] = kv(scan([str(root)], options), "KV001")
    assert "callers" not in alone.data and alone.message.endswith("(its defaults: no caller in the scan)")


def test_the_module_calls_to_a_pointer_are_those_whose_template_holds_it():
    """Outermost first; a call whose pointer is only a textual prefix (`/resources/1` of
    `/resources/10/...`) is not one of them."""
    from types import SimpleNamespace

    from preflight.bicep import module_calls

    outer, inner, other = object(), object(), object()
    doc = SimpleNamespace(cache={"bicep.modules": {
        "/resources/1/properties/template": other,
        "/resources/10/properties/template": outer,
        "/resources/10/properties/template/resources/0/properties/template": inner}})
    deep = "/resources/10/properties/template/resources/0/properties/template/resources/2/name"
    assert module_calls(doc, deep) == [outer, inner]
    assert module_calls(doc, "/resources/10/properties/template") == [outer]
    assert module_calls(doc, "/resources/10/properties/templates/x") == []
    assert module_calls(doc, "/resources/1/properties/template/a~1b") == [other]
    assert module_calls(doc, "") == []
