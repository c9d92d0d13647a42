"""Key Vaults a template deploys, and what a redeploy does to their access policies.

    vault_deployments(doc, ctx) -> [VaultDeployment]     cached per document

One `VaultDeployment` per `Microsoft.KeyVault/vaults` instance per parameter set, with the
decision branch:

  not-deployed  condition false, copy count 0, or `existing: true`
  rbac          `enableRbacAuthorization` is true: access policies are ignored
  preserving    `accessPolicies` comes from `reference(<this vault>).accessPolicies` (directly,
                through variables, or through an inner nested deployment's parameter), or the
                `createMode: recover` + null trick
  declared      the declared list is known (`policies`, possibly empty)
  missing       no `accessPolicies` (nor a property copy of it), or null, without recover
  unknown       the list cannot be evaluated offline (`policies_value` is the Unknown)

plus everything the live check needs (resolved name, target overrides, tenant, apiVersion,
RBAC flag, createMode, the `vaults/accessPolicies` add/replace/remove operations on the same
vault in document order, the parameter file) and what the rules need to word a finding
(deployment status with guards, Azure ML workspaces in the same template that use the vault).
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from ..documents import Document
from ..loaders import join_pointer, lowered
from .deployments import (Anchor, DeployedResource, Evaluation, Status, evaluations, may_deploy, possible_types,
                          template_of)
from .evaluator import Scope, SymbolicTarget, evaluate
from .expressions import (Call, Index, Literal, Member, Node, compile_string, path_pointer,
                          template_strings, walk)
from .references import _own_body, expression_sources, nested_templates, shared_template_result
from .template import ABSENT, Template, kget, kitem
from .values import ResourceRef, RuntimeValue, Unknown, same_text, split_last

VAULTS = "Microsoft.KeyVault/vaults"
POLICY_CHILD = "Microsoft.KeyVault/vaults/accessPolicies"
WORKSPACES = "Microsoft.MachineLearningServices/workspaces"
# new vaults default to RBAC from this API version on (Key Vault docs, *access-control-default*)
RBAC_DEFAULT_API = "2026-02-01"
# Every Key Vault control-plane API version before 2026-02-01 retires on 2027-02-27, with no
# exception or extension (same page, "migrate-api-version"): the same version as the RBAC default.
MINIMUM_API = RBAC_DEFAULT_API
RETIREMENT_DAY = datetime.date(2027, 2, 27)
KEYVAULT_NAMESPACE = "microsoft.keyvault/"
SHORT_NAME = 40  # characters of a name expression a message shows


@dataclass
class PolicyOperation:
    """A `Microsoft.KeyVault/vaults/accessPolicies` resource targeting a vault."""

    kind: Any  # "add" | "replace" | "remove" (lower-cased), or Unknown
    policies: Any  # list of policy dicts, Unknown, or ABSENT
    resource: DeployedResource

    @property
    def normalized_policies(self) -> list[dict[str, Any]] | None:
        if not isinstance(self.policies, list):
            return None
        return [p for p in (normalize_policy(e) for e in self.policies) if p is not None]

    @property
    def pointer(self) -> str:
        return self.resource.pointer

    @property
    def status(self) -> Status:
        return self.resource.status


@dataclass
class VaultDeployment:
    resource: DeployedResource
    branch: str  # not-deployed | rbac | preserving | declared | missing | unknown
    policies_value: Any  # evaluated accessPolicies: list, None, Unknown, or ABSENT
    enable_rbac_authorization: Any  # True | False | None (absent) | Unknown
    create_mode: Any  # str | None (absent) | Unknown
    tenant_id: Any  # str | Unknown | None (absent)
    preserving_how: str | None = None  # "reference" | "recover" (branch preserving)
    operations: list[PolicyOperation] = field(default_factory=list)
    workspaces: list[DeployedResource] = field(default_factory=list)

    # ---------------------------------------------------------------- identity and context

    @property
    def document(self) -> Any:
        """The scanned template document."""
        return self.resource.evaluation.document

    @property
    def pointer(self) -> str:
        """Pointer in the scanned document (the vault, or the deployment linking to its file)."""
        return self.resource.anchored(self.resource.pointer)

    @property
    def source_document(self) -> Any:
        return self.resource.document

    @property
    def source_pointer(self) -> str:
        return self.resource.pointer

    @property
    def name(self) -> str | None:
        value = self.resource.name
        return value if isinstance(value, str) else None

    @property
    def name_value(self) -> Any:
        return self.resource.name

    @property
    def name_expression(self) -> str:
        return self.resource.name_text

    @property
    def display_name(self) -> str:
        """The resolved name, or the name expression as written; from Bicep, the resource's
        symbol with either (`keyVault` ('kv-demo'), `keyVault` ('kv-${suffix}'))."""
        name = self.name
        bicep = self.resource.bicep_symbol
        if bicep is not None:
            return f"`{bicep[0]}` ({self.shown_name})"
        return f"'{name}'" if name is not None else f"`{self.name_expression}`"

    @property
    def shown_name(self) -> str:
        """The resolved name quoted, else the name as written (Bicep source for Bicep files)."""
        name = self.name
        if name is not None:
            return f"'{name}'"
        bicep = self.resource.bicep_symbol
        return bicep[1] if bicep is not None else f"`{self.name_expression}`"

    @property
    def subscription_id(self) -> Any:
        return self.resource.target[0]

    @property
    def resource_group(self) -> Any:
        return self.resource.target[1]

    @property
    def api_version(self) -> Any:
        return self.resource.api_version

    @property
    def parameter_file(self) -> str | None:
        return self.resource.parameter_file

    @property
    def status(self) -> Status:
        return self.resource.status

    # ------------------------------------------------------------------- derived facts

    @property
    def policies(self) -> list[dict] | None:
        """The declared policy list when known (branch `declared`), else None."""
        return self.policies_value if self.branch == "declared" and isinstance(self.policies_value, list) else None

    @property
    def normalized_policies(self) -> list[dict[str, Any]] | None:
        """`policies` with each entry normalised by `normalize_policy`."""
        policies = self.policies
        if policies is None:
            return None
        return [p for p in (normalize_policy(e) for e in policies) if p is not None]

    @property
    def policies_nonempty(self) -> bool | None:
        v = self.policies_value
        if isinstance(v, list):
            return bool(v)
        if isinstance(v, Unknown) and v.nonempty:
            return True
        return None

    @property
    def rbac_implicit(self) -> bool:
        """`enableRbacAuthorization` is absent and the apiVersion makes new vaults RBAC."""
        api = self.api_version
        return self.enable_rbac_authorization is None and isinstance(api, str) and api[:10] >= RBAC_DEFAULT_API

    def get(self, path: str) -> Any:
        return self.resource.get(path)

    def pointer_of(self, path: str) -> str:
        """Pointer in the scanned document for a property path of the vault."""
        return self.resource.anchored(self.resource.pointer_of(path))


def vault_deployments(doc: Any, ctx: Any) -> list[VaultDeployment]:
    """Every Key Vault instance the template declares, under every parameter set (cached)."""
    if "arm.vaults" not in doc.cache:
        out: list[VaultDeployment] = []
        if may_deploy(doc, VAULTS):  # else no evaluation has a vault: none is evaluated
            for ev in evaluations(doc, ctx):
                for resource in ev.of_type(VAULTS):
                    out.append(_decide(resource, ev))
        doc.cache["arm.vaults"] = out
    return doc.cache["arm.vaults"]


@dataclass
class SwitchedOff:
    """A vault that is not deployed only because a condition reads `bool` parameters left at
    their default `false`, and how it deploys in a run that passes them `true`."""

    vault: VaultDeployment  # as evaluated (not deployed)
    switches: list[str]  # the parameters, as declared
    switched_on: VaultDeployment  # the same vault with those parameters true


def switched_off_vaults(doc: Any, ctx: Any) -> list[SwitchedOff]:
    """The vaults that a default `false` switch keeps out of the deployment (cached). For each,
    the template is evaluated again, under the same parameter set with the switches `true`
    (as `--param` values), and the same vault found there: a pipeline that turns the feature on
    deploys that one. A vault declared `existing` is never deployed, whatever the parameters:
    its conditions are not read."""
    if "arm.vaults.switched-off" not in doc.cache:
        out = []
        for vault in vault_deployments(doc, ctx):
            off = vault.branch == "not-deployed" and not vault.resource.decl.existing
            switches = _default_false_switches(vault.resource) if off else []
            on = _switched_on(doc, ctx, vault.resource, switches) if switches else None
            if on is not None and on.branch != "not-deployed":
                out.append(SwitchedOff(vault, switches, on))
        doc.cache["arm.vaults.switched-off"] = out
    return doc.cache["arm.vaults.switched-off"]


def _default_false_switches(resource: DeployedResource) -> list[str]:
    """The parameters of the first false condition on the resource's path, when each is a root
    `bool` parameter at its default `false` (and the condition reads nothing else the deployer
    gives); else []."""
    path: list[DeployedResource] = list(resource.chain)
    owners: list[DeployedResource] = []
    node: DeployedResource | None = resource
    while node is not None:
        owners.append(node)
        node = node.parent
    for element in path + owners[::-1]:
        if element.copy_count == 0:
            return []
        value, uses = element.own_condition()
        if value is not False:
            continue
        roots = {u.name: u for u in uses if u.root}
        frame = element.evaluation.root
        for use in roots.values():
            decl = frame.template.parameters.get(use.name.lower())
            if use.source != "default" or use.value is not False or decl is None or decl.type != "bool":
                return []
        return sorted(roots)
    return []


def _switched_on(doc: Any, ctx: Any, resource: DeployedResource, switches: list[str]) -> VaultDeployment | None:
    from .parameters import ParameterSet
    original = resource.evaluation
    key = (original.parameter_set.label, tuple(s.lower() for s in switches))
    cache = doc.cache.setdefault("arm.switched-on", {})
    if key not in cache:
        cli = dict(original.parameter_set.cli, **{name: True for name in switches})
        cache[key] = Evaluation(doc, original.template, ParameterSet(original.parameter_set.file, cli), ctx)
    ev = cache[key]
    place = _place(resource)
    for other in ev.of_type(VAULTS):
        if _place(other) == place:
            return _decide(other, ev)
    return None


def _place(resource: DeployedResource) -> tuple:
    """Which declaration, in which copy of each enclosing loop, a resource instance is."""
    path = list(resource.chain)
    node: DeployedResource | None = resource
    while node is not None:
        path.append(node)
        node = node.parent
    return tuple((id(r.decl), r.copy_index) for r in path)


@dataclass
class VaultsNotChecked:
    """Key Vault instances of one evaluation past its limit of resource instances."""

    evaluation: Evaluation
    count: int
    at_least: bool  # some copy count among the skipped resources is not known
    pointer: str  # the first vault declaration skipped (in the scanned document), else ""


def vaults_not_checked(doc: Any, ctx: Any) -> list[VaultsNotChecked]:
    """Per evaluation, the Key Vault instances not evaluated because the template deploys more
    resource instances than an evaluation expands (`deployments.MAX_INSTANCES`)."""
    out = []
    if may_deploy(doc, VAULTS):
        for ev in evaluations(doc, ctx):
            count = ev.skipped.get(VAULTS.lower(), 0)
            if count:
                first = ev.first_skipped[VAULTS.lower()]
                local = first.template is not None and first.template.document is doc
                out.append(VaultsNotChecked(ev, count, ev.skipped_at_least, first.pointer if local else ""))
    return out


def _as_bool(value: Any) -> Any:
    """A boolean property as the resource provider reads it ("true" is true)."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def normalize_policy(entry: Any) -> dict[str, Any] | None:
    """An access-policy entry as {tenantId, objectId, applicationId, permissions} (keys matched
    case-insensitively; applicationId None when absent; permission categories lower-cased).
    Values stay as evaluated: strings, or Unknowns. None when the entry is not an object."""
    if not isinstance(entry, dict):
        return None
    out: dict[str, Any] = {"tenantId": None, "objectId": None, "applicationId": None, "permissions": {}}
    for key, value in entry.items():
        lower = key.lower() if isinstance(key, str) else ""
        if lower == "tenantid":
            out["tenantId"] = value
        elif lower == "objectid":
            out["objectId"] = value
        elif lower == "applicationid":
            out["applicationId"] = value if value != "" else None
        elif lower == "permissions":
            out["permissions"] = {k.lower(): v for k, v in value.items() if isinstance(k, str)} \
                if isinstance(value, dict) else value
    return out


