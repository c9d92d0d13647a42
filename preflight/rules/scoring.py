"""SCR: scoring scripts, read with `ast` and never imported or run.

The failure modes are those of the Azure ML deployment troubleshooting guide: a script without
`init()` or `run()`, a debugger the container waits for, exception text sent to clients, an
unguarded parse of the request, and `Model.get_model_path` asking for a model the deployment
does not ship; and the v1 SDK (`azureml.core`) imported by a v2 deployment's script whose
environment does not install it.
"""
from __future__ import annotations

import ast
import os
from typing import Iterator

from preflight.deploy.scripts import script_uses
from preflight.documents import Document, Kind
from preflight.contract import ERROR, INFO, WARNING, Context, Issue, rule
from preflight.project import deployments_running, v2_conda_environments

from .wording import clip, listing, near

SCRIPT = Kind.SCORING_SCRIPT
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def _at(node: ast.AST, message: str, fix: str, severity=None, data=None) -> Issue:
    """An issue positioned at a node (ast columns are 0-based)."""
    return Issue("", message, fix=fix, severity=severity, line=getattr(node, "lineno", 1),
                 column=getattr(node, "col_offset", 0) + 1, data=data or {})


def _module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements that run at import: the module body and the blocks of its if/try/with."""
    stack = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _BLOCKS):
            children: list[ast.stmt] = []
            for name in ("body", "orelse", "finalbody"):
                children += getattr(node, name, None) or []
            for handler in getattr(node, "handlers", None) or []:
                children += handler.body
            stack.extend(reversed(children))


def _bound_names(tree: ast.Module) -> tuple[set[str], bool]:
    """Names defined at module level, and whether a star import makes the set unknowable."""
    names: set[str] = set()
    star = False
    for node in _module_level(tree):
        if isinstance(node, _FUNCTIONS + (ast.ClassDef,)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names.add(node.target.id)
    return names, star


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found = None
    for node in _module_level(tree):
        if isinstance(node, _FUNCTIONS) and node.name == name:
            found = node  # the last definition wins, as at import
    return found


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it was imported as (`dbg` -> `debugpy`, `w` -> `debugpy.wait_for_client`),
    from imports anywhere in the file (scoring scripts often import inside init())."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    out[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _resolve(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The imported name a call target stands for: `dbg.listen` -> `debugpy.listen`."""
    dotted = _dotted(node)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    origin = aliases.get(head, head)
    return f"{origin}.{rest}" if rest else origin


