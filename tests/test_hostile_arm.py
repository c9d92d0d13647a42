"""Hostile ARM, Bicep and Azure ML documents: a wrong type at any level of any kind, and
expression bombs. None may fail inside preflight (PF003); each bomb ends in seconds with a
clear outcome, and the other files of the scan are still checked."""
import copy
import json
import time
import tracemalloc

import pytest
import yaml

from preflight.arm.evaluator import MAX_VALUE_SIZE, standalone_scope, value_size
from preflight.arm.expressions import Invalid, compile_string
from preflight.arm.template import Template
from preflight.arm.values import LIMIT, Unknown, find_unknown
from preflight.engine import Options, scan
from preflight.loaders import json_positions, load_json
from test_hostile import scan_under_limits

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
# A wrong type for every slot: each JSON type, empty containers, containers of odd items, a
# number written as a string, and strings that look like broken expressions.
ODD = ["x", 3, -1, 1.5, True, None, [], {}, [None, 1, "a"], {"a": None}, "100000000", "[", "[concat(]"]


def vault(name="kv-good", **properties):
    props = {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
             "accessPolicies": []}
    props.update(properties)
    return {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-07-01", "name": name, "location": "westeurope",
            "properties": props}


def template(*resources, **sections):
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", **sections, "resources": list(resources)}


GOOD_TEMPLATE = template(vault())  # a known KV001: proves the scan went on

TEMPLATE = template(
    vault("[variables('v')]", enableSoftDelete=True, softDeleteRetentionInDays=7, networkAcls={"defaultAction": "Deny"},
          accessPolicies=[{"tenantId": "t", "objectId": "o", "permissions": {"keys": ["get"], "secrets": ["all"]}}]),
    {"type": "Microsoft.MachineLearningServices/workspaces", "apiVersion": "2023-04-01", "name": "w",
     "dependsOn": ["[resourceId('Microsoft.KeyVault/vaults', variables('v'))]"], "copy": {"name": "c", "count": 1},
     "condition": True, "properties": {"keyVault": "[resourceId('Microsoft.KeyVault/vaults', variables('v'))]"}},
    {"type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments", "apiVersion": "2023-04-01",
     "name": "w/e/d", "sku": {"capacity": 1}, "properties": {"instanceType": "Standard_DS3_v2"}},
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                    "parameters": {"a": {"value": 1}},
                    "template": template(vault("kv-nested"), parameters={"a": {"type": "int"}})}},
    parameters={"p": {"type": "string", "defaultValue": "kv-a", "allowedValues": ["kv-a"], "minLength": 3}},
    variables={"v": "[parameters('p')]", "copy": [{"name": "vs", "count": 2, "input": "[copyIndex('vs')]"}]},
    functions=[{"namespace": "ns", "members": {"f": {"parameters": [{"name": "x", "type": "string"}],
                                                     "output": {"type": "string", "value": "[parameters('x')]"}}}}],
    outputs={"o": {"type": "string", "value": "[variables('v')]"}},
)
PARAMETERS = {"$schema": PARAMS_SCHEMA, "contentVersion": "1.0.0.0",
              "parameters": {"p": {"value": "kv-b"}, "q": {"reference": {"keyVault": {"id": "x"}, "secretName": "s"}}}}
CONDA = {"name": "e", "channels": ["conda-forge"],
         "dependencies": ["python=3.10.12", "pip=23.3.1", {"pip": ["numpy==1.26.4", "--index-url https://x"]}]}
DEPLOY_V1 = {"computeType": "AKS", "autoScaler": {"autoscaleEnabled": True, "minReplicas": 1, "maxReplicas": 3},
             "containerResourceRequirements": {"cpu": 0.5, "memoryInGB": 1, "cpuLimit": 1}, "numReplicas": 2,
             "scoringTimeoutMs": 60000, "livenessProbeRequirements": {"periodSeconds": 10, "timeoutSeconds": 2}}
INFERENCE_V1 = {"entryScript": "score.py", "sourceDirectory": ".", "condaFile": "conda.yml",
                "environment": {"python": {"condaDependencies": {"dependencies": ["python=3.8", {"pip": ["x"]}]}}}}