def _value_or_none(resource: DeployedResource, path: str) -> Any:
    value = resource.get(path)
    return None if value is ABSENT else value


def _decide(resource: DeployedResource, ev: Evaluation) -> VaultDeployment:
    rbac = _as_bool(_value_or_none(resource, "properties/enableRbacAuthorization"))
    create_mode = _value_or_none(resource, "properties/createMode")
    tenant = _value_or_none(resource, "properties/tenantId")
    policies = resource.get("properties/accessPolicies")
    vault = VaultDeployment(resource, "unknown", policies, rbac, create_mode, tenant)
    if resource.status.state != "not-deployed":
        vault.operations = _operations(resource, ev)
        vault.workspaces = _workspaces(resource, ev)
    if resource.status.state == "not-deployed":
        vault.branch = "not-deployed"
    elif rbac is True:
        vault.branch = "rbac"
    elif _reads_own_policies(resource):
        vault.branch, vault.preserving_how = "preserving", "reference"
    elif _recover_trick(resource, policies, create_mode):
        vault.branch, vault.preserving_how = "preserving", "recover"
    elif policies is ABSENT or policies is None:
        vault.branch = "missing"
    elif isinstance(policies, list):
        vault.branch = "declared"
    else:
        vault.branch = "unknown"
    return vault


