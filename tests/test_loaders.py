import json

import pytest

from preflight.loaders import LoadError, decode, json_positions, load_json, load_yaml, yaml_positions


def test_strict_json_takes_the_fast_path_and_matches_json():
    text = '{"a": [1, 2.5, "x", true, null], "b": {"c": "d"}}'
    assert load_json(text) == json.loads(text)


@pytest.mark.parametrize("text, expected", [
    ('\ufeff{"a": 1}', {"a": 1}),                                   # BOM left in the text
    ('{\n  // a comment\n  "a": 1 /* inline */\n}', {"a": 1}),      # both comment styles
    ('{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}),              # trailing commas
    ('{"a": "line one\nline two"}', {"a": "line one\nline two"}),   # raw newline in a string
    ('{"a": 1, "a": 2}', {"a": 2}),                                  # duplicate keys: last wins
    ('{"url": "http://x//y", "c": "/* not a comment */"}', {"url": "http://x//y", "c": "/* not a comment */"}),
])
def test_lenient_json_accepts_what_arm_accepts(text, expected):
    assert load_json(text) == expected


@pytest.mark.parametrize("text, line, column, words", [
    ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "missing comma"),
    ('{\n  "a": [1, 2\n', 3, 1, "end of file"),
    ('{"a": tru}', 1, 7, "unexpected"),
    ('{\n  "a": "unterminated\n}', 2, 8, "unterminated string"),
    ('{"a": 1} x', 1, 10, "extra data"),
    ('/* never closed', 1, 1, "unterminated comment"),
])
def test_json_errors_carry_the_parsers_line_and_column(text, line, column, words):
    with pytest.raises(LoadError) as info:
        load_json(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert words in info.value.message


def test_json_nested_far_too_deep_is_a_load_error_not_a_crash():
    with pytest.raises(LoadError) as info:
        load_json("[" * 200_000 + "]" * 200_000)
    assert "nesting deeper" in info.value.message


def test_json_of_more_values_than_the_limit_is_refused_at_the_limit():
    from preflight.loaders import MAX_JSON_VALUES, TooLargeToCheck

    at_limit = "[" + ",".join(["0"] * (MAX_JSON_VALUES - 1)) + "]"  # the array and its items
    assert len(load_json(at_limit)) == MAX_JSON_VALUES - 1
    with pytest.raises(TooLargeToCheck):
        load_json("[" + ",".join(["0"] * MAX_JSON_VALUES) + "]")
    assert load_json('{"a": [1, 2], "b": 3}') == {"a": [1, 2], "b": 3}
    assert isinstance(load_json("[" + "9" * 700 + "]")[0], float)  # too many digits for an int


def test_json_positions_point_at_keys_and_array_items():
    text = '{\n  "resources": [\n    {\n      "name": "kv",\n      "properties": {"accessPolicies": []}\n    }\n  ]\n}'
    pos = json_positions(text)
    assert pos["/resources"] == (2, 3)
    assert pos["/resources/0"] == (3, 5)
    assert pos["/resources/0/name"] == (4, 7)
    assert pos["/resources/0/properties/accessPolicies"] == (5, 22)


def test_json_positions_escape_pointer_characters():
    pos = json_positions('{"a/b": {"c~d": 1}}')
    assert pos["/a~1b/c~0d"] == (1, 10)


def test_yaml_positions_and_safe_loading():
    text = "name: env\ndependencies:\n  - python=3.10\n  - pip:\n      - numpy\n"
    assert load_yaml(text)["dependencies"][1] == {"pip": ["numpy"]}
    pos = yaml_positions(text)
    assert pos["/dependencies"] == (2, 1)
    assert pos["/dependencies/1/pip/0"] == (5, 9)


def test_yaml_tags_never_build_objects():
    with pytest.raises(LoadError) as info:
        load_yaml("a: !!python/object/apply:os.system ['echo pwned']\n")
    assert info.value.line == 1


def test_yaml_syntax_error_position():
    with pytest.raises(LoadError) as info:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert info.value.line >= 2


def test_yaml_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 200):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    with pytest.raises(LoadError) as info:
        load_yaml("\n".join(lines) + "\n")
    assert "alias" in info.value.message


