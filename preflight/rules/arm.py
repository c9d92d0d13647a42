"""ARM: template errors the evaluation finds before Azure does.

Each of these fails a deployment at validation time: a parameter value outside
`allowedValues` or its min/max bounds, a parameter file that sets a parameter the template does
not declare, `reference()` in `variables` of a template without symbolic names, a reference to
a parameter or variable that is not declared, and variables that refer to each other in a cycle.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Iterator

from preflight.arm.deployments import evaluations, is_literal_json, literal_root_values, parameter_sets_of, template_of
from preflight.arm.evaluator import Frame, Scope, evaluate
from preflight.arm.references import (may_call, nested_templates, possible_names, possible_variable_reads,
                                      references_of, shared_template_result, text_references, variables_may_call)
from preflight.arm.parameters import undeclared_in_file
from preflight.arm.template import ABSENT, ParameterDecl, kitem
from preflight.arm.values import describe, equal3, find_unknown
from preflight.documents import Document, Kind
from preflight.contract import ERROR, WARNING, Context, Issue, rule
from preflight.loaders import join_pointer

from .keyvault import report_once
from .wording import listing


def local_frames(doc: Document, ctx: Context, wanted: Any = None) -> Iterator[tuple[Frame, str | None]]:
    """Every frame of every evaluation whose template lives in this document, with the
    parameter file of the evaluation, except those of nested deployments that are not deployed
    (a false condition on their path: ARM never sees their parameters). With `wanted(decl)`,
    nothing when no parameter of those templates is wanted: the template is then not evaluated.
    (A local frame's template is the document's own template or one of its inline nested
    templates, all of which `nested_templates` visits; linked files are other documents.)"""
    if wanted is not None and not any(wanted(decl) for t, _ in nested_templates(template_of(doc))
                                      for decl in t.parameters.values()):
        return
    for ev in evaluations(doc, ctx):
        for frame in ev.frames:
            if frame.template.document is doc and (frame.deployment is None or frame.deployment.deployed is not False):
                yield frame, ev.label


def deployment_caveat(frame: Frame) -> str:
    """For a frame whose nested deployment may not be deployed (a condition or copy count on
    its path cannot be evaluated): the caveat its findings hold under; else ""."""
    status = frame.deployment.status if frame.deployment is not None else None
    if status is None or status.state != "unknown":
        return ""
    cause = status.unknown.reason if status.unknown is not None else "it cannot be evaluated"
    return f"; if the nested deployment is deployed: {status.reason} ({cause})"


def value_source(frame: Frame, decl: ParameterDecl) -> tuple[str, str] | None:
    """(how the value was given, pointer to report) for a parameter whose value is literal."""
    source, origin = frame.parameter_source(decl.name)
    if source == "file":
        return "from its parameter file", decl.pointer
    if source == "cli":
        return "from --param", decl.pointer
    if source == "default":
        if decl.default is ABSENT:
            return None
        return "its defaultValue", join_pointer(decl.pointer, "defaultValue")
    if source == "parent":
        return "passed by the enclosing deployment", decl.pointer
    return None


def _allowed_match(value: Any, allowed: list) -> bool | None:
    """Whether a value is among allowed values. Differences of case alone, and a number
    written as a string (or the reverse), are not reported: that is not what breaks deployments."""
    undecided = False
    for a in allowed:
        if isinstance(a, (str, int, float)) and isinstance(value, (str, int, float)) \
                and not isinstance(a, bool) and not isinstance(value, bool):
            if str(a).lower() == str(value).lower():
                return True
            continue
        same = equal3(a, value)
        if same:
            return True
        if same is None:
            undecided = True
    return None if undecided else False


# Most templates give their constrained parameters plain literal values that meet the
# constraints: that is told from the declarations and the parameter files alone, and the
# template is then not evaluated for ARM001 and ARM002 (which would find nothing).

def _settled_at_root(doc: Document, ctx: Context, wanted: Any, meets: Any) -> bool:
    """True when no parameter `wanted(decl)` selects can break its constraint, told without
    evaluating: only the root template declares such parameters, and every value each takes
    under each parameter set is literal JSON (`literal_root_values`) that `meets(decl, value)`."""
    root = template_of(doc)
    if any(wanted(decl) for t, _ in nested_templates(root) if t is not root for decl in t.parameters.values()):
        return False
    for decl in root.parameters.values():
        if wanted(decl):
            values = literal_root_values(doc, ctx, decl)
            if values is None or not all(meets(decl, value) for value in values):
                return False
    return True


def _allowed_at_root(decl: ParameterDecl, value: Any) -> bool:
    """ARM001's test, for a literal value and literal allowedValues."""
    allowed = decl.allowed
    if not isinstance(allowed, list) or not is_literal_json(allowed):
        return False
    if _allowed_match(value, allowed) is not False:
        return True
    return decl.type in ("array", None) and isinstance(value, list) and \
        not any(_allowed_match(i, allowed) is False for i in value)