# ------------------------------------------------------------------ preserving patterns

def _recover_trick(resource: DeployedResource, policies: Any, create_mode: Any) -> bool:
    """`createMode: recover` with null policies, or a switch that selects exactly that
    (`if(parameters('exists'), 'recover', 'default')` with `if(..., json('null'), ...)`)."""
    if isinstance(create_mode, str) and create_mode.lower() == "recover":
        return policies is ABSENT or policies is None
    raw_mode = resource.raw("properties/createMode")
    raw_policies = resource.raw("properties/accessPolicies")
    can_recover = any(isinstance(n, Literal) and isinstance(n.value, str) and n.value.lower() == "recover"
                      for _, c in template_strings(raw_mode) if isinstance(c, Node) for n in walk(c))
    if not can_recover:
        return False
    for _, c in template_strings(raw_policies):
        if isinstance(c, Node):
            for n in walk(c):
                if isinstance(n, Literal) and n.value is None:
                    return True
                if isinstance(n, Call) and n.name == "null":
                    return True
                if isinstance(n, Call) and n.name == "json" and n.args and isinstance(n.args[0], Literal) \
                        and isinstance(n.args[0].value, str) and n.args[0].value.strip() == "null":
                    return True
    return False


def _reads_own_policies(resource: DeployedResource) -> bool:
    """Whether `accessPolicies` is derived from `reference(<this vault>).accessPolicies`,
    following variables and parameters (including values an enclosing deployment passes in),
    and looking into every branch of `if()`: the pattern is a read-merge of the live list."""
    raw = resource.raw("properties/accessPolicies")
    if raw is ABSENT:
        props = resource.raw("properties")
        copy = kget(props, "copy") if isinstance(props, dict) else ABSENT
        if not isinstance(copy, list):
            return False
        raw = [spec for spec in copy if isinstance(spec, dict)
               and str(kget(spec, "name", "")).lower() == "accesspolicies"]
        if not raw:
            return False
    seen: set[tuple[int, str, str]] = set()
    work: list[tuple[Any, Scope]] = [(raw, resource.scope)]
    steps = 0
    while work and steps < 2000:
        value, scope = work.pop()
        for _, compiled in template_strings(value):
            if not isinstance(compiled, Node):
                continue
            for node in walk(compiled):
                steps += 1
                if isinstance(node, Member) and node.name.lower() == "accesspolicies":
                    call = _reference_call(node.target)
                    if call is not None and _targets_vault(call, scope, resource):
                        return True
                elif isinstance(node, Call) and node.name in ("parameters", "variables") and node.args \
                        and isinstance(node.args[0], Literal) and isinstance(node.args[0].value, str):
                    name = node.args[0].value.lower()
                    key = (id(scope.frame), node.name, name)
                    if key in seen:
                        continue
                    seen.add(key)
                    work.extend(_definition(node.name, name, scope))
    return False


