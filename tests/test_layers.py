"""The package's layers: imports go one way. Every import counts, those inside functions too
(a lazy import is still a dependency), read from the source with `ast`."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "preflight"

# The composition root and what may use it: the command line and the commands beside `scan`.
ENGINE_USERS = {"preflight.cli", "preflight.fix", "preflight.merge", "preflight.__main__"}


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out[".".join(parts)] = (path, is_package)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the preflight modules it imports. `from pkg import name` depends on `pkg.name`
    when that is a module, else on `pkg` itself."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                targets = subs + ([target] if len(subs) < len(node.names) else [])
            else:
                continue
            deps.update(t for t in targets if t in modules and t != name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert len(graph) > 50
    assert "preflight.engine" in graph["preflight.cli"]  # cli imports the engine inside functions only
    assert "preflight.rules.scan" in graph["preflight.rules"]  # `from . import scan`


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_command_line_imports_the_engine():
    graph = import_graph()
    users = {name for name, deps in graph.items() if "preflight.engine" in deps}
    assert users <= ENGINE_USERS, f"import the contract (preflight.contract), not the engine: {users - ENGINE_USERS}"


def test_the_engine_defines_no_rule_registry():
    tree = ast.parse((PACKAGE / "engine.py").read_text(encoding="utf-8"))
    defined = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
               for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    defined |= {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert not defined & {"REGISTRY", "rule", "declare", "Rule", "load_rule_packs"}
    assert not any(name.startswith("PF0") for name in defined)


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_document_and_arm_layers_never_import_a_front_end():
    """Bicep plugs into them (documents.register_front_end, arm.parameters.
    register_parameter_finder); they must work, and be read, without it."""
    graph = import_graph()
    below = [name for name in graph if name == "preflight.documents" or name.startswith("preflight.arm")]
    # arm.vaults still parses Bicep `existing` declarations for KV019 (bicep_existing_references).
    below.remove("preflight.arm.vaults")
    offenders = {name: sorted(d for d in graph[name] if d.startswith("preflight.bicep")) for name in below}
    assert {name: deps for name, deps in offenders.items() if deps} == {}


def test_rules_never_parse_expressions_themselves():
    """Rules read `[...]` expressions through `preflight.arm` (references_of, evaluate, ...): the
    parser and its tree walks stay behind that interface, so every rule reads one walk."""
    graph = import_graph()
    parsing = {m for m, deps in graph.items() if m.startswith("preflight.rules")
               and "preflight.arm.expressions" in deps}
    assert parsing == set()
