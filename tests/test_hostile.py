"""Hostile and broken inputs: every one gets a clear finding for its file, the scan goes on,
no traceback, no code from the input runs, bounded time and memory."""
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import FIXTURES, scan_json
from preflight.engine import Options, scan

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
TEMPLATE_HEAD = '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", '
# one known ENV005, proves the scan went on
GOOD_CONDA = "dependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n      - numpy\n"


def write(root, name, content):
    p = root / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def by_file(report):
    out = {}
    for f in report["findings"]:
        out.setdefault(os.path.basename(f["path"]), []).append(f)
    return out


@pytest.mark.parametrize("name, content, words", [
    ("truncated.json", TEMPLATE_HEAD + '"resources": [{"type": "Microsoft.KeyVault/vaults", ', "end of file"),
    ("binary.json", b"\x00\x01\x02\xff" * 100, "binary"),
    ("latin1.yml", "computeType: AKS\ndescription: caf\xe9\n".encode("latin-1"), "UTF-8"),
    # values under MAX_JSON_VALUES
    ("deep.json", TEMPLATE_HEAD + '"resources": ' + "[" * 100_000 + "]" * 100_000 + "}", "nesting"),
    ("tag.yml", "computeType: !!python/object/apply:os.system ['touch pwned']\n", "YAML"),
])
def test_broken_files_are_pf001_and_the_scan_goes_on(tmp_path, name, content, words):
    write(tmp_path, name, content)
    write(tmp_path, "zz-good.yml", GOOD_CONDA)
    report, proc = scan_json(str(tmp_path))
    files = by_file(report)
    assert proc.returncode == 1
    [pf] = files[name]
    assert pf["rule"] == "PF001" and words in pf["message"], pf
    assert [f["rule"] for f in files["zz-good.yml"]] == ["ENV005"]
    assert not (tmp_path / "pwned").exists()


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["computeType: AKS", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 400)]
    write(tmp_path, "bomb.yml", "\n".join(lines) + "\n")
    report, _ = scan_json(str(tmp_path))
    [pf] = by_file(report)["bomb.yml"]
    assert pf["rule"] == "PF001" and "alias" in pf["message"]