ONLINE_V2 = {"$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
             "name": "blue", "endpoint_name": "ep", "model": {"path": "m"},
             "code_configuration": {"code": ".", "scoring_script": "score.py"},
             "environment": {"image": "img", "conda_file": "conda.yml"}, "instance_type": "Standard_DS3_v2",
             "instance_count": 1, "request_settings": {"request_timeout_ms": 5000},
             "scale_settings": {"type": "target_utilization", "min_instances": 1, "max_instances": 3}}
BATCH_V2 = {"$schema": "https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json", "name": "b",
            "endpoint_name": "ep", "model": "azureml:m:1", "compute": "c", "mini_batch_size": 10,
            "retry_settings": {"max_retries": 3}, "environment": {"image": "i", "conda_file": "conda.yml"}}
ENVIRONMENT_V2 = {"$schema": "https://azuremlschemas.azureedge.net/latest/environment.schema.json", "name": "e",
                  "image": "i", "conda_file": {"dependencies": ["python=3.10", {"pip": ["numpy"]}]}}
SCORE = "def init():\n    pass\n\n\ndef run(data):\n    return data\n"


def paths(value, path=()):
    """Every place in a document: the root, each member and each item, at every depth."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, path + (i,))


def with_value(document, path, value):
    if not path:
        return value
    out = copy.deepcopy(document)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def mutants(document):
    for path in paths(document):
        for odd in ODD:
            yield with_value(document, path, odd)


def internal_errors(result):
    return [f"{f.path}: {f.message}" for f in result.findings if f.rule == "PF003"]


def scan_quietly(*paths_):
    return scan([str(p) for p in paths_], Options())


@pytest.mark.parametrize("name, document, write", [
    ("azuredeploy.json", TEMPLATE, json.dumps),
    ("conda.yml", CONDA, yaml.safe_dump),
    ("deploy.yml", DEPLOY_V1, yaml.safe_dump),
    ("inferenceconfig.json", INFERENCE_V1, json.dumps),
    ("online.yml", ONLINE_V2, yaml.safe_dump),
    ("batch.yml", BATCH_V2, yaml.safe_dump),
    ("environment.yml", ENVIRONMENT_V2, yaml.safe_dump),
])
def test_a_wrong_type_anywhere_is_never_an_internal_error(tmp_path, name, document, write):
    written = 0
    for i, mutant in enumerate(mutants(document)):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        (folder / name).write_text(write(mutant))
        if name != "conda.yml":  # what configs and deployments link to
            (folder / "conda.yml").write_text(yaml.safe_dump(CONDA))
        (folder / "score.py").write_text(SCORE)
        written += 1
    (tmp_path / "good.json").write_text(json.dumps(GOOD_TEMPLATE))
    result = scan_quietly(tmp_path)
    assert written > 100
    assert internal_errors(result) == []
    assert [f.rule for f in result.findings if f.path.endswith("good.json") and f.rule == "KV001"] == ["KV001"]


def test_a_wrong_type_anywhere_in_a_parameter_file_is_never_an_internal_error(tmp_path):
    for i, mutant in enumerate(mutants(PARAMETERS)):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        (folder / "azuredeploy.json").write_text(json.dumps(TEMPLATE))
        (folder / "azuredeploy.parameters.json").write_text(json.dumps(mutant))
    result = scan_quietly(tmp_path)
    checked = [path.rsplit("/", 1)[-1] for path in result.checked]
    assert checked.count("azuredeploy.json") == len(list(mutants(PARAMETERS))) > 100  # every template was checked
    assert internal_errors(result) == []


@pytest.mark.parametrize("mutant, expected", [
    (template(vault(), parameters=[1, 2]), "KV001"),  # parameters as a list
    ({"$schema": SCHEMA, "resources": "Microsoft.KeyVault/vaults"}, None),  # resources as a string
    (template(dict(vault(), dependsOn=None)), "KV001"),
    (template(dict(vault(), dependsOn="kv-other")), "KV001"),
    (template(dict(vault(), copy={"name": "c", "count": "3"})), "KV001"),  # a count written as a string
    (template(dict(vault(), properties=[{"accessPolicies": []}])), None),  # properties as a list
    (template(vault(softDeleteRetentionInDays="7", enableSoftDelete="false")), "KV001"),
    (template(vault(accessPolicies="[]")), None),  # '[]' is an invalid expression, not an empty list
    (template(vault(accessPolicies=[None, 3, "x", []])), "KV003"),
    (template(vault(accessPolicies=[{"tenantId": 1, "objectId": [], "permissions": "all"}])), "KV003"),
    ({"$schema": SCHEMA, "languageVersion": "2.0", "resources": {"kv": vault(), "odd": 3}}, "KV001"),
])
def test_named_wrong_types_give_the_findings_that_still_hold(tmp_path, mutant, expected):
    (tmp_path / "t.json").write_text(json.dumps(mutant))
    result = scan_quietly(tmp_path / "t.json")
    assert internal_errors(result) == []
    assert result.files == 1
    rules = {f.rule for f in result.findings}
    if expected:
        assert expected in rules, result.findings


BICEP = """@allowed([{0}])
@minLength({1})
param kvName string = {2}
@secure()
param secret string = {3}
param items array = {4}
var policies = {5}
resource kv 'Microsoft.KeyVault/vaults@2022-07-01' = if ({6}) {{
  name: {7}
  location: {8}
  properties: {{
    tenantId: {9}
    sku: {10}
    accessPolicies: {11}
  }}
}}
resource many 'Microsoft.KeyVault/vaults@2022-07-01' = [for (x, i) in {12}: {{
  name: '${{kvName}}-${{i}}'
  properties: {{
    accessPolicies: [for p in {13}: {{
      tenantId: {14}
      objectId: {15}
      permissions: {16}
    }}]
  }}
}}]
module m './mod.bicep' = {{
  name: {17}
  params: {18}
}}
output o string = {19}
"""
BICEP_GOOD = ["'kv-a'", "3", "'kv-a'", "'s3cr3t'", "[1, 2]", "[]", "true", "kvName", "'westeurope'",
              "subscription().tenantId", "{family: 'A', name: 'standard'}", "policies", "range(0, 2)", "items", "'t'",
              "'o'", "{keys: ['get']}", "'m'", "{x: 1}", "kv.name"]
BICEP_ODD = ["'x'", "3", "-1", "null", "[]", "{}", "true", "[null, 1, 'a']", "{a: null}", "'100000000'",
             "range(0, 100000000)", "kv.properties.x.y", "items[99]", "json('[[[')", "concat(", "!", "'${'"]


def test_a_wrong_type_anywhere_in_a_bicep_file_is_never_an_internal_error(tmp_path):
    (tmp_path / "mod.bicep").write_text("param x int\nresource k 'Microsoft.KeyVault/vaults@2022-07-01' = {\n"
                                        "  name: 'kv-m'\n  properties: {\n    accessPolicies: x\n  }\n}\n")
    count = 0
    for i in range(len(BICEP_GOOD)):
        for j, odd in enumerate(BICEP_ODD):
            values = list(BICEP_GOOD)
            values[i] = odd
            (tmp_path / f"m{i}-{j}.bicep").write_text(BICEP.format(*values))
            count += 1
    (tmp_path / "good.bicep").write_text(BICEP.format(*BICEP_GOOD))
    result = scan_quietly(tmp_path)
    assert result.files == count + 2
    assert internal_errors(result) == []
    assert "KV001" in {f.rule for f in result.findings if f.path.endswith("good.bicep")}
    # the ones that do not parse say so, at the parser's position
    assert {f.path.rsplit("/", 1)[-1] for f in result.findings if f.rule == "PF001"} >= {"m1-14.bicep", "m2-16.bicep"}


# ----------------------------------------------------------------------------- expression bombs

def nested(depth, function="concat", leaf="'a'"):
    return "[" + f"{function}(" * depth + leaf + ")" * depth + "]"


def doubling(kind, count=30):
    """30 variables, each holding the one before it twice."""
    variables = {"v0": {"strings": "abcdefghij" * 10, "arrays": ["a"] * 10, "objects": {"a": 1}}[kind]}
    for i in range(1, count + 1):
        ref = f"variables('v{i - 1}')"
        variables[f"v{i}"] = {"strings": f"[concat({ref}, {ref})]", "arrays": f"[concat({ref}, {ref})]",
                              "objects": {"left": f"[{ref}]", "right": f"[{ref}]"}}[kind]
    return variables


BOMBS = {
    # name: (template, a rule the vault is still reported by, words of the outcome)
    "deep-call": (template(vault(nested(10_000))), "KV001", "concat(concat("),
    "copy-count": (template(dict(vault(), copy={"name": "c", "count": 100_000_000})), "KV001",
                   "copy count 100000000 is over ARM's limit of 800"),
    "copy-count-expression": (template(dict(vault(), copy={"name": "c", "count": "[mul(10000, 10000)]"})), "KV001",
                              "over ARM's limit"),
    "property-copy": (template(dict(vault(), properties={"tenantId": "t", "sku": {"family": "A", "name": "standard"},
                                                         "copy": [{"name": "accessPolicies", "count": 100_000_000,
                                                                   "input": {"tenantId": "t", "objectId": "o"}}]})),
                      "KV004", "copy count 100000000 is over ARM's limit of 800"),
    "variable-cycle": (template(vault("[variables('a')]"), variables={
        "a": "[variables('b')]", "b": "[concat(variables('c'), 'x')]", "c": "[variables('a')]"}), "ARM006",
        "a -> b -> c -> a"),
    "huge-string": (template(vault("[variables('big')]"), variables={"big": "x" * 5_000_000}), "KV017", "xxxxx"),
    "string-doubling": (template(vault("[substring(variables('v30'), 0, 10)]"), variables=doubling("strings")),
                        "KV001", "substring(variables('v30')"),
    "array-doubling": (template(vault(accessPolicies="[take(variables('v30'), 0)]"), variables=doubling("arrays")),
                       "KV004", "evaluation budget for this template was exhausted"),
    "object-doubling": (template(vault(accessPolicies="[if(empty(string(variables('v30'))), createArray(), "
                                                     "createArray(1))]"),
                                 variables=doubling("objects")), "KV004", "a value of over 1,000,000 elements"),
    "quadratic-union": (template(vault(accessPolicies="[take(union(range(0, 10000), range(0, 10000)), 0)]")), "KV004",
                        "element comparisons"),
    "range": (template(vault(accessPolicies="[take(range(0, 100000000), 0)]")), "KV004", "over preflight's limit"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_expression_bombs_end_quickly_with_a_clear_outcome(tmp_path, name):
    document, rule, words = BOMBS[name]
    (tmp_path / "bomb.json").write_text(json.dumps(document))
    (tmp_path / "good.json").write_text(json.dumps(GOOD_TEMPLATE))
    started = time.perf_counter()
    result = scan_quietly(tmp_path)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"{name} took {elapsed:.1f} s"
    assert internal_errors(result) == []
    bomb = [f for f in result.findings if f.path.endswith("bomb.json")]
    assert any(f.rule == rule and words in f.message for f in bomb), [(f.rule, f.message[:300]) for f in bomb]
    assert "KV001" in {f.rule for f in result.findings if f.path.endswith("good.json")}


def test_a_deeply_nested_expression_is_refused_by_the_parser_not_the_stack():
    compiled = compile_string(nested(10_000))
    assert isinstance(compiled, Invalid) and "nested deeper" in compiled.error


def evaluate_variable(variables, name):
    scope = standalone_scope(Template.from_json(template(variables=variables), None, ""))
    return scope.frame.variable(name)


@pytest.mark.parametrize("kind", ["arrays", "objects"])
def test_values_that_double_30_times_are_cut_at_the_size_bound(kind):
    started = time.perf_counter()
    small, big = [evaluate_variable(doubling(kind), f"v{i}") for i in (10, 30)]
    assert time.perf_counter() - started < 5
    assert find_unknown(small) is None  # 10 doublings stay well under the bound
    # the variable that went over is unknown; what is built on it stays small
    limit = find_unknown(big)
    assert limit is not None and {kind for kind, _ in limit.needs} == {LIMIT}
    assert value_size(big, {}, MAX_VALUE_SIZE)[0] < 20_000  # an object's keys count too


def test_a_value_just_under_the_size_bound_is_kept():
    # a list of n scalars has a size of n + 1; concat()'s two arguments, 2n + 3
    n = MAX_VALUE_SIZE // 2 - 2
    value = evaluate_variable({"a": [1] * n, "b": "[concat(variables('a'), variables('a'))]"}, "b")
    assert isinstance(value, list) and len(value) == 2 * n
    value = evaluate_variable({"a": [1] * (n + 1), "b": "[concat(variables('a'), variables('a'))]"}, "b")
    assert isinstance(value, Unknown) and "over 1,000,000 elements" in describe_unknown(value)


def describe_unknown(value):
    return "; ".join(why for _, why in value.needs)


def test_a_5_mb_string_costs_megabytes_not_a_gigabyte_in_the_json_loaders():
    text = json.dumps({"$schema": SCHEMA, "variables": {"big": "x" * 5_000_000, "esc": "\\n" * 1_000_000},
                       "resources": []})
    tracemalloc.start()
    try:
        positions = json_positions(text)
        load_json(text.replace('"resources"', '// comment\n"resources"'))  # through the comment stripper
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert positions["/variables/big"] == (1, text.index('"big"') + 1)
    assert peak < 150 * 1024 * 1024, f"{peak / 2**20:.0f} MB"


# ------------------------------------------- bombs under a memory and CPU limit, in a subprocess

def chain(count, link="[variables('v{previous}')]"):
    """v1 = variables('v0'), v2 = variables('v1'), ...: one Python recursion per link, unsettled."""
    variables = {"v0": "kv-chain"}
    for i in range(1, count + 1):
        variables[f"v{i}"] = link.format(previous=i - 1)
    return variables


def parameter_chain(count):
    parameters = {"p0": {"type": "string", "defaultValue": "kv-chain"}}
    for i in range(1, count + 1):
        parameters[f"p{i}"] = {"type": "string", "defaultValue": f"[parameters('p{i - 1}')]"}
    return parameters


BIG = "[padLeft('', 16000, '😀')]"  # 16,000 characters of 4 bytes each (padLeft()'s own limit is 16,384)
GROWING = "'" + "a" * 96 + "'"
LIMITED_BOMBS = {
    # name: the template (its vault named by the bomb, so that it is evaluated), words of the KV001
    "variable-chain-140": (template(vault("[variables('v140')]"), variables=chain(140)), "'kv-chain'"),
    "variable-chain-2000": (template(vault("[variables('v2000')]"), variables=chain(2000)), "'kv-chain'"),
    "parameter-chain-400": (template(vault("[parameters('p400')]"), parameters=parameter_chain(400)), "'kv-chain'"),
    "computed-chain-400": (template(vault("[variables('v400')]"),
                                    variables=chain(400, "[variables(concat('v', '{previous}'))]")),
                           "`[variables('v400')]`"),
    "format-width": (template(vault("[format('{0,1500000000}', 'x')]")), "`[format("),
    "format-n": (template(vault("[format('{0:N1500000000}', 1)]")), "`[format("),
    "format-d": (template(vault("[format('{0:D1500000000}', 1)]")), "`[format("),
    "format-x": (template(vault("[format('{0:X1500000000}', 1)]")), "`[format("),
    "format-width-digits": (template(vault("[format('{0," + "9" * 5000 + "}', 'x')]")), "`[format("),
    "replace": (template(vault("[variables('b')]"), variables={
        "a": BIG, "b": "[replace(variables('a'), '😀', concat(variables('a'), variables('a')))]"}),
        "`[variables('b')]`"),
    "join": (template(vault("[variables('b')]"), variables={
        "a": BIG, "b": "[join(range(0, 10000), concat(variables('a'), variables('a')))]"}), "`[variables('b')]`"),
    "reduce-growing-string": (template(vault(
        "[reduce(range(0, 10000), '', lambda('s', 'i', concat(lambdaVariables('s'), " + GROWING + ")))]")),
        "`[reduce("),
    "reduce-doubling-unknown": (template(vault(  # an unknown string's parts double each step
        "[reduce(range(0, 60), 'x', lambda('s', 'i', concat(lambdaVariables('s'), parameters('p'), "
        "lambdaVariables('s'))))]"), parameters={"p": {"type": "string"}}), "`[reduce("),
    "reduce-squaring": (template(vault(
        "[string(reduce(range(0, 60), 3, lambda('n', 'i', mul(lambdaVariables('n'), lambdaVariables('n')))))]")),
        "`[string(reduce("),
    "map-strings": (template(vault("[string(map(range(0, 10000), lambda('i', concat(variables('a'), "
                                   "variables('a'), string(lambdaVariables('i'))))))]"), variables={"a": BIG}),
                    "`[string(map("),
    "object-keys": (template(vault("[string(toObject(range(0, 10000), lambda('i', concat(variables('a'), "
                                   "string(lambdaVariables('i'))))))]"), variables={"a": BIG}), "`[string(toObject("),
    "string-of-keys": (template(vault("[string(variables('o'))]"), variables={
        "o": "[toObject(range(0, 60), lambda('i', padLeft(string(lambdaVariables('i')), 16000, '☃')))]"}),
        "`[string(variables('o'))]`"),
}


@pytest.mark.parametrize("name", list(LIMITED_BOMBS))
def test_expression_bombs_stay_within_memory_and_time_and_the_vault_is_still_reported(tmp_path, name):
    document, words = LIMITED_BOMBS[name]
    (tmp_path / "bomb.json").write_text(json.dumps(document))
    files, cpu = scan_under_limits(tmp_path / "bomb.json")
    findings = files["bomb.json"]
    assert [f for f in findings if f["rule"] == "PF003"] == []
    assert any(f["rule"] == "KV001" and words in f["message"] for f in findings), \
        [(f["rule"], f["message"][:200]) for f in findings]
    print(f"{name}: {cpu:.1f} s of CPU")


def test_a_json_integer_of_thousands_of_digits_is_read(tmp_path):
    text = json.dumps(template(vault("[string(variables('n'))]"), vault("kv-other"), variables={"n": 12345}))
    (tmp_path / "bomb.json").write_text(text.replace("12345", "9" * 5000))
    files, _ = scan_under_limits(tmp_path / "bomb.json")
    findings = files["bomb.json"]
    assert [f for f in findings if f["rule"] == "PF003"] == []
    assert {f["message"].split(" has `accessPolicies")[0] for f in findings if f["rule"] == "KV001"} == {
        "Key Vault 'inf'", "Key Vault 'kv-other'"}  # read as a float: too long for any integer check


def test_a_bicep_file_of_200_chained_variables_is_evaluated(tmp_path):
    lines = ["var v0 = 'kv-chain'"] + [f"var v{i} = v{i - 1}" for i in range(1, 201)]
    lines += ["resource kv 'Microsoft.KeyVault/vaults@2022-07-01' = {", "  name: v200", "  location: 'westeurope'",
              "  properties: {", "    tenantId: subscription().tenantId", "    sku: {family: 'A', name: 'standard'}",
              "    accessPolicies: []", "  }", "}"]
    (tmp_path / "main.bicep").write_text("\n".join(lines) + "\n")
    files, _ = scan_under_limits(tmp_path / "main.bicep")
    assert [f for f in files["main.bicep"] if f["rule"] == "PF003"] == []
    assert any(f["rule"] == "KV001" and "'kv-chain'" in f["message"] for f in files["main.bicep"])


@pytest.mark.parametrize("resources, not_checked", [
    ([dict(vault(f"[concat('kv-{i}-', copyIndex())]"), copy={"name": f"c{i}", "count": 800}) for i in range(50)],
     "35,000 Key Vault instances not checked"),
    ([vault(f"kv-{i}") for i in range(6000)], "1,000 Key Vault instances not checked"),
    # 7 x 800, then 6 loops of a count only the deployer gives: each past the limit counts as one
    ([dict(vault(f"[concat('kv-{i}-', copyIndex())]"), copy={"name": f"c{i}", "count": 800}) for i in range(7)]
     + [dict(vault(f"[concat('kv-n{i}-', copyIndex())]"), copy={"name": f"n{i}", "count": "[parameters('n')]"})
        for i in range(6)], "at least 606 Key Vault instances not checked"),
])
def test_vaults_past_the_instance_limit_are_counted_in_a_notice(tmp_path, resources, not_checked):
    document = template(*resources, parameters={"n": {"type": "int"}})
    (tmp_path / "many.json").write_text(json.dumps(document))
    files, _ = scan_under_limits(tmp_path / "many.json")
    findings = files["many.json"]
    notices = [f for f in findings if f["rule"] == "KV004" and "not checked" in f["message"]]
    assert len(notices) == 1 and notices[0]["severity"] == "info", notices
    assert notices[0]["message"].startswith(not_checked), notices[0]["message"]
    assert "more than 5,000 resource instances" in notices[0]["message"]
    assert any(f["rule"] == "KV001" for f in findings)  # the first 5,000 were checked