def _walk_body(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a function body, without descending into nested functions or classes."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for child in reversed(list(ast.iter_child_nodes(node))):
            if not isinstance(child, _FUNCTIONS + (ast.ClassDef, ast.Lambda)):
                stack.append(child)


# ========================================================================== SCR001


@rule("SCR001", "entry-function-missing", ERROR, reads=SCRIPT,
      summary="A scoring script without `init()` or `run()`")
def entry_function_missing(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks that a scoring script defines both `init()` and `run()` at module level (as a
    function, an assignment or an import). It judges scripts that a deploy config of the scan
    runs, and scripts that define one of the two; a helper module that merely has "score" in
    its name and defines neither is left alone.

    ## Why it matters
    The scoring server imports the script, calls `init()` once when the container starts and
    `run(data)` for every request. Without `init()` the container fails at start
    (CrashLoopBackOff); without `run()` every request fails.

    ## Example
    ```python
    def init():
        global model
        model = joblib.load(path)
    # SCR001: no run()
    ```

    ## How to fix
    Define `def init():` (load the model) and `def run(raw_data):` (score one request).
    """
    tree = doc.data
    if not isinstance(tree, ast.Module):
        return
    names, star = _bound_names(tree)
    if star:
        return
    missing = [n for n in ("init", "run") if n not in names]
    if not missing:
        return
    referenced = os.path.normpath(doc.abspath) in script_uses(ctx)
    if len(missing) == 2 and not referenced:
        return
    what = " and ".join(f"{n}()" for n in missing)
    yield Issue("", f"{os.path.basename(doc.path)} defines no {what}: the scoring server calls init() once when the "
                "container starts and run(data) for each request", fix="add " + " and ".join(
                    "`def init():` (load the model)" if n == "init" else "`def run(raw_data):` (score one request)"
                    for n in missing), line=1, column=1, data={"missing": missing})


# ========================================================================== SCR002

_DEBUG_WAITS = {"debugpy.wait_for_client", "debugpy.breakpoint", "ptvsd.wait_for_attach", "ptvsd.break_into_debugger"}
_DEBUG_LISTENS = {"debugpy.listen", "debugpy.connect", "ptvsd.enable_attach"}


def _calls_with_condition(tree: ast.Module) -> Iterator[tuple[ast.Call, bool]]:
    """Every call, and whether it sits under an `if` (or a conditional expression)."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, guarded = stack.pop()
        if isinstance(node, ast.Call):
            yield node, guarded
        if isinstance(node, ast.If):
            stack.append((node.test, guarded))
            stack.extend((child, True) for child in node.body + node.orelse)
            continue
        if isinstance(node, ast.IfExp):
            stack.append((node.test, guarded))
            stack.extend([(node.body, True), (node.orelse, True)])
            continue
        stack.extend((child, guarded) for child in ast.iter_child_nodes(node))


@rule("SCR002", "debugger-left-in", ERROR, reads=SCRIPT,
      summary="A `debugpy`/`ptvsd` attach or wait call left in a scoring script")
def debugger_left_in(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds calls of `debugpy.listen`, `debugpy.connect`, `debugpy.wait_for_client`,
    `debugpy.breakpoint`, `ptvsd.enable_attach`, `ptvsd.wait_for_attach` and
    `ptvsd.break_into_debugger`, however they were imported. A call under an `if` is a
    warning (it may be switched off in production).

    ## Why it matters
    The troubleshooting guide's remote-debugging recipe makes the container wait for VS Code
    to attach. Left in, the deployed container blocks at start-up until the health probes
    give up (or for the whole timeout on every start), and an open debug port lets anyone who
    reaches it run code in the container.

    ## Example
    ```python
    def init():
        import debugpy
        debugpy.listen(("0.0.0.0", 5678))
        debugpy.wait_for_client()        # SCR002
    ```

    ## How to fix
    Remove the debugger calls, and debug locally with the Azure ML inference HTTP server
    (`azmlinfsrv --entry_script score.py`); or guard them with a setting that is off in
    production.
    """
    tree = doc.data
    if not isinstance(tree, ast.Module):
        return
    aliases = _aliases(tree)
    for call, guarded in sorted(_calls_with_condition(tree), key=lambda c: (c[0].lineno, c[0].col_offset)):
        target = _resolve(call.func, aliases)
        if target not in _DEBUG_WAITS and target not in _DEBUG_LISTENS:
            continue
        if target in _DEBUG_WAITS:
            timeout = next((k.value for k in call.keywords if k.arg == "timeout"), None)
            seconds = (timeout.value if isinstance(timeout, ast.Constant) and isinstance(timeout.value, (int, float))
                       else None)
            message = (f"{target}() makes every container start wait up to {seconds} s for a debugger"
                       if seconds is not None else
                       f"{target}() blocks the container until a debugger attaches: the deployment never becomes ready")
        else:
            message = (f"{target}() opens a debug connection from the scoring container: "
                       "whoever reaches it can run code there")
        if guarded:
            message += " (under a condition: keep it off in production)"
        yield _at(call, message, fix="remove the debugger calls; debug locally with the inference HTTP server "
                  "(azmlinfsrv)", severity=WARNING if guarded else None, data={"call": target})


# ========================================================================== SCR003

_EXCEPTION_TEXT = {"traceback.format_exc", "traceback.format_exception", "traceback.format_tb",
                   "traceback.format_exception_only", "sys.exc_info"}


def _mentions(expr: ast.AST, tainted: set[str], aliases: dict[str, str]) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id in tainted:
            return True
        if isinstance(node, ast.Call) and _resolve(node.func, aliases) in _EXCEPTION_TEXT:
            return True
    return False


@rule("SCR003", "exception-text-returned", WARNING, reads=SCRIPT,
      summary="`run()` returns an exception's text to the client")
def exception_text_returned(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds `return` statements inside an `except` block of `run()` whose value is built from
    the caught exception (`str(e)`, `{"error": repr(e)}`, a variable assigned from it) or
    from `traceback.format_exc()`.

    ## Why it matters
    The troubleshooting guide shows this pattern to debug `run()`, and adds: return error
    messages this way for debugging only; for security, not in production. Exception text
    carries file paths, library versions, and fragments of the data.

    ## Example
    ```python
    def run(raw_data):
        try:
            return model.predict(json.loads(raw_data)["data"]).tolist()
        except Exception as e:
            return json.dumps({"error": str(e)})     # SCR003
    ```

    ## How to fix
    Log the exception (`logging.exception(...)`, which reaches Application Insights) and
    return a generic message, e.g. `AMLResponse("internal error", 500)`.
    """
    tree = doc.data
    run = _function(tree, "run") if isinstance(tree, ast.Module) else None
    if run is None:
        return
    aliases = _aliases(tree)
    for node in _walk_body(run.body):
        if not isinstance(node, ast.ExceptHandler):
            continue
        tainted = {node.name} if node.name else set()
        body = list(_walk_body(node.body))
        for _ in range(5):  # propagate through assignments such as `result = str(e)`
            before = len(tainted)
            for stmt in body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None \
                        and _mentions(stmt.value, tainted, aliases):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    tainted.update(t.id for t in targets if isinstance(t, ast.Name))
            if len(tainted) == before:
                break
        caught = ast.unparse(node.type) if node.type is not None else "all exceptions"
        for stmt in body:
            if isinstance(stmt, ast.Return) and stmt.value is not None and _mentions(stmt.value, tainted, aliases):
                yield _at(stmt, f"run() returns the exception's text to the client (in `except {caught}`): "
                          "fine for debugging, but in production it leaks internals",
                          fix="log the exception (logging.exception) and return a generic error, e.g. "
                          "AMLResponse('internal error', 500)")


# ========================================================================== SCR004

_PARSE_ERRORS = {"Exception", "BaseException", "ValueError", "json.JSONDecodeError", "json.decoder.JSONDecodeError",
                 "JSONDecodeError"}


def _catches_parse_errors(handler_type: ast.AST | None, aliases: dict[str, str]) -> bool:
    if handler_type is None:
        return True
    types: list[ast.AST] = list(handler_type.elts) if isinstance(handler_type, ast.Tuple) else [handler_type]
    return any(_resolve(t, aliases) in _PARSE_ERRORS or _dotted(t) in _PARSE_ERRORS for t in types)


def _guarded_calls(body: list[ast.stmt], aliases: dict[str, str]) -> Iterator[tuple[ast.Call, bool]]:
    """Calls of a function body, and whether a `try` around them catches a JSON error."""
    stack: list[tuple[ast.AST, bool]] = [(stmt, False) for stmt in reversed(body)]
    while stack:
        node, guarded = stack.pop()
        if isinstance(node, _FUNCTIONS + (ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call):
            yield node, guarded
        if isinstance(node, ast.Try) or (hasattr(ast, "TryStar") and isinstance(node, ast.TryStar)):
            inner = guarded or any(_catches_parse_errors(h.type, aliases) for h in node.handlers)
            stack.extend((child, inner) for child in node.body)
            for rest in (node.orelse, node.finalbody, node.handlers):
                stack.extend((child, guarded) for child in rest)
            continue
        stack.extend((child, guarded) for child in ast.iter_child_nodes(node))


@rule("SCR004", "request-json-unguarded", INFO, reads=SCRIPT,
      summary="`run()` parses the request with `json.loads` outside a `try`")
def request_json_unguarded(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds `json.loads(<run's argument>)` in `run()` that no surrounding `try` guards with
    `except ValueError` (or `json.JSONDecodeError`, `Exception`, a bare `except`). A `run()`
    decorated by inference-schema receives parsed data and is skipped.

    ## Why it matters
    A client that sends a malformed body makes `run()` raise; the caller gets a bare HTTP
    500 with no hint of what was wrong, and the logs fill with tracebacks that look like
    server failures.

    ## Example
    ```python
    def run(raw_data):
        data = json.loads(raw_data)["data"]      # SCR004
    ```

    ## How to fix
    Parse inside `try:` and answer `except ValueError:` with a client error, e.g.
    `AMLResponse("the body is not valid JSON", 400)`.
    """
    tree = doc.data
    run = _function(tree, "run") if isinstance(tree, ast.Module) else None
    if run is None or run.decorator_list:
        return
    params = run.args.posonlyargs + run.args.args
    if not params:
        return
    request = params[0].arg
    aliases = _aliases(tree)
    for call, guarded in _guarded_calls(run.body, aliases):
        if guarded or _resolve(call.func, aliases) != "json.loads" or not call.args:
            continue
        if isinstance(call.args[0], ast.Name) and call.args[0].id == request:
            yield _at(call, f"json.loads({request}) parses the request outside a try: a malformed body raises here "
                      "and the client gets a bare HTTP 500", fix="parse inside try/except ValueError and return a "
                      "client error (HTTP 400) that says the body is not valid JSON")


# ========================================================================== SCR005


def _model_path_calls(tree: ast.Module, aliases: dict[str, str]) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_model_path"):
            continue
        owner = _resolve(node.func.value, aliases)
        if owner is None or owner.rsplit(".", 1)[-1] != "Model":
            continue
        arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "model_name"), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            yield node, arg.value


@rule("SCR005", "model-name-not-deployed", ERROR, reads=SCRIPT,
      summary="`Model.get_model_path(name)` names a model the deployment does not deploy")
def model_name_not_deployed(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Compares the literal names passed to `Model.get_model_path(...)` with the models of the
    deployments in the scan that run this script (a v2 deployment's `model:`, e.g.
    `azureml:churn:3`). It says nothing when no deployment declares its models.

    ## Why it matters
    `get_model_path` looks for `azureml-models/<name>/` in the container; a name that is not
    deployed raises `ModelNotFoundException` in `init()`, and the container restarts in a
    loop (CrashLoopBackOff) - the guide's "get_model_path() fails".

    ## Example
    ```python
    # deployment.yml: model: azureml:churn-model:3
    def init():
        path = Model.get_model_path("my-best-model")     # SCR005
    ```

    ## How to fix
    Use the deployed model's name, or deploy the model the script needs.
    """
    tree = doc.data
    if not isinstance(tree, ast.Module):
        return
    uses = script_uses(ctx).get(os.path.normpath(doc.abspath), [])
    if not uses or any(use.model_names is None for use in uses):
        return
    deployed = frozenset[str]().union(*(use.model_names or () for use in uses))
    configs = listing(sorted({near(use.config.path, doc) for use in uses}), 50)
    for call, name in _model_path_calls(tree, _aliases(tree)):
        if name in deployed:
            continue
        names = listing((repr(n) for n in sorted(deployed)), 40)
        yield _at(call, f"Model.get_model_path({name!r}) names a model that {configs} does not deploy (it deploys "
                  f"{names}): init() fails",
                  fix=f"use Model.get_model_path({sorted(deployed)[0]!r}), or deploy the model the script needs",
                  data={"model": name, "deployed": sorted(deployed)})


# ========================================================================== SCR007

AZUREML_CORE = "azureml-core"
# azureml-* packages known not to depend on azureml-core; any other may bring it.
_WITHOUT_CORE = frozenset({"azureml-inference-server-http"})
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _imports_core(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name == "azureml.core" or a.name.startswith("azureml.core.") for a in node.names)
    if node.level or not node.module:
        return False
    if node.module == "azureml":
        return any(a.name == "core" for a in node.names)
    return node.module == "azureml.core" or node.module.startswith("azureml.core.")


def _catches_import_errors(handler_type: ast.AST | None) -> bool:
    if handler_type is None:
        return True
    types: list[ast.AST] = list(handler_type.elts) if isinstance(handler_type, ast.Tuple) else [handler_type]
    return any((_dotted(t) or "").rsplit(".", 1)[-1] in _IMPORT_ERRORS for t in types)


def _core_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports of azureml.core that run unguarded: not under a `try` that catches ImportError,
    not under `if TYPE_CHECKING:`."""
    found = []
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, guarded = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not guarded and _imports_core(node):
                found.append(node)
            continue
        if isinstance(node, ast.Try) or (hasattr(ast, "TryStar") and isinstance(node, ast.TryStar)):
            inner = guarded or any(_catches_import_errors(h.type) for h in node.handlers)
            stack.extend((child, inner) for child in node.body)
            for rest in (node.orelse, node.finalbody, node.handlers):
                stack.extend((child, guarded) for child in rest)
            continue
        if isinstance(node, ast.If) and (_dotted(node.test) or "").endswith("TYPE_CHECKING"):
            stack.extend((child, guarded) for child in node.orelse)
            continue
        stack.extend((child, guarded) for child in ast.iter_child_nodes(node))
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _core_calls(tree: ast.Module, aliases: dict[str, str]) -> list[str]:
    """The v1 calls a script makes, as `Model.get_model_path`, `Run.get_context`."""
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _resolve(node.func, aliases) or ""
            if target.startswith("azureml.core."):
                calls.add(".".join(target.split(".")[-2:]))
    return sorted(calls)


def _installs_core(env) -> bool | None:
    """Whether a conda environment installs azureml-core: True, False, or None when it cannot
    be told (a URL or path requirement, an unread `-r` file, another azureml-* package that may
    depend on it)."""
    python = env.python_version()
    names = []
    for req in env.requirements:
        if req.applies(python) is False:
            continue
        if not req.name or req.templated:
            return None
        names.append(req.name)
    names += [p.name for p in env.conda if p.name]
    if AZUREML_CORE in names:
        return True
    if any(n.startswith("azureml") and n not in _WITHOUT_CORE for n in names) or env.unread_includes:
        return None
    return False


def _shown(holder: Document, base: str, deployment: Document) -> str:
    """Where a conda environment is written, as the deployment's author knows it."""
    if holder is deployment:
        return f"inline at {base}"
    shown = os.path.relpath(holder.abspath, deployment.directory).replace(os.sep, "/")
    return f"{shown} {base}" if base else shown


@rule("SCR007", "v1-sdk-without-azureml-core", ERROR, reads=SCRIPT,
      summary="A v2 deployment's scoring script imports `azureml.core` that its environment lacks")
def v1_sdk_without_azureml_core(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds imports of the v1 SDK (`from azureml.core.model import Model`, `import azureml.core`,
    `from azureml.core import Run`, ...) in the scoring script of a v2 online or batch
    deployment (`code_configuration.code` + `scoring_script`), when the deployment's conda
    environment (inline `conda_file`, a conda file, or a local environment YAML with one) does
    not install `azureml-core`. An import under `try: ... except ImportError` or
    `if TYPE_CHECKING:` is left alone. Nothing is said when the environment cannot be known
    from the files: a registered or registry environment (`azureml:name:version`), an image or
    Docker build context without a conda file, a requirement given as a URL or path, an unread
    `-r` file, or another `azureml-*` package that may depend on azureml-core.

    ## Why it matters
    Scripts moved from v1 keep `Model.get_model_path(...)` and `Run.get_context()`. A v2
    environment installs only what its conda file lists, and the v2 inference server does
    not bring the v1 SDK: the import raises `ModuleNotFoundError`, `init()` fails, and the
    deployment never becomes ready (online: CrashLoopBackOff; batch: every mini-batch fails).

    ## Example
    ```python
    # deployment.yml: environment.conda_file lists azureml-inference-server-http, scikit-learn
    from azureml.core.model import Model       # SCR007

    def init():
        path = Model.get_model_path("churn")
    ```

    ## How to fix
    Load the model from the folder v2 mounts it in:
    `os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl")`, and drop the azureml.core
    import.
    """
    tree = doc.data
    if not isinstance(tree, ast.Module):
        return
    imports = _core_imports(tree)
    if not imports:
        return
    lacking, deployments = [], []
    for deployment in deployments_running(doc.abspath, ctx):
        held = v2_conda_environments(deployment, ctx)
        if held and all(_installs_core(h.env) is False for h in held):
            where = ", ".join(_shown(h.doc, h.env.base, deployment) for h in held)
            lacking.append(f"{deployment.path} (conda environment {where})")
            deployments.append(near(deployment.path, doc))
    if not lacking:
        return
    calls = _core_calls(tree, _aliases(tree))
    if "Model.get_model_path" in calls:
        fix = "load the model from os.environ['AZUREML_MODEL_DIR'] instead; drop the azureml.core import"
    else:
        fix = "drop the azureml.core import (the model is in os.environ['AZUREML_MODEL_DIR']), or add azureml-core"
    for node in imports:
        yield _at(node, f"`{clip(ast.unparse(node), 60)}` needs azureml-core (v1 SDK), not in the environment of "
                  f"{listing(deployments, 50)}: ModuleNotFoundError at start",
                  fix=fix, data={"deployments": lacking, "calls": calls})