def _within_bounds_at_root(decl: ParameterDecl, value: Any) -> bool:
    """ARM002's test, for a literal value and literal bounds."""
    for bound, keyword in ((decl.min_value, "minValue"), (decl.max_value, "maxValue"),
                           (decl.min_length, "minLength"), (decl.max_length, "maxLength")):
        if bound is ABSENT:
            continue
        if not isinstance(bound, int) or isinstance(bound, bool):
            return False  # an expression, or a bound ARM002 skips: left to the evaluation
        if keyword.endswith("Value"):
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            measured = value
        else:
            if not isinstance(value, (str, list)):
                continue
            measured = len(value)
        if (measured < bound) if keyword.startswith("min") else (measured > bound):
            return False
    return True


def _has_allowed(decl: ParameterDecl) -> bool:
    return decl.allowed is not ABSENT


def _secure(decl: ParameterDecl) -> bool:
    return (decl.type or "").lower() in ("securestring", "secureobject")


def _shown(decl: ParameterDecl, value: Any, limit: int) -> str:
    """A parameter's value for a message; a secure parameter's value is never shown."""
    return "a secure value" if _secure(decl) else repr(describe(value, limit))


def _has_bounds(decl: ParameterDecl) -> bool:
    return decl.min_value is not ABSENT or decl.max_value is not ABSENT or decl.min_length is not ABSENT \
        or decl.max_length is not ABSENT


