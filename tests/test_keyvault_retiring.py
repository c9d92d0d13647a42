"""KV019: every Key Vault resource whose apiVersion retires on 2027-02-27, once, at its
apiVersion; a warning before that day and an error from it, with the day pinned for CI."""
from __future__ import annotations

import datetime
import json
import textwrap
from pathlib import Path

import pytest

from preflight import clock
from preflight.cli import build_options, build_parser
from preflight.engine import Options, scan
from preflight.findings import ERROR, WARNING

from conftest import PINNED_TODAY, run_cli, scan_json

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PROPS = {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"}, "accessPolicies": []}


def template(*resources, **top) -> str:
    return json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", **top, "resources": list(resources)}, indent=2)


def vault(api: str, name: str = "kv-one", **extra) -> dict:
    return {"type": "Microsoft.KeyVault/vaults", "apiVersion": api, "name": name, "location": "westeurope",
            "properties": dict(PROPS), **extra}


def kv019(path, **options) -> list:
    return [f for f in scan([str(path)], Options(**options)).findings if f.rule == "KV019"]


def line_of(path: Path, needle: str, nth: int = 1) -> tuple[int, int]:
    seen = 0
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in {path}")


# ------------------------------------------------------------------------ what is reported


def test_every_key_vault_type_before_2026_02_01_is_reported_at_its_api_version(tmp_path):
    path = tmp_path / "t.json"
    secret = {"type": "secrets", "apiVersion": "2019-09-01", "name": "s1", "properties": {"value": "x"},
              "dependsOn": ["kv-one"]}
    path.write_text(template(
        vault("2023-07-01", resources=[secret]),
        {"type": "Microsoft.KeyVault/vaults/accessPolicies", "apiVersion": "2025-05-01-preview",
         "name": "kv-one/add", "properties": {"accessPolicies": []}},
        {"type": "Microsoft.KeyVault/vaults/keys", "apiVersion": "2026-02-01", "name": "kv-one/k1",
         "properties": {"kty": "RSA"}},
        {"type": "Microsoft.KeyVault/vaults/secrets", "apiVersion": "2026-03-01-preview", "name": "kv-one/s2",
         "properties": {"value": "y"}},
        {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2019-06-01", "name": "st1"}))
    found = kv019(path)
    assert [(f.pointer, f.data["type"], f.data["apiVersion"]) for f in found] == [
        ("/resources/0/apiVersion", "Microsoft.KeyVault/vaults", "2023-07-01"),
        ("/resources/0/resources/0/apiVersion", "Microsoft.KeyVault/vaults/secrets", "2019-09-01"),
        ("/resources/1/apiVersion", "Microsoft.KeyVault/vaults/accessPolicies", "2025-05-01-preview"),
    ]
    assert (found[0].line, found[0].column) == line_of(path, '"apiVersion": "2023-07-01"')
    assert all(f.severity == WARNING for f in found)
    assert "'kv-one/add'" in found[2].message and "2025-05-01-preview" in found[2].message


def test_a_resource_is_reported_once_whatever_its_copies_and_parameter_files(tmp_path):
    path = tmp_path / "azuredeploy.json"
    looped = vault("2022-07-01", name="[concat('kv-', copyIndex())]", copy={"name": "vaults", "count": 3})
    path.write_text(template(looped, parameters={"env": {"type": "string", "defaultValue": "dev"}}))
    for env in ("test", "prod"):
        (tmp_path / f"azuredeploy.parameters.{env}.json").write_text(
            json.dumps({"parameters": {"env": {"value": env}}}))
    (f,) = kv019(path)
    assert f.pointer == "/resources/0/apiVersion" and "'kv-0', 'kv-1', 'kv-2'" in f.message


def test_nested_deployments_are_searched_and_unknown_versions_are_not_reported(tmp_path):
    inner = template(vault("2021-10-01", name="kv-inner"))
    path = tmp_path / "t.json"
    path.write_text(template(
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "nested",
         "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                        "template": json.loads(inner)}},
        vault("[parameters('kvApi')]", name="kv-param"),
        vault("[variables('kvApi')]", name="kv-var"),
        {"type": "Microsoft.KeyVault/vaults/providers/diagnosticSettings", "apiVersion": "2017-05-01-preview",
         "name": "kv-var/Microsoft.Insights/logs", "properties": {}},
        parameters={"kvApi": {"type": "string"}}, variables={"kvApi": "2019-09-01"}))
    found = kv019(path)
    # the parameter has no value: nothing is reported from it; the variable is known
    assert [f.pointer for f in found] == ["/resources/0/properties/template/resources/0/apiVersion",
                                          "/resources/2/apiVersion"]
    assert "'kv-inner'" in found[0].message and "'kv-var'" in found[1].message


def test_bicep_reports_at_the_type_string_and_through_modules(tmp_path):
    (tmp_path / "modules").mkdir()
    module = tmp_path / "modules" / "kv.bicep"
    module.write_text(textwrap.dedent("""\
        param name string
        resource kv 'Microsoft.KeyVault/vaults@2023-02-01' = {
          name: name
          location: resourceGroup().location
          properties: {
            tenantId: subscription().tenantId
            sku: { family: 'A', name: 'standard' }
            accessPolicies: []
          }
        }
        """))
    main = tmp_path / "main.bicep"
    main.write_text(textwrap.dedent("""\
        resource shared 'Microsoft.KeyVault/vaults@2019-09-01' existing = {
          name: 'kv-shared'
        }

        module vault 'modules/kv.bicep' = {
          name: 'vault'
          params: { name: 'kv-mod' }
        }

        resource current 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = {
          parent: shared
          name: 'token'
          properties: { value: 'x' }
        }

        output sharedUri string = shared.properties.vaultUri
        """))
    found = kv019(main)
    # The module's vault is reported where it is fixed, in the module, naming the caller.
    assert [(Path(f.path).name, f.line, f.column) for f in found] == [
        ("main.bicep", *line_of(main, "'Microsoft.KeyVault/vaults@2019")),
        ("kv.bicep", *line_of(module, "'Microsoft.KeyVault/vaults@"))]
    assert "(existing)" in found[0].message
    assert "2023-02-01" in found[1].message
    assert found[1].data["callers"] == [f"{main}:{line_of(main, 'module vault')[0]}"]
    (own,) = kv019(module)
    assert (own.line, own.column) == line_of(module, "'Microsoft.KeyVault/vaults@")


# ----------------------------------------------------------------- reads of a Key Vault resource


def test_a_json_read_of_a_vault_at_a_retiring_version_is_reported_at_the_expression(tmp_path):
    path = tmp_path / "t.json"
    kv = "resourceId('Microsoft.KeyVault/vaults', 'kv-read')"
    storage = "resourceId('Microsoft.Storage/storageAccounts', 'st1')"
    path.write_text(template(
        {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app",
         "properties": {"siteConfig": {"appSettings": [
             {"name": "VAULT", "value": f"[reference({kv}, '2019-09-01').vaultUri]"},
             {"name": "BOTH", "value": f"[concat(reference({kv}, '2019-09-01').vaultUri, reference({kv}, "
                                       f"'2019-09-01').vaultUri, reference({storage}, '2019-09-01').x)]"},
             {"name": "NEW", "value": f"[reference({kv}, '2026-02-01').vaultUri]"},
             {"name": "STORAGE", "value": f"[reference({storage}, '2019-09-01').x]"}]}}},
        outputs={"keys": {"type": "object", "value": f"[listKeys({kv}, '2022-07-01', 'Full')]"}}))
    found = sorted(kv019(path), key=lambda f: (f.pointer.startswith("/outputs"), f.pointer))
    settings = "/resources/0/properties/siteConfig/appSettings"
    assert [(f.pointer, f.data["apiVersion"], f.data["read"]) for f in found] == [
        (f"{settings}/0/value", "2019-09-01", "reference"),
        (f"{settings}/1/value", "2019-09-01", "reference"),  # the same call twice in a string: once
        ("/outputs/keys/value", "2022-07-01", "listKeys")]
    assert (found[0].line, found[0].column) == line_of(path, '"value": "[reference(')
    assert "`reference()` reads `Microsoft.KeyVault/vaults` 'kv-read' at apiVersion 2019-09-01" in found[0].message


def bicep_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "main.bicep"
    path.write_text(textwrap.dedent("""        resource keyVault 'Microsoft.KeyVault/vaults@2023-02-01' existing = {
          name: 'kv-existing'
        }
        """) + textwrap.dedent(body))
    return path


@pytest.mark.parametrize("body", [
    "output id string = keyVault.id\noutput name string = keyVault.name\n",
    # a deployed child names its parent: the child's own apiVersion is the call
    "resource s 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = {\n  parent: keyVault\n  name: 's'\n"
    "  properties: { value: 'x' }\n}\n",
    # an extension resource on the vault: a call of the other provider
    "resource lock 'Microsoft.Authorization/locks@2020-05-01' = {\n  scope: keyVault\n  name: 'l'\n"
    "  properties: { level: 'CanNotDelete' }\n}\n",
])
def test_an_existing_vault_used_only_for_its_id_or_name_is_not_a_call(tmp_path, body):
    assert kv019(bicep_file(tmp_path, body)) == []


@pytest.mark.parametrize("body", [
    "output uri string = keyVault.properties.vaultUri\n",
    "resource site 'Microsoft.Web/sites@2022-03-01' = {\n  name: 'app'\n  location: keyVault.location\n}\n",
    "var keys = keyVault.listKeys()\noutput k object = keys\n",
])
def test_an_existing_vault_whose_properties_are_read_is_reported(tmp_path, body):
    path = bicep_file(tmp_path, body)
    (found,) = kv019(path)
    assert (found.line, found.column) == line_of(path, "'Microsoft.KeyVault/vaults@2023-02-01'")
    assert "(existing)" in found.message and found.data["apiVersion"] == "2023-02-01"


# ------------------------------------------------------------------------------ the day


@pytest.mark.parametrize("day, severity, words", [
    ("2026-12-07", WARNING, "retiring 2027-02-27 (82 days left)"),
    ("2027-02-26", WARNING, "(1 day left)"),
    ("2027-02-27", ERROR, "retired on 2027-02-27 (today)"),
    ("2027-03-01", ERROR, "retired on 2027-02-27 (2 days ago)"),
])
def test_a_warning_until_the_day_and_an_error_from_it(tmp_path, day, severity, words):
    path = tmp_path / "t.json"
    path.write_text(template(vault("2023-07-01")))
    (f,) = kv019(path, today=datetime.date.fromisoformat(day))
    assert f.severity == severity and words in f.message and f.data["today"] == day


def test_the_day_comes_from_the_option_the_environment_or_the_configuration(tmp_path, monkeypatch):
    (tmp_path / "t.json").write_text(template(vault("2023-07-01")))
    report, proc = scan_json(str(tmp_path), "--no-cache", "--today", "2027-03-01", env={"PREFLIGHT_TODAY": ""})
    assert proc.returncode == 1 and [f["severity"] for f in report["findings"] if f["rule"] == "KV019"] == ["error"]
    report, _ = scan_json(str(tmp_path), "--no-cache", env={"PREFLIGHT_TODAY": "2027-02-27"})
    assert "(today)" in next(f["message"] for f in report["findings"] if f["rule"] == "KV019")
    (tmp_path / ".preflight.toml").write_text('today = "2027-02-28"\n')
    report, _ = scan_json(str(tmp_path), "--no-cache", env={"PREFLIGHT_TODAY": ""})
    assert "(1 day ago)" in next(f["message"] for f in report["findings"] if f["rule"] == "KV019")
    # the option wins over the environment, which wins over the configuration
    report, _ = scan_json(str(tmp_path), "--no-cache", "--today", "2026-12-26", env={"PREFLIGHT_TODAY": "2027-01-01"})
    assert "(63 days left)" in next(f["message"] for f in report["findings"] if f["rule"] == "KV019")
    report, _ = scan_json(str(tmp_path), "--no-cache", env={"PREFLIGHT_TODAY": "2027-01-01"})
    assert "(57 days left)" in next(f["message"] for f in report["findings"] if f["rule"] == "KV019")


@pytest.mark.parametrize("args, env, config, message", [
    (["--today", "2027-02-30"], "", "", "--today: '2027-02-30' is not a date (YYYY-MM-DD)"),
    ([], "tomorrow", "", "PREFLIGHT_TODAY: 'tomorrow' is not a date"),
    ([], "", 'today = "27/02/2027"\n', "'today': '27/02/2027' is not a date (YYYY-MM-DD)"),
    ([], "", 'today = "2027-13-01"\n', "'today': '2027-13-01' is not a date"),
])
def test_a_day_that_is_not_a_date_is_a_usage_error(tmp_path, args, env, config, message):
    (tmp_path / "t.json").write_text(template(vault("2023-07-01")))
    if config:
        (tmp_path / ".preflight.toml").write_text(config)
    proc = run_cli("scan", str(tmp_path), "--no-cache", *args, env={"PREFLIGHT_TODAY": env})
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_kv019_fails_a_default_run_from_the_retirement_day(tmp_path):
    """A warning before the day (reported, the run passes); an error from the day on, when the
    template no longer deploys (the run fails)."""
    properties = {**PROPS, "enableRbacAuthorization": True, "networkAcls": {"defaultAction": "Deny"}}
    (tmp_path / "t.json").write_text(template(vault("2023-07-01", properties=properties)))
    report, proc = scan_json(str(tmp_path), "--no-cache", "--today", "2027-02-26")
    assert [(f["rule"], f["severity"]) for f in report["findings"]] == [("KV019", "warning")] and proc.returncode == 0
    report, proc = scan_json(str(tmp_path), "--no-cache", "--today", "2027-02-27")
    assert [(f["rule"], f["severity"]) for f in report["findings"]] == [("KV019", "error")] and proc.returncode == 1


def test_the_cache_keys_on_the_day(tmp_path, monkeypatch):
    """Unpinned, the real date is a dependency of the files KV019 reports on: their cached
    warning becomes an error on the day, and files without a Key Vault stay cached."""
    monkeypatch.delenv("PREFLIGHT_TODAY")
    monkeypatch.delenv("PREFLIGHT_NO_CACHE", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    (project / "kv.json").write_text(template(vault("2023-07-01")))
    (project / "other.json").write_text(template({"type": "Microsoft.Storage/storageAccounts",
                                                  "apiVersion": "2019-06-01", "name": "st1"}))
    monkeypatch.chdir(project)

    def run(day: str):
        monkeypatch.setattr(clock, "real_today", lambda: clock.parse_day(day, "test"))
        options, _ = build_options(build_parser().parse_args(["scan", ".", "--cache-dir", str(tmp_path / "c")]))
        result = scan(["."], options)
        return result, [(f.severity, f.data["daysLeft"]) for f in result.findings if f.rule == "KV019"]

    assert run("2027-02-26")[1] == [(WARNING, 1)]
    again, found = run("2027-02-26")
    assert found == [(WARNING, 1)] and again.cache_hits == 2
    after, found = run("2027-02-27")
    assert found == [(ERROR, 0)] and after.cache_hits == 1  # only the file without a vault
    assert PINNED_TODAY < "2027-02-27"  # (the other tests run on a pinned day before it)


@pytest.mark.parametrize("output, reported", [("[resourceInfo('kv').id]", False), ("[reference('kv').vaultUri]", True)])
def test_a_symbolic_existing_vault_is_reported_when_its_symbol_is_read(tmp_path, output, reported):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({
        "$schema": SCHEMA, "contentVersion": "1.0.0.0", "languageVersion": "2.0",
        "resources": {"kv": {"existing": True, "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01",
                             "name": "kv-sym"}},
        "outputs": {"o": {"type": "string", "value": output}}}, indent=2))
    assert [f.pointer for f in kv019(path)] == (["/resources/kv/apiVersion"] if reported else [])


def test_a_read_is_found_in_any_case_and_not_under_a_comments_key(tmp_path):
    path = tmp_path / "t.json"
    kv = "resourceId('Microsoft.KeyVault/vaults', 'kv-read')"
    path.write_text(template(
        {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app",
         "properties": {"siteConfig": {"appSettings": [
             {"name": "VAULT", "value": f"[REFERENCE({kv}, '2019-09-01').vaultUri]"},
             {"name": "KEYS", "value": f"[string(ListKeys({kv}, '2022-07-01'))]"}]},
             "tags": {"comments": f"[reference({kv}, '2019-09-01').vaultUri]"}}}))
    found = sorted(kv019(path), key=lambda f: f.pointer)
    settings = "/resources/0/properties/siteConfig/appSettings"
    assert [(f.pointer, f.data["read"]) for f in found] == [(f"{settings}/0/value", "REFERENCE"),
                                                            (f"{settings}/1/value", "ListKeys")]


def test_a_bicep_variable_with_a_read_is_reported_at_each_place_that_uses_it(tmp_path):
    path = tmp_path / "main.bicep"
    path.write_text(textwrap.dedent("""\
        var uri = reference(resourceId('Microsoft.KeyVault/vaults', 'kv-read'), '2019-09-01').vaultUri
        resource site 'Microsoft.Web/sites@2022-03-01' = {
          name: 'app'
          location: 'westeurope'
          properties: {
            siteConfig: {
              appSettings: [
                { name: 'A', value: uri }
                { name: 'B', value: uri }
              ]
            }
          }
        }
        """))
    found = kv019(path)
    assert sorted((f.line, f.data["read"], f.data["apiVersion"]) for f in found) == [
        (8, "reference", "2019-09-01"), (9, "reference", "2019-09-01")]
