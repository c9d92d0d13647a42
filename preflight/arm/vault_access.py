"""What a redeploy does to the access policies of each Key Vault a template deploys: the
analysis KV001-KV006 share, made once per document.

    access_outcomes(doc, ctx) -> [AccessOutcome]              cached per document
    switched_on_outcomes(doc, ctx) -> [(SwitchedOff, AccessOutcome)]   cached per document

One `AccessOutcome` per deployed vault instance in access-policy mode (not RBAC) per parameter
set, from its decision branch (`preflight.arm.vaults`):

  preserving  -> PRESERVED      the live list is re-applied (`reference()`, or `recover` + null)
  declared    -> WIPED          the list is empty
              -> REPLACED       the list is not empty (and `recovered_with_list` with `recover`)
  missing     -> MISSING        no `accessPolicies`, or null, without `recover`
  unknown     -> REPLACED       the list is not known offline but surely not empty
              -> UNDETERMINED   otherwise

with what keeps it from being certain (`Doubts`), and the Azure ML workspaces of the template
that lose their access. Wording is left to the rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .deployments import DeployedResource, Guard
from .values import PARAMETER, PLACEHOLDER, SECRET, ResourceRef, RuntimeValue, Unknown, same_text
from .vaults import WORKSPACES, SwitchedOff, VaultDeployment, switched_off_vaults, vault_deployments

PRESERVED, WIPED, REPLACED, MISSING, UNDETERMINED = "preserved", "wiped", "replaced", "missing", "undetermined"


@dataclass
class Doubts:
    """What keeps an outcome from being certain: each caps a finding at a warning."""

    guards: list[Guard] = field(default_factory=list)  # deployed on runs where these conditions hold
    deployment_unknown: str | None = None  # the condition cannot be evaluated: why
    rbac_unknown: str | None = None  # `enableRbacAuthorization` cannot be evaluated: why
    rbac_default_api: str | None = None  # no `enableRbacAuthorization`, and new vaults at this apiVersion use RBAC
    create_mode_unknown: str | None = None  # (no list) `createMode` might be 'recover': why not known
    # some doubt is a parameter without a value: a parameter file may settle it
    needs_input: bool = False

    def __bool__(self) -> bool:
        return bool(self.guards or self.deployment_unknown or self.rbac_unknown or self.rbac_default_api
                    or self.create_mode_unknown)


@dataclass
class AccessOutcome:
    """What a redeploy does to one deployed vault's access policies under one parameter set."""

    vault: VaultDeployment
    effect: str  # PRESERVED | WIPED | REPLACED | MISSING | UNDETERMINED
    doubts: Doubts
    policies: int | None = None  # the declared list's length, when known
    losing: list[DeployedResource] = field(default_factory=list)  # Azure ML workspaces that lose access
    adds: int = 0  # `accessPolicies/add` operations on the vault (they re-grant only their own principals)
    recovered_with_list: bool = False  # `createMode: recover` with a non-empty literal list (KV006)
    unknown_reason: str | None = None  # (UNDETERMINED) why the list is not known offline
    resolvable: bool = False  # (UNDETERMINED) a value the deployer supplies would settle it

    @property
    def parameter_file(self) -> str | None:
        return self.vault.parameter_file


def access_outcomes(doc: Any, ctx: Any) -> list[AccessOutcome]:
    """The outcome for every deployed vault not in RBAC mode, under every parameter set (cached)."""
    if "arm.vault-access" not in doc.cache:
        doc.cache["arm.vault-access"] = [outcome_of(v) for v in vault_deployments(doc, ctx)
                                         if v.branch not in ("not-deployed", "rbac")]
    return doc.cache["arm.vault-access"]


def switched_on_outcomes(doc: Any, ctx: Any) -> list[tuple[SwitchedOff, AccessOutcome]]:
    """For each vault a `bool` parameter at its default `false` keeps out of the deployment, the
    outcome in a run that passes it `true` (cached); the switch itself is no doubt."""
    if "arm.vault-access.switched-on" not in doc.cache:
        out = []
        for off in switched_off_vaults(doc, ctx):
            if off.switched_on.branch != "rbac":
                outcome = outcome_of(off.switched_on)
                outcome.doubts.guards = []
                out.append((off, outcome))
        doc.cache["arm.vault-access.switched-on"] = out
    return doc.cache["arm.vault-access.switched-on"]


def needs_input(value: Any) -> bool:
    """An Unknown that a parameter value would settle."""
    return isinstance(value, Unknown) and any(kind == PARAMETER for kind, _ in value.needs)


def doubts_of(v: VaultDeployment) -> Doubts:
    status = v.status
    doubts = Doubts(needs_input=needs_input(status.unknown) or needs_input(v.enable_rbac_authorization)
                    or needs_input(v.create_mode))
    if status.state == "guarded":
        doubts.guards = list(status.guards)
    elif status.state == "unknown":
        doubts.deployment_unknown = status.unknown.reason if status.unknown is not None else "it cannot be evaluated"
    rbac = v.enable_rbac_authorization
    if isinstance(rbac, Unknown):
        doubts.rbac_unknown = rbac.reason
    elif v.rbac_implicit:
        doubts.rbac_default_api = v.api_version
    return doubts


def outcome_of(v: VaultDeployment) -> AccessOutcome:
    """The decision procedure for one deployed vault not in RBAC mode."""
    doubts = doubts_of(v)
    adds = sum(1 for op in v.operations if op.kind == "add")
    if v.branch == "preserving":
        return AccessOutcome(v, PRESERVED, doubts)
    if v.branch == "declared":
        policies = v.policies or []
        mode = v.create_mode
        recovered = isinstance(mode, str) and mode.lower() == "recover" and bool(policies)
        if not policies:
            return AccessOutcome(v, WIPED, doubts, 0, list(v.workspaces), adds, recovered)
        losing = [ws for ws in v.workspaces if not grants_workspace(policies, ws)]
        return AccessOutcome(v, REPLACED, doubts, len(policies), losing, adds, recovered)
    if v.branch == "missing":
        if isinstance(v.create_mode, Unknown):
            doubts.create_mode_unknown = v.create_mode.reason
        return AccessOutcome(v, MISSING, doubts, None, list(v.workspaces), adds)
    value = v.policies_value  # unknown
    if v.policies_nonempty:
        return AccessOutcome(v, REPLACED, doubts, None, list(v.workspaces), adds)
    if isinstance(value, Unknown):
        reason = value.reason
        resolvable = any(kind in (PARAMETER, SECRET, PLACEHOLDER) for kind, _ in value.needs)
        doubts.needs_input = doubts.needs_input or needs_input(value)
    else:
        reason, resolvable = f"it is a {type(value).__name__}, not an array", False
    return AccessOutcome(v, UNDETERMINED, doubts, None, list(v.workspaces), adds,
                         unknown_reason=reason, resolvable=resolvable)


def grants_workspace(policies: list, ws: DeployedResource) -> bool:
    """A policy whose objectId is read from this workspace (`reference(ws).identity.principalId`)."""
    for p in policies:
        oid = p.get("objectId") if isinstance(p, dict) else None
        if isinstance(oid, RuntimeValue):
            target = oid.target
            if isinstance(target, ResourceRef) and isinstance(target.type, str) \
                    and target.type.lower() == WORKSPACES.lower() and same_text(target.name, ws.name) is not False:
                return True
            if isinstance(target, str) and same_text(target.rsplit("/", 1)[-1], ws.name) is True:
                return True
    return False