def test_file_over_the_size_cap_is_skipped_with_pf002(tmp_path):
    write(tmp_path, "huge.json", TEMPLATE_HEAD + '"resources": [], "x": "' + "a" * 4000 + '"}')
    write(tmp_path, ".preflight.toml", "max-file-size = 1000\n")
    write(tmp_path, "zz-good.yml", GOOD_CONDA)
    report, _ = scan_json(str(tmp_path))
    files = by_file(report)
    assert [f["rule"] for f in files["huge.json"]] == ["PF002"]
    assert "limit" in files["huge.json"][0]["message"]
    assert [f["rule"] for f in files["zz-good.yml"]] == ["ENV005"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX") or not hasattr(os, "mkfifo"), reason="POSIX only")
def test_fifos_sockets_devices_and_loops_never_hang(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.json"))
    os.symlink("/dev/zero", tmp_path / "zero.json")
    os.symlink(tmp_path, tmp_path / "loop")
    write(tmp_path, "zz-good.yml", GOOD_CONDA)
    try:
        report, proc = scan_json(str(tmp_path), str(tmp_path / "fifo.json"))
    finally:
        server.close()
    files = by_file(report)
    assert [f["rule"] for f in files["zz-good.yml"]] == ["ENV005"]
    assert [f["rule"] for f in files["fifo.json"]] == ["PF001"]  # named explicitly: reported, not opened
    assert "sock.json" not in files and "zero.json" not in files
    assert proc.returncode == 1


@pytest.mark.parametrize("content", [
    "dependencies: 3\n", "dependencies:\n  - 3.8\n  - null\n  - [a]\n  - pip: numpy\n",
    "dependencies:\n  - pip:\n      - 1\n      - {a: b}\n      - ''\n      - '-r'\n",
    "computeType: [1, 2]\nautoScaler: 5\n", "entryScript: {}\n",
    "name: d\nendpoint_name: [x]\ninstance_count: 'many'\n",
])
def test_wrong_types_never_crash(tmp_path, content):
    write(tmp_path, "odd.yml", content)
    report, proc = scan_json(str(tmp_path))
    assert proc.returncode in (0, 1)
    assert not [f for f in report["findings"] if f["rule"] == "PF003"], report["findings"]
    assert report["summary"]["files"] == 1  # classified by its content and checked, not skipped


def test_offline_scan_opens_no_socket(monkeypatch):
    attempts = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise OSError("network access during an offline scan")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    result = scan([str(FIXTURES)], Options())
    assert result.files > 0 and attempts == []
    assert not [f for f in result.findings if f.rule == "PF003"]


def test_report_paths_stay_inside_the_scanned_roots(tmp_path):
    inner = tmp_path / "repo"
    inner.mkdir()
    write(inner, "env.yml", GOOD_CONDA)
    outside = tmp_path / "outside.yml"
    outside.write_text(GOOD_CONDA)
    os.symlink(outside, inner / "link.yml")  # a symlinked file is reported under its link name
    report, _ = scan_json("repo", cwd=tmp_path)
    assert sorted(f["path"] for f in report["findings"]) == ["repo/env.yml", "repo/link.yml"]


def small_alias_bomb(levels=9, width=9):
    """81 aliases, well under the alias count limit, that expand to 9**9 items when walked."""
    lines = ["  a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines)


@pytest.mark.parametrize("name, content", [
    ("conda.yml", "name: e\nvariables:\n" + small_alias_bomb() + "\ndependencies:\n  - pip:\n    - *a9\n  - *a9\n"),
    ("deploy.yml", "computeType: AKS\ntags:\n" + small_alias_bomb() + "\n"),
    ("online.yml", "name: blue\nendpoint_name: ep\nenvironment_variables:\n" + small_alias_bomb() + "\n"),
    ("recursive.yml", "name: e\ndependencies: &d\n  - python=3.10.12\n  - *d\n"),
])
def test_alias_expansion_and_recursive_yaml_are_refused_quickly(tmp_path, name, content):
    write(tmp_path, name, content)
    write(tmp_path, "zz-good.yml", GOOD_CONDA)
    # named on the command line: a YAML file that only mentions `dependencies` and does not load
    # is otherwise not taken for a conda environment
    report, proc = scan_json(str(tmp_path), str(tmp_path / name))  # took minutes (str() of 9**9 items) before
    files = by_file(report)
    [pf] = files[name]
    assert pf["rule"] == "PF001" and ("alias bomb" in pf["message"] or "recursive" in pf["message"]), pf
    assert pf["line"] > 1  # at the first alias
    assert [f["rule"] for f in files["zz-good.yml"]] == ["ENV005"]


def test_anchors_and_merge_keys_of_ordinary_configs_still_load(tmp_path):
    write(tmp_path, "deploy.yml", "defaults: &d {cpu: 1, memoryInGB: 2}\ncomputeType: AKS\n"
                                  "containerResourceRequirements:\n  <<: *d\n  cpu: 2\nnumReplicas: 2\n")
    report, _ = scan_json(str(tmp_path))
    assert [f for f in report["findings"] if f["rule"] in ("PF001", "PF003")] == []


# ------------------------------------------------------------------------ all of it at once

MARKER = "python-tag-ran"
DEEP_TEMPLATE = TEMPLATE_HEAD + '"resources": ' + "[" * 200_000 + "]" * 200_000 + "}"


def vault_template(name="kv-good", resources_extra=(), **sections):
    vault = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-07-01", "name": name, "location": "westeurope",
             "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                            "accessPolicies": []}}
    return json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", **sections,
                       "resources": [vault, *resources_extra]})


def doubling(make):
    variables = {"v0": "abcdefghij"}
    for i in range(1, 31):
        variables[f"v{i}"] = make(f"variables('v{i - 1}')")
    return variables


def hostile_folder(root):
    """Every hostile input of the hardening issue, beside one good template with a KV001."""
    broken = {  # file -> the rule that must report it
        "truncated.json": (TEMPLATE_HEAD + '"resources": [{"type": "Microsoft.KeyVault/vaults", ', "PF001"),
        "binary.json": (b"\x00\x01\x02\xff" * 1000, "PF001"),
        "latin1.yml": ("computeType: AKS\ndescription: caf\xe9\n".encode("latin-1"), "PF001"),
        "deep.json": (DEEP_TEMPLATE, "PF001"),
        "alias-bomb.yml": ("computeType: AKS\n" + "\n".join(
            [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 10) + "]" for i in range(400)]), "PF001"),
        "small-alias-bomb.yml": ("computeType: AKS\ntags:\n" + small_alias_bomb() + "\n", "PF001"),
        "recursive.yml": ("name: blue\nendpoint_name: ep\nenvironment_variables: &e\n  A: *e\n", "PF001"),
        "python-tag.yml": (f"computeType: !!python/object/apply:os.system ['touch {root / MARKER}']\n", "PF001"),
        "python-new.yml": (f"entryScript: !!python/object/new:subprocess.Popen [['touch', '{root / MARKER}']]\n",
                           "PF001"),
        "python-name.yml": ("endpoint_name: ep\nname: !!python/name:os.system\n", "PF001"),
        "huge.json": (TEMPLATE_HEAD + '"resources": [], "pad": "' + "a" * (21 * 1024 * 1024) + '"}', "PF002"),
    }
    for name, (content, _) in broken.items():
        write(root, name, content)
    odd = {  # wrong types and expression bombs: no internal error, the scan goes on
        "resources-string.json": json.dumps({"$schema": SCHEMA, "resources": "Microsoft.KeyVault/vaults"}),
        "parameters-list.json": vault_template(parameters=[1, 2]),
        "depends-on.json": vault_template(resources_extra=[{"type": "Microsoft.Storage/storageAccounts",
                                                           "name": "s", "dependsOn": None, "copy": {"count": "3"}},
                                                          {"type": "x/y", "name": "t", "dependsOn": "s",
                                                           "properties": [1, "a"]}]),
        "conda-types.yml": "dependencies:\n  - 3.8\n  - null\n  - [a]\n  - pip: numpy\n",
        "deploy-types.yml": "computeType: [1, 2]\nautoScaler: 5\nnumReplicas: 'many'\n",
        "deep-call.json": vault_template("[" + "concat(" * 10_000 + "'a'" + ")" * 10_000 + "]"),
        "copy-count.json": json.dumps({"$schema": SCHEMA, "resources": [{
            "type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-07-01", "name": "kv-copy",
            "copy": {"name": "c", "count": 100_000_000}, "properties": {"accessPolicies": []}}]}),
        "variable-cycle.json": vault_template("[variables('a')]", variables={
            "a": "[variables('b')]", "b": "[variables('a')]"}),
        "huge-string.json": vault_template("[variables('big')]", variables={"big": "x" * 5_000_000}),
        "string-doubling.json": vault_template("[substring(variables('v30'), 0, 8)]",
                                               variables=doubling(lambda v: f"[concat({v}, {v})]")),
        "array-doubling.json": vault_template("kv-arrays", variables={
            **doubling(lambda v: f"[concat({v}, {v})]"), "v0": ["a"] * 10},
            outputs={"o": {"type": "int", "value": "[length(variables('v30'))]"}}),
        "object-doubling.json": vault_template("[substring(string(variables('v30')), 0, 8)]",
                                               variables=doubling(lambda v: {"l": f"[{v}]", "r": f"[{v}]"})),
    }
    for name, content in odd.items():
        write(root, name, content)
    os.mkfifo(root / "fifo.json")
    os.symlink("/dev/zero", root / "zero.json")
    os.symlink(root, root / "loop")
    os.symlink(root / "self-b.json", root / "self-a.json")
    os.symlink(root / "self-a.json", root / "self-b.json")
    write(root, "good.json", vault_template())
    return broken, odd


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


