"""Files in UTF-16 and UTF-32 with a byte-order mark are read as ARM and the Azure tools read
them: decoded, classified by their text, with findings at the right line and column."""
from __future__ import annotations

import pytest

from preflight.documents import load_document, sniff
from preflight.engine import Options, scan
from preflight.loaders import LoadError, decode, encode_like

TEMPLATE = """{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    {
      "type": "Microsoft.KeyVault/vaults",
      "apiVersion": "2023-07-01",
      "name": "kv-wide-é",
      "location": "westeurope",
      "properties": {
        "tenantId": "[subscription().tenantId]",
        "sku": {"family": "A", "name": "standard"},
        /* ünïcödé */ "accessPolicies": []
      }
    }
  ]
}
"""
POLICIES_LINE = 13
# (a column counts characters: the accented letters before it are two or four bytes each)
POLICIES_COLUMN = TEMPLATE.splitlines()[POLICIES_LINE - 1].index('"accessPolicies"') + 1

ENCODINGS = [
    ("utf-16-le", b"\xff\xfe"),
    ("utf-16-be", b"\xfe\xff"),
    ("utf-32-le", b"\xff\xfe\x00\x00"),
    ("utf-32-be", b"\x00\x00\xfe\xff"),
    ("utf-8", b"\xef\xbb\xbf"),
]


def encoded(text: str, codec: str, bom: bytes) -> bytes:
    return bom + text.encode(codec)


@pytest.mark.parametrize("codec, bom", ENCODINGS)
def test_decode_honours_the_byte_order_mark(codec, bom):
    assert decode(encoded(TEMPLATE, codec, bom)) == TEMPLATE


@pytest.mark.parametrize("codec, bom", ENCODINGS)
def test_a_template_with_a_bom_gets_kv001_at_the_right_line(tmp_path, codec, bom):
    path = tmp_path / "main.json"
    path.write_bytes(encoded(TEMPLATE, codec, bom))
    found = [f for f in scan([str(path)], Options()).findings if f.rule == "KV001"]
    assert len(found) == 1
    assert (found[0].line, found[0].column) == (POLICIES_LINE, POLICIES_COLUMN)
    assert "'kv-wide-é'" in found[0].message


def test_a_utf16_file_of_no_known_kind_is_skipped_silently(tmp_path):
    settings = '{\n  "Logging": {"LogLevel": {"Default": "Information"}},\n  "AllowedHosts": "*"\n}\n'
    path = tmp_path / "appsettings.json"
    path.write_bytes(encoded(settings, "utf-16-le", b"\xff\xfe"))
    assert load_document(str(path), path.read_bytes()) is None
    assert sniff(str(path), path.read_bytes()) is None
    assert scan([str(tmp_path)], Options()).findings == []


def test_a_utf16_conda_file_is_classified_by_its_decoded_text(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_bytes(encoded("name: env\ndependencies:\n  - python=3.10\n  - numpy\n", "utf-16-be", b"\xfe\xff"))
    doc = load_document(str(path), path.read_bytes())
    assert doc is not None and doc.error is None and str(doc.kind) == "conda-environment"


def test_binary_content_without_a_bom_is_still_not_text():
    with pytest.raises(LoadError, match="binary"):
        decode(b"\x00\x01\x02\xff" * 10)


def test_a_broken_utf16_file_is_a_load_error_at_its_line():
    raw = b"\xff\xfe" + "{\n  \"a\": 1,\n  ".encode("utf-16-le") + b"\x00\xdc"  # a lone low surrogate
    with pytest.raises(LoadError) as info:
        decode(raw)
    assert "UTF-16 LE" in info.value.message
    assert (info.value.line, info.value.column) == (3, 3)


@pytest.mark.parametrize("codec, bom", ENCODINGS)
def test_a_fixed_file_keeps_its_encoding(codec, bom):
    original = encoded("a: 1\n", codec, bom)
    assert encode_like(original, "a: 2\n") == encoded("a: 2\n", codec, bom)
    assert encode_like(b"a: 1\n", "a: 2\n") == b"a: 2\n"
