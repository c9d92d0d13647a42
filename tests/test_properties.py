"""Property-based tests: the loaders agree with `json` where it applies and never raise
anything but their own LoadError, whatever the bytes."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight.documents import Kind, load_document
from preflight.loaders import LoadError, _parse_lenient, decode, load_json, load_yaml

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(json_values, st.sampled_from([None, 2, 0]))
def test_lenient_parser_agrees_with_json_on_valid_json(value, indent):
    text = json.dumps(value, indent=indent)
    lenient, positions = _parse_lenient(text, positions=True)
    assert lenient == json.loads(text)
    assert positions[""] == (1, 1)


@SETTINGS
@given(st.binary(max_size=400))
def test_loaders_never_raise_anything_but_load_error_on_bytes(raw):
    for loader in (load_json, load_yaml):
        try:
            value = loader(decode(raw))
        except LoadError:
            continue
        if loader is load_json:
            assert _plain(value)  # JSON values only: what the JSON rules expect to read


def _plain(value) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif not (v is None or isinstance(v, (str, bool, int, float))):
            return False
    return True


@SETTINGS
@given(st.text(alphabet='{}[]:,"/*\\ \n\tabtrue0123456789-.eE\'', max_size=200))
def test_lenient_json_never_raises_anything_but_load_error(text):
    try:
        load_json(text)
    except LoadError as exc:
        assert exc.line >= 1 and exc.column >= 1


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["t.json", "c.yml", "score.py", "d.yaml"]))
def test_classification_never_raises(raw, name):
    head = b'{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",'
    for content in (raw, head + raw):
        doc = load_document(name, content, explicit=True)
        assert doc is None or doc.error is not None or doc.kind is not None
        if content is not raw and name == "t.json":
            # a template's opening: read as a template, or reported as a broken file (PF001)
            assert doc is not None and (doc.error is not None or doc.kind == Kind.ARM_TEMPLATE), doc


@SETTINGS
@given(st.text(alphabet='{}[]:,"/*\\ \n\tab01-', max_size=120))
def test_the_fast_lenient_path_agrees_with_the_full_lenient_parser(text):
    """load_json's second path (comments and trailing commas stripped, then the C parser) must
    accept nothing the position-tracking parser rejects, and read it the same way."""
    try:
        fast = load_json(text)
    except LoadError:
        return
    assert _parse_lenient(text, positions=False)[0] == fast