def _reference_call(node: Node) -> Call | None:
    """`reference(...)` or `reference(..., 'Full').properties` under an `.accessPolicies`."""
    if isinstance(node, Member) and node.name.lower() == "properties":
        node = node.target
    if isinstance(node, Call) and node.name == "reference" and node.args:
        return node
    return None


def _definition(kind: str, name: str, scope: Scope) -> list[tuple[Any, Scope]]:
    frame = scope.frame
    if kind == "variables":
        decl = frame.template.variables.get(name)
        if decl is None:
            return []
        if decl.copy is not None:
            return [(decl.copy.input, Scope(frame)), (decl.copy.count, Scope(frame))]
        return [(decl.value, Scope(frame))]
    inp = frame.inputs.get(name)
    if inp is not None and not (inp.source in ("parent", "file", "cli") and inp.value is None):  # null: the default
        if inp.source == "parent" and inp.scope is not None:
            return [(inp.value, inp.scope)]
        return []
    param = frame.template.parameters.get(name)
    if param is not None and param.default is not ABSENT:
        return [(param.default, Scope(frame))]
    return []


def _targets_vault(call: Call, scope: Scope, vault: DeployedResource) -> bool:
    """Whether `reference(target, ...)` can be this vault (True unless it is surely another)."""
    target = evaluate(call.args[0], scope)
    if isinstance(target, SymbolicTarget):
        if target.decl is vault.decl:
            return True
        decl_type = target.decl.static_type
        if decl_type is None or decl_type.lower() != VAULTS.lower():
            return False
        other = evaluate(target.decl.name, target.scope)
        return same_text(other, vault.name) is not False
    if isinstance(target, ResourceRef):
        if isinstance(target.type, str) and target.type.lower() != VAULTS.lower():
            return False
        return same_text(target.name, vault.name) is not False
    if isinstance(target, str):
        lower = target.lower()
        if "/providers/" in lower:
            if "/microsoft.keyvault/vaults/" not in lower:
                return False
            return same_text(target.rsplit("/", 1)[-1], vault.name) is not False
        return same_text(target, vault.name) is not False
    if isinstance(target, RuntimeValue) or isinstance(target, Unknown):
        return True
    return False


# ------------------------------------------------------------------ related resources

def refers_to_vault(value: Any, vault: DeployedResource) -> bool:
    """Whether a resource id value (e.g. a workspace's `properties.keyVault`) is this vault."""
    if isinstance(value, ResourceRef):
        return isinstance(value.type, str) and value.type.lower() == VAULTS.lower() and \
            same_text(value.name, vault.name) is True
    if isinstance(value, str) and "/microsoft.keyvault/vaults/" in value.lower():
        return same_text(value.rsplit("/", 1)[-1], vault.name) is True
    if isinstance(value, Unknown) and value.parts:
        split = split_last(value)
        if split is not None and isinstance(split[0], (str, Unknown)):
            head = split[0]
            head_text = head if isinstance(head, str) else "".join(p for p in (head.parts or ()) if isinstance(p, str))
            if head_text.lower().endswith("/microsoft.keyvault/vaults"):
                return same_text(split[1], vault.name) is True
    return False