def test_decode_rejects_invalid_utf8_with_its_position():
    with pytest.raises(LoadError) as info:
        decode(b'{\n  "a": "\xff"\n}')
    assert info.value.line == 2 and "UTF-8" in info.value.message
    assert decode(b"\xef\xbb\xbf{}") == "{}"


@pytest.mark.parametrize("text", ["a: 2020-13-45\n", "a: !!int x\n", "a: !!float abc\n"])
def test_yaml_values_that_fail_to_construct_are_load_errors(text):
    with pytest.raises(LoadError):
        load_yaml(text)


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_537, 3 * 1024 * 1024 + 7])
def test_read_regular_file_returns_every_byte(tmp_path, size):
    from preflight.loaders import FileTooLarge, read_regular_file

    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert read_regular_file(str(path), size) == data
    if size:
        with pytest.raises(FileTooLarge):
            read_regular_file(str(path), size - 1)


def test_read_regular_file_reads_a_file_that_grew_since_it_was_measured(tmp_path, monkeypatch):
    """The first read asks for the size fstat gave plus one byte; the rest comes in chunks."""
    import os as os_module

    from preflight import loaders

    path = tmp_path / "f.txt"
    path.write_bytes(b"a" * 100_000)
    real_fstat = os_module.fstat

    class Shrunk:  # fstat as it was before the file grew to 100,000 bytes
        def __init__(self, st):
            self.st_mode, self.st_size = st.st_mode, 10

    monkeypatch.setattr(loaders.os, "fstat", lambda fd: Shrunk(real_fstat(fd)))
    assert loaders.read_regular_file(str(path), 10**6) == b"a" * 100_000
    with pytest.raises(loaders.FileTooLarge):
        loaders.read_regular_file(str(path), 50_000)


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 1024 * 1024 + 7])
def test_read_regular_file_reads_a_file_that_kept_its_size_at_once(tmp_path, monkeypatch, size):
    """A read shorter than asked is the end of a regular file: no second read to see it."""
    from preflight import loaders

    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * size)
    reads = []
    real_read = loaders.os.read
    monkeypatch.setattr(loaders.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert loaders.read_regular_file(str(path), size) == b"x" * size
    assert reads == [size + 1]


def test_pyyaml_is_imported_only_when_a_yaml_file_is_read(tmp_path):
    """A scan of ARM templates alone (a pre-commit run on one template) never imports PyYAML."""
    import subprocess
    import sys

    from conftest import FIXTURES, REPO

    code = ("import sys; from preflight.cli import main; main(['scan', '--no-cache', '-q', {path!r}]); "
            "print('yaml' in sys.modules, file=sys.stderr)")
    for path, expected in ((FIXTURES / "integrations" / "kv-wiped.json", "False"),
                           (FIXTURES / "integrations" / "conda-unpinned.yml", "True")):
        out = subprocess.run([sys.executable, "-c", code.format(path=str(path))], capture_output=True, text=True,
                             cwd=REPO)
        assert out.stderr.strip().splitlines()[-1] == expected, out.stderr


def test_packaging_and_toml_are_imported_only_when_needed(tmp_path):
    """A pre-commit run on one template loads no PEP 440 machinery and no TOML parser: an
    environment file needs the first, a configuration file the second."""
    import shutil
    import subprocess
    import sys

    from conftest import FIXTURES

    code = ("import sys; from preflight.cli import main; main(['scan', '--no-cache', '-q', '--format', 'json', "
            "{path!r}]); print(sorted(m for m in ('packaging', 'tomllib') if m in sys.modules), file=sys.stderr)")
    for case, (fixture, config, expected, rule) in enumerate((("kv-wiped.json", False, "[]", "KV"),
                                                             ("kv-wiped.json", True, "['tomllib']", "KV"),
                                                             ("conda-unpinned.yml", False, "['packaging']", "ENV"))):
        folder = tmp_path / str(case)  # a folder of its own: a scan looks at a file's neighbours
        folder.mkdir()
        shutil.copy(FIXTURES / "integrations" / fixture, folder / fixture)
        if config:
            (folder / ".preflight.toml").write_text('ignore = ["ENV004"]\n')
        out = subprocess.run([sys.executable, "-c", code.format(path=fixture)], capture_output=True, text=True,
                             cwd=folder)
        assert out.stderr.strip().splitlines()[-1] == expected, out.stderr
        assert f'"{rule}' in out.stdout, out.stdout  # the file was checked


@pytest.mark.parametrize("text", [
    '{"a": {"b": [1, {"c": 2}, [3]]}, "d~/e": {"": null}, "f": "x\\"y"}',
    '\n  [ {"k": 1},\n 2, "s", [], {} ]',
    '"just a string"',
    '{"a": {"x": 1, "y": 2}, "a": {"x": 3}}',  # duplicate keys: an earlier member's pointers stay
    '{"b": [1, {"k": 1}], "a": {"k": 1, "z": [2], "k": 2}, "c": 3}',  # a duplicate past the first
    '{"a": NaN, "b": [1]}',  # the C parser reads NaN, the lenient parser does not
    '// comment\n{"a": [1, 2,], "b": {"c": 1,},}',
    '{"a": "raw\nnewline", "b": [true]}',
    "[" * 513 + "]" * 513,  # deeper than MAX_DEPTH
    '{"a": [1, 2',  # not JSON at all
    "",
])
def test_json_positions_looked_up_one_at_a_time_agree_with_the_full_parse(text):
    from preflight.loaders import JsonPositions

    try:
        full = json_positions(text)
    except LoadError:
        full = {"": (1, 1)}
    lazy = JsonPositions(text)
    absent = ["/zz", "/a/zz", "/a/b/9", "/a/b/01", "/0/k/x", "//a", "/a~2", "x", "/1/0"]
    for pointer in list(full) + absent:
        assert lazy.get(pointer) == full.get(pointer), pointer
        assert (pointer in lazy) == (pointer in full), pointer
    assert dict(lazy) == full


def test_json_positions_read_members_only_as_far_as_the_one_looked_up(monkeypatch):
    import preflight.loaders as loaders

    text = '{"a": {"x": [1, 2, 3], "y": 1}, "big": [' + ", ".join(['{"v": 1}'] * 50) + '], "z": 1}'
    full = json_positions(text)
    scanned: list[int] = []
    scan = loaders._SCAN
    monkeypatch.setattr(loaders, "_SCAN", lambda text, at: scanned.append(at) or scan(text, at))
    lazy = loaders.JsonPositions(text)
    big = text.index("[{")
    assert lazy["/a/x/1"] == full["/a/x/1"] and lazy["/big"] == full["/big"]
    assert big not in scanned and len(scanned) == 5  # keys a, x, big; the value of a, item 0 of x
    assert lazy["/z"] == full["/z"] and big in scanned  # past `big`: its value is read once
    assert lazy["/big/49/v"] == full["/big/49/v"] and "/big/50" not in lazy and "/a/x/3" not in lazy
    assert "/a/w" not in lazy and lazy["/a/y"] == full["/a/y"]


def test_json_positions_of_a_large_template_are_found_without_the_full_parse(monkeypatch):
    import preflight.loaders as loaders

    members = ",\n".join(f'    "p{i}": {{"type": "string", "defaultValue": [{i}, "x"]}}' for i in range(2000))
    text = '{\n  "parameters": {\n' + members + "\n  }\n}"
    full = json_positions(text)
    monkeypatch.setattr(loaders, "json_positions", lambda _: pytest.fail("the full parse ran"))
    lazy = loaders.JsonPositions(text)
    assert lazy["/parameters/p1500"] == full["/parameters/p1500"] == (1503, 5)
    assert lazy["/parameters/p1500/defaultValue/1"] == full["/parameters/p1500/defaultValue/1"] == (1503, 56)
    assert "/parameters/p2000" not in lazy


def test_json_positions_of_many_lookups_are_those_of_the_full_reading():
    # Past its first lookups, JsonPositions turns offsets into lines from the text's line starts
    # (a file with thousands of findings was counted through once per finding): the answers
    # must be the same on both sides of that switch, in any order of lookups.
    from preflight.loaders import JsonPositions

    members = ",\n".join(f'  "k{i}": {{\n    "v": [1,\r\n {i}]}}' for i in range(60))
    text = "{\n" + members + "\n}\n"
    full = json_positions(text)
    lazy = JsonPositions(text)
    pointers = [p for p in full if p][::-1]
    assert len(pointers) > 100
    assert [lazy[p] for p in pointers] == [full[p] for p in pointers]
    assert lazy._lines is not None  # the second side of the switch was taken
