"""Hostile and broken inputs: every one gets a clear finding for its file, the scan goes on,
no traceback, no code from the input runs, bounded time and memory."""
import os
import socket
import sys

import pytest

from conftest import FIXTURES, scan_json
from preflight.engine import Options, scan

TEMPLATE_HEAD = '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", '
GOOD_CONDA = "dependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n      - numpy\n"  # one known ENV005, proves the scan went on


def write(root, name, content):
    p = root / name
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
    ("deep.json", TEMPLATE_HEAD + '"resources": ' + "[" * 200_000 + "]" * 200_000 + "}", "nesting"),
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