def _workspaces(vault: DeployedResource, ev: Evaluation) -> list[DeployedResource]:
    out = []
    for ws in ev.of_type(WORKSPACES):
        if ws.status.state == "not-deployed":
            continue
        if refers_to_vault(ws.get("properties/keyVault"), vault):
            out.append(ws)
    return out


def _operations(vault: DeployedResource, ev: Evaluation) -> list[PolicyOperation]:
    out = []
    for child in ev.of_type(POLICY_CHILD):
        if child.status.state == "not-deployed":
            continue
        split = split_last(child.name)
        if split is None:
            continue
        target, kind = split
        if same_text(target, vault.name) is not True:
            continue
        if isinstance(kind, str):
            kind = kind.lower()
        out.append(PolicyOperation(kind, child.get("properties/accessPolicies"), child))
    return out



# ------------------------------------------------------------------ retiring API versions

_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:-[A-Za-z][A-Za-z0-9.]*)?$")


def api_date(version: Any) -> str | None:
    """The date part of an API version (`2025-05-01-preview` -> `2025-05-01`), or None when
    `version` is not one."""
    m = _API_VERSION.match(version.strip()) if isinstance(version, str) else None
    return m.group(1) if m else None


def is_preview(version: str) -> bool:
    return version.strip().lower() != (api_date(version) or "")


@dataclass
class RetiringApi:
    """A `Microsoft.KeyVault/*` resource declaration whose apiVersion is before MINIMUM_API
    (under some parameter set): every instance of the declaration, once."""

    resource: DeployedResource  # its first instance
    type: str
    versions: list[str]  # the known retiring versions, as written or evaluated, first seen first
    names: list[str] = field(default_factory=list)  # the resolved names of its instances, when known

    @property
    def display_name(self) -> str:
        """In ARM, the name when one is known (`'kv-prod'`), else the name expression (a long one
        cut short) with the names it resolves to; from Bicep, the resource's symbol with them."""
        bicep = self.resource.bicep_symbol  # from Bicep: the resource's symbol, in the file's own terms
        if bicep is None and len(self.names) == 1:
            return f"'{self.names[0]}'"  # the expression is at the finding's location
        resolved = f" ({', '.join(repr(n) for n in self.names[:3])}{', ...' if len(self.names) > 3 else ''})" \
            if self.names else ""
        written = bicep[0] if bicep is not None else self.resource.name_text
        return f"`{written if len(written) <= SHORT_NAME else written[:SHORT_NAME - 1] + '…'}`{resolved}"

    @property
    def short_type(self) -> str:
        """The type without its namespace (`vaults/secrets`)."""
        return self.type[len(KEYVAULT_NAMESPACE):] if self.type.lower().startswith(KEYVAULT_NAMESPACE) else self.type

    @property
    def declaration(self) -> Any:
        return self.resource.decl

    @property
    def local(self) -> bool:
        """Declared in the scanned document itself (a Bicep module's resource is compiled into
        it, but its text is in the module's file: see `module_calls`)."""
        return self.resource.local

    @property
    def pointer(self) -> str:
        """In the scanned document: the apiVersion (in Bicep, the type string), or the
        deployment or module that brings the resource in from another file."""
        return self.resource.anchored(self.resource.pointer_of("apiVersion"))

    @property
    def literal(self) -> bool:
        """The apiVersion is written as text (not an expression): a fix can rewrite it."""
        raw = self.resource.decl.api_version
        return isinstance(raw, str) and not raw.startswith("[")

    @property
    def is_vault(self) -> bool:
        return self.type.lower() == VAULTS.lower()

    @property
    def existing(self) -> bool:
        return bool(self.resource.existing)


def is_keyvault_type(rtype: Any) -> bool:
    """A type of the Key Vault resource provider. `Microsoft.KeyVault/vaults/providers/<type>`
    (the old way to write an extension resource such as diagnostic settings or a role
    assignment on a vault) belongs to the other provider, and its apiVersion is that
    provider's."""
    if not isinstance(rtype, str):
        return False
    lower = rtype.lower()
    return lower.startswith(KEYVAULT_NAMESPACE) and "providers" not in lower.split("/")[1:]


def retiring_api_versions(doc: Any, ctx: Any) -> list[RetiringApi]:
    """Every `Microsoft.KeyVault/*` resource declaration (children, nested deployments, linked
    templates and Bicep modules included) whose apiVersion is known and older than MINIMUM_API
    (cached). An `existing` reference counts when the template reads it (`existing_read`):
    reading a vault is a control-plane GET at that version; using only its id or name is not."""
    if "arm.kv-retiring" not in doc.cache:
        doc.cache["arm.kv-retiring"] = _retiring(doc, ctx)
    return doc.cache["arm.kv-retiring"]