@rule("ARM001", "arm-parameter-not-allowed", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="A parameter value that is not in the parameter's `allowedValues`")
def parameter_not_allowed(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks each parameter's value (from `--param`, the parameter file, the value an enclosing
    deployment passes, or its `defaultValue`) against its `allowedValues`. For an `array`
    parameter, every element must be allowed. Strings differing only in case are not reported.

    ## Why it matters
    Azure Resource Manager rejects the deployment before creating anything ("The provided value
    for the template parameter 'x' is not valid"); CI finds out only when it deploys.

    ## Example
    ```json
    "skuName": { "type": "string", "defaultValue": "Basic", "allowedValues": ["standard", "premium"] }
    ```

    ## How to fix
    Use one of the allowed values, or extend `allowedValues` if the value is intended.
    """
    if _settled_at_root(doc, ctx, _has_allowed, _allowed_at_root):
        return
    def candidates():
        for frame, label in local_frames(doc, ctx, _has_allowed):
            for decl in frame.template.parameters.values():
                if decl.allowed is ABSENT:
                    continue
                given = value_source(frame, decl)
                if given is None:
                    continue
                allowed = evaluate(decl.allowed, Scope(frame))
                if not isinstance(allowed, list) or find_unknown(allowed) is not None:
                    continue
                value = frame.parameter(decl.name)
                if find_unknown(value) is not None:
                    continue
                if _allowed_match(value, allowed) is not False:
                    continue
                # ARM checks an array parameter element by element. A type preflight cannot name
                # (a Bicep resource-derived type) holding a list is an array: no other type
                # takes one.
                bad = [i for i in value if _allowed_match(i, allowed) is False] \
                    if decl.type in ("array", None) and isinstance(value, list) else [value]
                if not bad:
                    continue
                how, pointer = given
                shown = "an empty allowedValues list" if not allowed else \
                    f"its allowedValues ({listing((describe(a, 30) for a in allowed), 24, sentence=False)})"
                caveat = deployment_caveat(frame)
                yield Issue(pointer, f"parameter '{decl.name}' is {_shown(decl, bad[0], 60)} ({how}), not one "
                            f"of {shown}{caveat}", fix="use an allowed value, or add it to `allowedValues`",
                            severity=WARNING if caveat else None,
                            data={"parameter": decl.name, "value": bad[0] if not isinstance(bad[0], (dict, list))
                                  and not _secure(decl) else None}), label
    yield from report_once(doc, ctx, candidates(), defaults_alone=False)


@rule("ARM002", "arm-parameter-out-of-range", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="A parameter value outside its minValue/maxValue or minLength/maxLength")
def parameter_out_of_range(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks each known parameter value against the parameter's `minValue`/`maxValue` (integers)
    and `minLength`/`maxLength` (strings and arrays).

    ## Why it matters
    Azure Resource Manager rejects the whole deployment when one bound is violated.

    ## Example
    ```json
    "replicas": { "type": "int", "defaultValue": 0, "minValue": 1, "maxValue": 10 }
    ```

    ## How to fix
    Use a value within the bounds, or change the bounds.
    """
    if _settled_at_root(doc, ctx, _has_bounds, _within_bounds_at_root):
        return
    def candidates():
        for frame, label in local_frames(doc, ctx, _has_bounds):
            for decl in frame.template.parameters.values():
                bounds = [(decl.min_value, "minValue"), (decl.max_value, "maxValue"),
                          (decl.min_length, "minLength"), (decl.max_length, "maxLength")]
                if all(b is ABSENT for b, _ in bounds):
                    continue
                given = value_source(frame, decl)
                if given is None:
                    continue
                value = frame.parameter(decl.name)
                if find_unknown(value) is not None:
                    continue
                for raw, keyword in bounds:
                    if raw is ABSENT:
                        continue
                    bound = evaluate(raw, Scope(frame))
                    if not isinstance(bound, int) or isinstance(bound, bool):
                        continue
                    if keyword.endswith("Value"):
                        if not isinstance(value, int) or isinstance(value, bool):
                            continue
                        measured, what = value, f"{value}"
                    else:
                        if not isinstance(value, (str, list)):
                            continue
                        measured, what = len(value), f"{_shown(decl, value, 40)} (length {len(value)})"
                    low = keyword.startswith("min")
                    if (measured < bound) if low else (measured > bound):
                        how, pointer = given
                        caveat = deployment_caveat(frame)
                        yield Issue(pointer, f"parameter '{decl.name}' is {what} ({how}), "
                                    f"{'below' if low else 'above'} its {keyword} {bound}{caveat}",
                                    fix=f"use a value {'at least' if low else 'at most'} {bound}",
                                    severity=WARNING if caveat else None,
                                    data={"parameter": decl.name, "bound": keyword}), label
    yield from report_once(doc, ctx, candidates(), defaults_alone=False)


@rule("ARM003", "arm-parameter-not-declared", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="A parameter file sets a parameter the template does not declare")
def parameter_not_declared(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Compares the parameters a paired (or `--parameters`) file sets with the ones the template
    declares.

    ## Why it matters
    Azure Resource Manager rejects such a deployment ("The template parameters 'x' in the
    parameters file are not valid; they are not present in the original template"). It is
    usually a renamed parameter whose value is now silently not used.

    A parameter file whose values use the Azure Developer CLI's `${NAME}` substitutions is
    deployed by `azd`, which passes the template only the parameters it declares: the
    deployment is not rejected, and the others get a warning instead (their values are not
    used).

    ## Example
    `azuredeploy.parameters.json` sets `keyVaultName`, the template declares `vaultName`.

    ## How to fix
    Rename the parameter in the file (or remove it), or declare it in the template.
    """
    template = template_of(doc)
    declared = set(template.parameters)
    seen = set()
    for parameter_set in parameter_sets_of(doc, ctx):  # each evaluation's, without evaluating
        pf = parameter_set.file
        if pf is None or pf.abspath in seen:
            continue
        seen.add(pf.abspath)
        names = undeclared_in_file(pf, declared)
        if names:
            found = kitem(doc.data, "parameters")
            pointer = join_pointer("", found[0]) if found else ""
            listed = listing(f"'{n}'" for n in names)
            if pf.azd:
                yield Issue(pointer, f"parameter file {os.path.basename(pf.path)} sets {listed}, not declared "
                            "in the template: the Azure Developer CLI passes only declared parameters, so their "
                            "values are not used", severity=WARNING,
                            fix="rename or remove them in the parameter file, or declare them",
                            data={"parameterFile": pf.path, "parameters": names, "deployedBy": "azd"})
                continue
            yield Issue(pointer, f"parameter file {os.path.basename(pf.path)} sets {listed}, "
                        "not declared in the template: Azure rejects the deployment",
                        fix="rename or remove them in the parameter file, or declare them",
                        data={"parameterFile": pf.path, "parameters": names})


# ------------------------------------------------------------------ static expression checks

@rule("ARM004", "arm-undeclared-reference", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="`parameters('x')` or `variables('x')` names something the template does not declare")
def undeclared_reference(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds `parameters('name')` and `variables('name')` whose name is not declared in the
    template that evaluates them (an outer-scoped nested template uses its parent's names; an
    inner-scoped one its own). Names are compared case-insensitively, as ARM does. References
    inside the branches of `if()` are not checked: ARM evaluates only the branch it takes.

    ## Why it matters
    Azure Resource Manager rejects the template ("The template parameter 'x' is not found").
    It is usually a renamed or deleted parameter.

    ## Example
    ```json
    "parameters": { "vaultName": { "type": "string" } },
    ...
    "name": "[parameters('keyVaultName')]"
    ```

    ## How to fix
    Declare the parameter or variable, or correct the name.
    """
    named = text_references(doc)
    for t, outer in nested_templates(template_of(doc)):
        params = set(t.parameters) | (set(outer.parameters) if outer else set())
        variables = set(t.variables) | (set(outer.variables) if outer else set())
        if named is not None and all(name in (params if kind == "parameters" else variables) for kind, name in named):
            continue  # nothing in the file's text names what this template does not declare
        if outer is not None:
            found = _undeclared(t, params, variables)
        else:  # its own names only: a module's template gives the same in every file that calls it
            found = shared_template_result(t, "ARM004", functools.partial(_undeclared, t, params, variables))
        for inner, names in found:
            verb = "is" if len(names) == 1 else "are"
            yield Issue(t.pointer + inner, f"{listing(names)} {verb} not declared in this template: Azure rejects it",
                        fix="declare it, or correct the name", data={"names": names})


def _undeclared(t: Any, params: set[str], variables: set[str]) -> list[tuple[str, list[str]]]:
    """(pointer relative to the template's, names as written) of each expression of `t` that
    reads a parameter or variable not among the declared `params` and `variables`."""
    out: list[tuple[str, list[str]]] = []
    declared = {("parameters", name) for name in params} | {("variables", name) for name in variables}
    if possible_names(t) <= declared:
        return out  # nothing it may name is undeclared: its expressions need not be walked one by one
    for expression in references_of(t).expressions:
        if expression.possible_references() <= declared:
            continue  # every name it may reference is declared: it need not be parsed
        missing: dict[str, str] = {}
        for ref in expression.direct_references:
            known = params if ref.kind == "parameters" else variables
            what = "parameter" if ref.kind == "parameters" else "variable"
            if ref.name.lower() not in known:
                missing.setdefault(f"{what}:{ref.name.lower()}", f"{what} '{ref.name}'")
        if missing:
            pointer = expression.pointer
            assert pointer.startswith(t.pointer)
            out.append((pointer[len(t.pointer):], list(missing.values())))
    return out


@rule("ARM005", "arm-reference-in-variables", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="`reference()` in `variables` of a template without symbolic names")
def reference_in_variables(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds `reference()` calls in the `variables` section of a template that does not use
    `languageVersion` 2.0 (symbolic names).

    ## Why it matters
    "You can't use the reference function in the variables section of the template" (ARM best
    practices): the deployment fails validation. Bicep accepts such variables because it inlines
    them; hand-written JSON does not get that help.

    ## Example
    ```json
    "variables": { "kvPolicies": "[reference(variables('kvId'), '2023-07-01').accessPolicies]" }
    ```

    ## How to fix
    Use the `reference()` expression where the value is needed, or pass it as a parameter to a
    nested deployment.
    """
    if not may_call(doc, "reference"):
        return
    for t, _outer in nested_templates(template_of(doc)):
        if t.symbolic:
            continue
        if not variables_may_call(t, ("reference", "references")):
            continue  # no string of its variables names the function, no tree calls it
        found = references_of(t)
        for decl in t.variables.values():
            for expression in found.of(decl):
                if "reference" in expression.calls or "references" in expression.calls:
                    yield Issue(expression.pointer, f"variable '{decl.name}' uses reference(), which Azure does not "
                                "allow in `variables` (outside languageVersion 2.0 templates)",
                                fix="inline the expression where it is used, or pass it into a nested deployment",
                                data={"variable": decl.name})
                    break


@rule("ARM006", "arm-variable-cycle", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="Variables that refer to each other in a cycle")
def variable_cycle(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Builds the graph of which variable refers to which and reports each cycle once.

    ## Why it matters
    A variable cannot be computed from itself: Azure Resource Manager rejects the template
    ("circular reference").

    ## Example
    ```json
    "variables": { "a": "[variables('b')]", "b": "[concat(variables('a'), '-x')]" }
    ```

    ## How to fix
    Break the cycle: compute one of the values from parameters or literals.
    """
    for t, _outer in nested_templates(template_of(doc)):
        if not t.variables:
            continue
        if not _cycles(possible_variable_reads(t)):
            continue  # what the variables may read has no cycle: what they read has none
        found = references_of(t)
        edges: dict[str, set[str]] = {}
        for lower, decl in t.variables.items():
            edges[lower] = {ref.name.lower() for expression in found.of(decl) for ref in expression.references
                            if ref.kind == "variables" and ref.name.lower() in t.variables}
        for cycle in _cycles(edges):
            first = t.variables[cycle[0]]
            names = " -> ".join(t.variables[c].name for c in cycle + [cycle[0]])
            yield Issue(first.pointer, f"variables refer to each other in a cycle: {names}",
                        fix="compute one of them without the others",
                        data={"cycle": [t.variables[c].name for c in cycle]})


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Elementary cycles found by depth-first search, each reported once (iterative)."""
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in sorted(edges):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(cycle)
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(edges.get(nxt, ()))))
    return found


# ------------------------------------------------------------------ template structure

_SECTIONS = {"parameters": dict, "variables": dict, "outputs": dict, "functions": list, "metadata": dict}
# A resource's keys whose JSON type ARM fixes; an expression string (`[...]`) stands for any type.
_RESOURCE_KEYS: dict[str, type | tuple[type, ...]] = {
    "type": str, "name": str, "apiVersion": str, "location": str, "dependsOn": list,
    "condition": (bool, str), "copy": dict, "properties": dict, "tags": dict, "sku": dict,
    "resources": list}
_RESOURCE_KEYS_LOWER = {name.lower(): name for name in _RESOURCE_KEYS}
_JSON_TYPE = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _wrong(value: Any, expected: type | tuple[type, ...]) -> bool:
    if not isinstance(value, (dict, list, str, bool, int, float, type(None))):
        return False  # an expression tree (from the Bicep front end)
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[["):
        return False  # an expression: its value is checked where it is evaluated
    if (isinstance(value, bool) and expected is not bool
            and bool not in (expected if isinstance(expected, tuple) else ())):
        return True
    return not isinstance(value, expected)


def _expected(expected: type | tuple[type, ...]) -> str:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(_JSON_TYPE[k] for k in kinds)


# The exact types of value each resource key takes that `_wrong` never reports (most values):
# those are passed without the call.
_RESOURCE_KEY_TYPES = {name: frozenset(expected if isinstance(expected, tuple) else (expected,))
                       for name, expected in _RESOURCE_KEYS.items()}
# Keys of a resource that are no other casing of a `_RESOURCE_KEYS` name: when a resource has
# only keys spelled as here (nearly always), each name's key is the name itself.
_PLAIN_RESOURCE_KEYS = frozenset(_RESOURCE_KEYS) | frozenset(
    ("kind", "identity", "scope", "metadata", "comments", "zones", "plan", "extendedLocation", "managedBy",
     "existing", "subscriptionId", "resourceGroup", "import"))


def _resource_structure(resources: Any, pointer: str) -> Iterator[Issue]:
    items = resources.items() if isinstance(resources, dict) else enumerate(resources)
    for key, resource in items:
        if not isinstance(resource, dict):
            yield Issue(join_pointer(pointer, key),
                        f"resource {key} is {_json_type(resource)}, not an object: Azure rejects the template",
                        fix="write each resource as an object with type, apiVersion and name")
            continue
        # The key `kitem` finds for each name (its exact spelling, else the first in any case),
        # in one pass over the resource's keys rather than one per name.
        keys: dict[str, str] = {}
        if resource.keys() <= _PLAIN_RESOURCE_KEYS:
            keys = {name: name for name in _RESOURCE_KEYS if name in resource}
        else:
            for k in resource:
                if isinstance(k, str) and (name := _RESOURCE_KEYS_LOWER.get(k.lower())) is not None \
                        and (k == name or name not in keys):
                    keys[name] = k
            keys = {name: keys[name] for name in _RESOURCE_KEYS if name in keys}  # (reported in this order)
        for name, actual in keys.items():
            value = resource[actual]
            expected = _RESOURCE_KEYS[name]
            if type(value) in _RESOURCE_KEY_TYPES[name] or not _wrong(value, expected):
                continue
            yield Issue(join_pointer(join_pointer(pointer, key), actual),
                        f"`{actual}` of resource {key} is {_json_type(value)}; ARM expects {_expected(expected)}",
                        fix=f"write `{actual}` as {_expected(expected)}")
        children = (keys["resources"], resource[keys["resources"]]) if "resources" in keys else None
        if children is not None and isinstance(children[1], list):
            yield from _resource_structure(children[1], join_pointer(join_pointer(pointer, key), children[0]))


# A template's keys, none another casing of a `_SECTIONS` name, `resources` or `languageVersion`:
# when a template has only these (nearly always), `kitem` of each name is an exact look-up.
_PLAIN_TEMPLATE_KEYS = frozenset(("$schema", "contentVersion", "parameters", "variables", "functions", "resources",
                                  "outputs", "metadata", "languageVersion", "definitions", "apiProfile", "imports",
                                  "extensions"))


def _exact_item(obj: dict, key: str) -> tuple[str, Any] | None:
    """`kitem` of an object none of whose other keys is a casing of `key`."""
    return (key, obj[key]) if key in obj else None


@rule("ARM007", "arm-template-structure", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="A template section or resource key of the wrong JSON type")
def template_structure(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks the JSON types ARM fixes: `resources` is an array (or, with `languageVersion` 2.0, an
    object keyed by symbolic name); `parameters`, `variables` and `outputs` are objects; each
    resource is an object whose `type`, `name` and `apiVersion` are strings, `dependsOn` an
    array, `properties` an object, `condition` a boolean or an expression. An expression
    (`"[...]"`) stands for any type. The other rules skip what has the wrong type, so without this
    rule such a template would pass silently.

    ## Why it matters
    Azure Resource Manager rejects the template at validation ("The template resource ... is not
    valid"), after the pipeline has already started.

    ## Example
    ```json
    "resources": { "type": "Microsoft.KeyVault/vaults" }   // an object without languageVersion 2.0
    "dependsOn": "[resourceId('Microsoft.Storage/storageAccounts', 'st')]"   // fine: an expression
    "dependsOn": "storage"                                  // ARM007: a string, not an array
    ```

    ## How to fix
    Give the section or key the type the message names.
    """
    if doc.format == "bicep":  # generated from Bicep: a wrong type there is a Bicep compile error
        return
    data = doc.data
    if not isinstance(data, dict):
        yield Issue("", f"the template is {_json_type(data)}, not a JSON object: Azure rejects it",
                    fix="a template is an object with $schema, contentVersion and resources")
        return
    find = _exact_item if data.keys() <= _PLAIN_TEMPLATE_KEYS else kitem
    for name, expected in _SECTIONS.items():
        found = find(data, name)
        if found is not None and _wrong(found[1], expected) and found[1] is not None:
            yield Issue(join_pointer("", found[0]),
                        f"`{found[0]}` is {_json_type(found[1])}; ARM expects {_expected(expected)}",
                        fix=f"write `{found[0]}` as {_expected(expected)}")
    found = find(data, "resources")
    if found is None:
        return
    key, resources = found
    symbolic = find(data, "languageVersion") is not None
    if isinstance(resources, list) or (symbolic and isinstance(resources, dict)):
        yield from _resource_structure(resources, join_pointer("", key))
    else:
        wanted = "an array (or an object keyed by symbolic name, with languageVersion 2.0)"
        yield Issue(join_pointer("", key), f"`{key}` is {_json_type(resources)}; ARM expects {wanted}",
                    fix="write `resources` as an array of resource objects")