CPU_SECONDS = 6  # a bomb scan is killed past this much CPU time (wall time varies with the machine's load)


def limit_memory_and_time():
    limit_memory()
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def scan_under_limits(*paths):
    """Scan in a subprocess limited to 1 GiB of address space and CPU_SECONDS of CPU time:
    (findings by file name, CPU seconds used). A bomb that is not bounded is killed (or fails
    to allocate), and the assertions on its findings fail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "preflight", "scan", "--format", "json", *map(str, paths)],
                          capture_output=True, stdin=subprocess.DEVNULL, preexec_fn=limit_memory_and_time,
                          env=dict(os.environ, NO_COLOR="1", PREFLIGHT_NO_CACHE="1"), timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 1, (proc.returncode, proc.stderr.decode()[-2000:])
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return by_file(json.loads(proc.stdout)), cpu


def conda_of(entries):
    return "name: big\ndependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n" + "".join(
        f"      - pkg{i:06d}==1.0\n" for i in range(entries)) + "      - numpy\n"  # unpinned: one ENV005


@pytest.mark.parametrize("name, content, words", [
    # 18 MB: 1.7 GB and 114 s before; each entry is a node PyYAML composes and a requirement parsed
    ("environment.yml", conda_of(800_000), "YAML document of over 10,000 values is too large"),
    # 18 MB of `{},`: 2.8 GB and 80 s before (the parsed objects, and the positions of each)
    ("azuredeploy.json", TEMPLATE_HEAD + '"resources": [], "variables": {"x": [' + ",".join(["{}"] * 6_000_000)
     + "]}}", "JSON document of over 200,000 values is too large"),
])
def test_documents_of_millions_of_values_are_refused_within_memory_and_time(tmp_path, name, content, words):
    write(tmp_path, name, content)
    write(tmp_path, "zz-good.yml", GOOD_CONDA)
    files, _ = scan_under_limits(tmp_path)
    [pf] = files[name]
    assert pf["rule"] == "PF001" and words in pf["message"], pf
    assert [f["rule"] for f in files["zz-good.yml"]] == ["ENV005"]


def test_documents_just_under_the_value_limits_are_checked(tmp_path):
    write(tmp_path, "environment.yml", conda_of(9_000))
    write(tmp_path, "azuredeploy.json", vault_template(variables={"x": [{}] * 190_000}))
    files, _ = scan_under_limits(tmp_path)
    assert "PF001" not in {f["rule"] for found in files.values() for f in found}
    assert "KV001" in [f["rule"] for f in files["azuredeploy.json"]]
    assert "ENV005" in [f["rule"] for f in files["environment.yml"]]  # numpy unpinned: the file was read


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(os, "wait4"), reason="POSIX only")
def test_one_scan_of_every_hostile_input_beside_a_good_template(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    broken, odd = hostile_folder(root)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock.json"))
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    try:
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "preflight", "scan", "--format", "json", str(root)],
                                    stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=tmp_path,
                                    preexec_fn=limit_memory, env=dict(os.environ, NO_COLOR="1"))
            timer = threading.Timer(30, proc.kill)
            timer.start()
            started = time.monotonic()
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.monotonic() - started
            timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        server.close()
    errors = err.read_text()
    assert proc.returncode in (0, 1), (proc.returncode, errors[-3000:])
    assert "Traceback" not in errors
    assert elapsed < 30 and usage.ru_maxrss < 1024 * 1024  # KiB
    print(f"\nscan of {len(os.listdir(root))} entries: {elapsed:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MiB")
    files = by_file(json.loads(out.read_text()))
    for name, (_, rule) in broken.items():
        assert [f["rule"] for f in files.get(name, [])] == [rule], (name, files.get(name))
    assert "KV001" in [f["rule"] for f in files["good.json"]]
    everything = [f for found in files.values() for f in found]
    assert [f for f in everything if f["rule"] == "PF003"] == []
    assert {"ARM006"} <= {f["rule"] for f in files["variable-cycle.json"]}
    assert any("over ARM's limit of 800" in f["message"] for f in files["copy-count.json"])
    for name in ("fifo.json", "zero.json", "sock.json", "self-a.json", "self-b.json"):
        assert name not in files  # never opened, nothing to report
    assert not (root / MARKER).exists() and not (tmp_path / MARKER).exists()
    assert proc.returncode == 1


ARM_HEAD = ('"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", '
            '"contentVersion": "1.0.0.0"')


@pytest.mark.parametrize("body, pointer, words", [
    ('"resources": "oops"', "/resources", "`resources` is a string"),
    ('"parameters": [], "resources": []', "/parameters", "`parameters` is an array"),
    ('"resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st", '
     '"dependsOn": "x"}]',
     "/resources/0/dependsOn", "is a string; ARM expects an array"),
    ('"resources": [{"type": 5, "apiVersion": "2023-01-01", "name": "st"}]', "/resources/0/type", "is a number"),
    ('"resources": [3]', "/resources/0", "resource 0 is a number"),
])
def test_wrong_types_in_templates_are_reported_not_skipped(tmp_path, body, pointer, words):
    write(tmp_path, "t.json", "{" + ARM_HEAD + ", " + body + "}")
    report, proc = scan_json(str(tmp_path))
    hits = [f for f in report["findings"] if f["rule"] == "ARM007"]
    assert [f["pointer"] for f in hits] == [pointer] and words in hits[0]["message"], report["findings"]
    assert proc.returncode == 1


def test_expressions_stand_for_any_type_in_the_structure_check(tmp_path):
    write(tmp_path, "t.json", "{" + ARM_HEAD + ', "parameters": {"deps": {"type": "array", "defaultValue": []}}, '
          '"resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st", '
          '"dependsOn": "[parameters(\'deps\')]", "properties": "[json(\'{}\')]"}]}')
    report, _ = scan_json(str(tmp_path))
    assert not [f for f in report["findings"] if f["rule"] == "ARM007"]


def test_conda_file_with_dependencies_of_the_wrong_type_is_reported(tmp_path):
    write(tmp_path, "environment.yml", "name: scoring\ndependencies: 3\n")
    report, _ = scan_json(str(tmp_path))
    assert [f["rule"] for f in report["findings"]] == ["ENV009"]


def test_conda_file_with_a_python_tag_is_pf001_whether_found_or_named(tmp_path):
    """It was skipped without a word when found in a folder (the tag is never run either way).
    Its structure without the tag decides: a file that is no kind preflight reads stays silent."""
    marker = tmp_path / MARKER
    write(tmp_path, "envs/conda.yml", f"name: e\ndependencies:\n  - pip=23.3.1\n"
                                      f"  - !!python/object/apply:os.system ['touch {marker}']\n")
    write(tmp_path, "envs/stack.yml", "Resources:\n  Q:\n    DependsOn: dependencies\n    Name: !Ref Name\n")
    write(tmp_path, "envs/zz-good.yml", GOOD_CONDA)
    for args in ([str(tmp_path / "envs")], [str(tmp_path / "envs" / "conda.yml"), str(tmp_path / "envs")]):
        report, proc = scan_json(*args)
        files = by_file(report)
        assert proc.returncode == 1
        [pf] = files.pop("conda.yml")
        assert pf["rule"] == "PF001" and (pf["line"], pf["column"]) == (4, 5)
        assert pf["message"].startswith("unsupported YAML tag !!python/object/apply:os.system"), pf
        assert [f["rule"] for f in files.pop("zz-good.yml")] == ["ENV005"]
        assert files == {}  # stack.yml: a tagged file of no kind preflight reads
    assert not marker.exists()


def test_a_large_yaml_file_of_another_tool_is_not_reported_but_a_large_conda_file_is(tmp_path):
    """Too large to check is a finding only for a file that is ours: a big lock file of another
    tool that mentions `dependencies` at its top level stays silent."""
    from preflight.loaders import MAX_YAML_NODES

    entries = MAX_YAML_NODES  # each entry is two values: over the limit
    (tmp_path / "pnpm-lock.yaml").write_text(
        "lockfileVersion: 5.4\ndependencies:\n" + "".join(f"  pkg{i}: 1.0.{i}\n" for i in range(entries)))
    (tmp_path / "conda.yml").write_text(
        "name: big\nchannels:\n  - conda-forge\ndependencies:\n"
        + "".join(f"  - pkg{i}=1.0.{i}\n" for i in range(entries)))
    report, _ = scan_json(str(tmp_path))
    assert [(f["rule"], os.path.basename(f["path"])) for f in report["findings"]] == [("PF001", "conda.yml")]
    assert "too large to check" in report["findings"][0]["message"]