def _retiring(doc: Any, ctx: Any) -> list[RetiringApi]:
    types = possible_types(doc)
    if types is not None and not any(t.startswith(KEYVAULT_NAMESPACE) for t in types):
        return []  # no evaluation can have a Key Vault resource: none is evaluated
    found: dict[int, RetiringApi] = {}
    read = _reads(doc, ctx).symbolic
    for ev in evaluations(doc, ctx):
        for resource in ev.resources:
            rtype = resource.type
            if not is_keyvault_type(rtype):
                continue
            if resource.existing and not _existing_read(resource, read):
                continue
            version = resource.api_version
            day = api_date(version)
            if day is None or day >= MINIMUM_API:
                continue
            entry = found.get(id(resource.decl))
            if entry is None:
                entry = found[id(resource.decl)] = RetiringApi(resource, rtype, [version])
            elif version not in entry.versions:
                entry.versions.append(version)
            name = resource.name
            if isinstance(name, str) and name not in entry.names:
                entry.names.append(name)
    return list(found.values())



# ------------------------------------------------------------------ reads at a version

@dataclass
class KeyVaultRead:
    """A `reference()` or `list*()` call on a `Microsoft.KeyVault/*` resource, at an API version
    before MINIMUM_API given in the call (`reference(resourceId('Microsoft.KeyVault/vaults',
    'kv'), '2019-09-01').vaultUri`): a control-plane GET (or POST) at that version, rejected
    after the retirement as a declared resource is. Once per call site (identical calls in one
    string are one), whatever the copies and parameter sets."""

    resource: DeployedResource | None  # the resource whose text holds the call (None: an output)
    document: Any  # the document that holds the call
    evaluation: Evaluation
    anchor_pointer: str  # in the scanned document: the string, or the deployment that links to it
    string_pointer: str  # in `document`: the string that holds the call
    call: Call
    type: str
    version: str
    literal: bool  # the version is a literal argument of the call: a fix can rewrite it
    name: str | None = None  # the resource's name, when known offline

    @property
    def local(self) -> bool:
        return self.document is self.evaluation.document or self.document is None

    @property
    def pointer(self) -> str:
        return self.anchor_pointer

    @property
    def function(self) -> str:
        return self.call.spelling


@dataclass
class _Reads:
    calls: list[KeyVaultRead]
    symbolic: set[int]  # ids of declarations a languageVersion 2.0 `reference('symbol')` reads


def keyvault_reads(doc: Any, ctx: Any) -> list[KeyVaultRead]:
    """Every `reference()` / `list*()` call on a Key Vault resource at a retiring API version
    written in the call (cached). A call the Bicep front end generates for a resource symbol
    (`kv.properties`) is not one: its version is the declaration's, reported there."""
    return _reads(doc, ctx).calls


def existing_read(resource: DeployedResource, doc: Any, ctx: Any) -> bool:
    """Whether the template reads an `existing` resource: its properties or a `list*()`
    function. From Bicep, as the front end found it; from ARM JSON, a `reference()` or
    `list*()` of its symbolic name."""
    return _existing_read(resource, _reads(doc, ctx).symbolic)


def _existing_read(resource: DeployedResource, symbolic: set[int]) -> bool:
    document = resource.document
    cache = getattr(document, "cache", None)
    unread = cache.get("bicep.unread") if isinstance(cache, dict) else None
    if unread is not None:
        return resource.decl.pointer not in unread
    return id(resource.decl) in symbolic


def _reads(doc: Any, ctx: Any) -> _Reads:
    if "arm.kv-reads" not in doc.cache:
        doc.cache["arm.kv-reads"] = _find_reads(doc, ctx)
    return doc.cache["arm.kv-reads"]


def _find_reads(doc: Any, ctx: Any) -> _Reads:
    out = _Reads([], set())
    trees: dict[int, list[Call]] = {}  # the calls of each tree a front end built, by id (see _read_calls_of)
    per_template: dict[int, tuple[list[list[tuple[str, Call]]], list[tuple[str, Call]]]] = {}  # its reads
    if not _may_read_keyvault(doc, trees, per_template):
        return out  # no template it evaluates has a call to find: nothing to evaluate
    seen: set[tuple[int, str, Call]] = set()
    candidates: dict[int, list[tuple[str, Call]]] = {}  # per declaration (or template: outputs)
    indexes: dict[int, dict[int, int]] = {}  # per template, where each declaration is in all_resources()
    for ev in evaluations(doc, ctx):
        visited: set[int] = set()
        for resource in ev.resources:
            decl = resource.decl
            if id(decl) in visited:
                continue  # the first instance of a copy stands for the others
            visited.add(id(decl))
            if id(decl) not in candidates:
                template = decl.template
                if template is not None and _names_keyvault(resource.document):
                    index = indexes.get(id(template))
                    if index is None:
                        index = indexes[id(template)] = {id(d): i for i, d in enumerate(template.all_resources())}
                    reads = per_template.get(id(template))
                    if reads is None:
                        reads = per_template[id(template)] = _template_reads(template, trees)
                    own = reads[0][index[id(decl)]]
                    candidates[id(decl)] = [(template.pointer + inner, call) for inner, call in own]
                else:
                    candidates[id(decl)] = []
            for pointer, call in candidates[id(decl)]:
                _add_read(out, seen, ev, resource, resource.document, resource.anchored(pointer),
                          pointer, call, resource.scope)
        for frame in ev.frames:
            template = frame.template
            outputs = kget(template.raw, "outputs") if isinstance(template.raw, dict) else ABSENT
            if not isinstance(outputs, dict):
                continue
            if id(template) not in candidates:
                if _names_keyvault(template.document):
                    reads = per_template.get(id(template))
                    if reads is None:
                        reads = per_template[id(template)] = _template_reads(template, trees)
                    candidates[id(template)] = [(template.pointer + inner, call) for inner, call in reads[1]]
                else:
                    candidates[id(template)] = []
            deployment = getattr(frame, "deployment", None)
            local = template.document is ev.document or template.document is None
            for pointer, call in candidates[id(template)]:
                anchor = pointer if local else (Anchor(deployment.anchor, template.document, pointer,
                                                       deployment.chain + (deployment,))
                                                if deployment is not None else "")
                _add_read(out, seen, ev, None, template.document, anchor, pointer, call, Scope(frame))
    return out


def _template_reads(template: Template, trees: dict[int, list[Call]],
                    ) -> tuple[list[list[tuple[str, Call]]], list[tuple[str, Call]]]:
    """`_read_calls_of` each declaration of the template (in `all_resources()` order) and of
    its outputs, with pointers relative to the template's: read once for a module's template
    that every file calling the module embeds (`shared_template_result`)."""
    def read() -> tuple[list[list[tuple[str, Call]]], list[tuple[str, Call]]]:
        resources = template.all_resources()
        if not _may_call_reads(template.document):
            return [[] for _ in resources], []
        base, cut = template.pointer, len(template.pointer)

        def inner(pairs: list[tuple[str, Call]]) -> list[tuple[str, Call]]:
            assert all(pointer.startswith(base) for pointer, _ in pairs)
            return [(pointer[cut:], call) for pointer, call in pairs]

        raw = template.raw if isinstance(template.raw, dict) else {}
        outputs = kitem(raw, "outputs")
        return ([inner(_read_calls_of(decl.pointer, _own_body(decl), trees)) for decl in resources],
                inner(_read_calls_of(join_pointer(base, outputs[0]), outputs[1], trees) if outputs else []))

    return shared_template_result(template, "KV019 reads", read)


def _may_call_reads(document: Any) -> bool:
    """False when the text of an ARM JSON document names neither `reference` nor `list` (any
    case): none of its strings can call them, and its templates are not walked. A JSON string
    is a piece of the text but for its escapes, and only a `\\u` escape can spell a letter."""
    if not (isinstance(document, Document) and document.format == "json" and isinstance(document.text, str)):
        return True
    low = document.lower_text
    return "reference" in low or "list" in low or "\\u" in low


def _read_calls_of(base: str, value: Any, trees: dict[int, list[Call]]) -> list[tuple[str, Call]]:
    """(pointer of the string, call) for each `reference()` / `list*()` call with a target in
    the expressions of `value` below `base` (a declaration's own body, or the outputs), but
    those under a `comments` key; identical calls in one string once. The expressions are
    those `TemplateReferences` finds, in its order, but none is kept: most templates are walked
    for this alone. A string whose text names neither function is not parsed, and pointers are
    built only for what is found. A tree a front end shares among several places (a Bicep
    variable inlined where it is read) is walked once: `trees` keeps its calls by id (the
    template keeps the tree alive)."""
    out: list[tuple[str, Call]] = []

    def found(path: Any, source: str | Node) -> None:
        if isinstance(source, str):
            tree = compile_string(source)
            here = _reading_calls(tree) if isinstance(tree, Node) else []
        else:
            here = trees.get(id(source))  # type: ignore[assignment]
            if here is None:
                here = trees[id(source)] = _reading_calls(source)
        if here and not _under_comments(path):
            pointer = path_pointer(base, path)
            out.extend((pointer, c) for c in here)

    for path, source in expression_sources(value):
        if isinstance(source, str):
            lower = source.lower()  # (function names are matched case-insensitively)
            if "reference" not in lower and "list" not in lower:
                continue
        found(path, source)
    return out


def _may_read_keyvault(doc: Any, trees: dict[int, list[Call]],
                       per_template: dict[int, tuple[list[list[tuple[str, Call]]], list[tuple[str, Call]]]]) -> bool:
    """False when no template the document's evaluations would visit has a call to find: its
    document names no Key Vault type (`_names_keyvault`), or its declarations and outputs have
    no `reference()` / `list*()` call with a target (`_template_reads`, kept in `per_template`
    for the evaluations). Then no evaluation has a read to find, and the template is not
    evaluated for it. Known without evaluating when nothing links to another file
    (`templateLink.relativePath`): the templates are the template and its inline nested
    templates, whatever the parameters."""
    for template, _ in nested_templates(template_of(doc)):
        if _names_keyvault(template.document):
            reads = per_template[id(template)] = _template_reads(template, trees)
            if reads[1] or any(reads[0]):
                return True  # (the other templates are read as the evaluations reach them)
        for decl in template.all_resources():
            spec = decl.deployment
            if spec is not None and spec.template is None and spec.relative_path is not ABSENT:
                return True  # a linked file: its documents are known once evaluated
    return False


def _names_keyvault(document: Any) -> bool:
    """Whether a document's text names a Key Vault type at all: one that does not has no call
    on a Key Vault resource to find, and most templates are skipped without walking their
    expressions (the walk was a quarter of a cold scan). A type that reaches a template only
    through a parameter value from another file is not seen."""
    text = getattr(document, "text", None)
    if not isinstance(text, str):
        return True
    cache = getattr(document, "cache", None)
    if not isinstance(cache, dict):
        return "keyvault" in lowered(text)
    if "arm.names-keyvault" not in cache:
        # (six times faster than a case-insensitive regular expression over the text)
        low = document.lower_text if isinstance(document, Document) else lowered(text)
        cache["arm.names-keyvault"] = "keyvault" in low
    return cache["arm.names-keyvault"]


def _reading_calls(tree: Node) -> list[Call]:
    """The `reference()` / `list*()` calls with a target in a tree, in `walk` order, identical
    ones once; not those a front end made of a resource symbol (`from_declaration`)."""
    here: list[Call] = []
    stack = [tree]
    while stack:  # `walk`, inlined: the trees of a Bicep file are walked whole
        node = stack.pop()
        if isinstance(node, Call):
            args = node.args
            if args and (node.name == "reference" or node.name.startswith("list")) \
                    and not getattr(node, "from_declaration", False) and node not in here:
                here.append(node)
            stack.extend(args[::-1])
        elif isinstance(node, Member):
            stack.append(node.target)
        elif isinstance(node, Index):
            stack.append(node.index)
            stack.append(node.target)
    return here


def _under_comments(path: Any) -> bool:
    """Whether a `template_paths` path passes through a `comments` key (any case)."""
    while path is not None:
        path, key = path
        if isinstance(key, str) and key.lower() == "comments":
            return True
    return False


def _add_read(out: _Reads, seen: set, ev: Evaluation, resource: DeployedResource | None, document: Any,
              anchor: str, pointer: str, call: Call, scope: Scope) -> None:
    """Record a call that reads a Key Vault resource at a retiring version written in it, or
    (without a version) the languageVersion 2.0 declaration it reads. What decides is evaluated
    cheapest first: a call site found under another parameter set is not evaluated again, and
    the target only when the version retires."""
    key = (id(document), pointer, call)
    if key in seen:
        return
    symbolic = scope.frame.template.symbolic
    if len(call.args) < 2:  # at the declared version: the declaration's finding
        if symbolic:
            target = _target(call, scope)
            if isinstance(target, SymbolicTarget):
                out.symbolic.add(id(target.decl))
        return
    version = evaluate(call.args[1], scope)
    day = api_date(version)
    if day is None or day >= MINIMUM_API:
        return
    target = _target(call, scope) if symbolic else evaluate(call.args[0], scope)
    name = None
    if isinstance(target, ResourceRef):
        rtype = target.type
        if target.names and all(isinstance(n, str) for n in target.names):
            name = "/".join(target.names)
    elif isinstance(target, str):
        rtype = type_of_id(target)
        name = target.rsplit("/", 1)[-1] if rtype else None
    elif isinstance(target, SymbolicTarget):
        rtype = target.decl.static_type
    else:
        return
    if not is_keyvault_type(rtype):
        return
    if isinstance(target, SymbolicTarget):
        declared = evaluate(target.decl.name, target.scope)
        name = declared if isinstance(declared, str) else None
    seen.add(key)
    out.calls.append(KeyVaultRead(resource, document, ev, anchor, pointer, call, rtype, version.strip(),
                                  isinstance(call.args[1], Literal) and isinstance(call.args[1].value, str),
                                  name))


def _target(call: Call, scope: Scope) -> Any:
    """What a call in a languageVersion 2.0 template reads: `list*('symbol', ...)` names a
    declaration (`SymbolicTarget`)."""
    target = evaluate(call.args[0], scope)
    if isinstance(target, str) and "/" not in target:
        decl = scope.frame.template.by_symbolic_name(target)
        if decl is not None:
            return SymbolicTarget(decl, scope)
    return target


def type_of_id(resource_id: str) -> str | None:
    """The resource type of a resource id (`/subscriptions/../providers/Microsoft.KeyVault/vaults/kv/
    secrets/s` -> `Microsoft.KeyVault/vaults/secrets`), or None when it is not one."""
    lower = resource_id.lower()
    at = lower.rfind("/providers/")
    if at < 0:
        return None
    segments = resource_id[at + len("/providers/"):].strip("/").split("/")
    if len(segments) < 3 or len(segments) % 2 == 0:
        return None
    return "/".join([segments[0]] + segments[1::2])
