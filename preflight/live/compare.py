"""Compare the vault as it is (live) with the vault as the deployment would leave it.

Pure functions over plain data: no network, no Azure SDK. The outcome is a list of `Outcome`s
(rule id, message, evidence); the provider turns them into findings at the vault's position.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..findings import ERROR, WARNING, Severity
from .plan import (NOT_DEPLOYED, RBAC, AccessPolicy, PlannedVault, format_permissions,
                   permissions_json)
from .predict import index, lost_permissions, predict

# ------------------------------------------------------------------------------ live state


@dataclass
class LiveVault:
    """The vault's GET body (REST JSON, identical across azure-mgmt-keyvault 10.x-14.x)."""

    raw: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        props = self.raw.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def tenant_id(self) -> str | None:
        value = self.properties.get("tenantId")
        return value if isinstance(value, str) and value else None

    @property
    def policies(self) -> list[AccessPolicy]:
        entries = self.properties.get("accessPolicies")
        return [AccessPolicy.from_json(e) for e in entries] if isinstance(entries, list) else []

    @property
    def enable_rbac(self) -> bool:
        return self.properties.get("enableRbacAuthorization") is True

    @property
    def id(self) -> str:
        return str(self.raw.get("id") or "")


@dataclass
class VaultAbsent:
    """GET answered 404: the vault (or its resource group) does not exist yet."""

    code: str = "ResourceNotFound"          # or ResourceGroupNotFound
    deleted: dict[str, Any] | None = None   # the soft-deleted vault holding the name, if any
    deleted_unchecked: str | None = None    # why the soft-delete lookup did not happen


@dataclass
class Unavailable:
    """The live state could not be read; `reason` says why (never contains a credential)."""

    reason: str


LiveState = LiveVault | VaultAbsent | Unavailable


@dataclass
class Outcome:
    rule: str
    message: str
    severity: Severity | None = None  # None: the rule's default
    data: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None
    pointer: str = "/properties/accessPolicies"  # relative to the vault resource


# ------------------------------------------------------------------------------ comparison

FIX_DROPPED = ("add the principals to the template's `accessPolicies` (or grant them from every pipeline "
               "with a `Microsoft.KeyVault/vaults/accessPolicies` resource named `add`), make the vault "
               "resource conditional on a 'create vault' parameter, or switch the vault to Azure RBAC")


def assess(plan: PlannedVault, state: LiveState, where: str, caller_oid: str | None = None) -> list[Outcome]:
    """Every outcome for one planned vault against its live state.

    `where` names the vault for messages, e.g. "vault 'kv-ml' (resource group 'rg-ml')"."""
    if isinstance(state, Unavailable):
        return [Outcome("LIVE010", f"{where}: live state unavailable: {state.reason}", pointer="",
                        data={"reason": state.reason})]
    if isinstance(state, VaultAbsent):
        return _absent(plan, state, where)
    return _existing(plan, state, where, caller_oid)


def _cap(plan: PlannedVault, severity: Severity, approximate: bool = False) -> Severity:
    """Uncertainty is never an error: an unknown condition or an approximate prediction caps at warning."""
    if (plan.conditional or approximate) and severity > WARNING:
        return WARNING
    return severity


def _if_deployed(plan: PlannedVault) -> str:
    return f" (if deployed; {plan.condition})" if plan.condition else ""


def _absent(plan: PlannedVault, state: VaultAbsent, where: str) -> list[Outcome]:
    if plan.decision == NOT_DEPLOYED:
        if plan.children:
            kinds = ", ".join(sorted({c.kind for c in plan.children}))
            return [Outcome("LIVE011", f"{where}: the template's `accessPolicies/{kinds}` resource targets it, but "
                                       "the vault does not exist: that part of the deployment fails", pointer="",
                            fix="deploy the vault first (in this template or an earlier one), or fix its name")]
        return []
    out: list[Outcome] = []
    deleted = state.deleted
    recover = (plan.create_mode or "").lower() == "recover"
    if deleted is not None and not recover:
        props = deleted.get("properties")
        if not isinstance(props, dict):
            props = {}
        when = props.get("deletionDate")
        purge = props.get("scheduledPurgeDate")
        detail = "".join([f", deleted {when}" if when else "", f", purge scheduled {purge}" if purge else ""])
        out.append(Outcome(
            "LIVE004",
            f"{where}: the name is held by a soft-deleted vault{detail}; creating it fails{_if_deployed(plan)}",
            severity=_cap(plan, ERROR), pointer="/name",
            data={"deletedVaultId": deleted.get("id"), "deletionDate": when, "scheduledPurgeDate": purge},
            fix="recover the deleted vault (`az keyvault recover`, or `createMode: 'recover'`) or purge it "
                "(`az keyvault purge`) before deploying; or choose another name"))
    what = "its resource group does not exist yet" if state.code == "ResourceGroupNotFound" else "it does not exist yet"
    note = ""
    if deleted is not None and recover:
        note = "; createMode 'recover' will recover the soft-deleted vault of that name"
    elif recover:
        note = "; createMode is 'recover' but no soft-deleted vault of that name was found, so the deployment fails"
    elif state.deleted_unchecked:
        note = f"; soft-deleted vaults not checked: {state.deleted_unchecked}"
    out.append(Outcome("LIVE005", f"{where}: {what}; the deployment creates it, nobody loses access{note}",
                       pointer="", data={"code": state.code}))
    return out


def _existing(plan: PlannedVault, live: LiveVault, where: str, caller_oid: str | None) -> list[Outcome]:
    out: list[Outcome] = []
    live_tenant = live.tenant_id
    deployed = plan.decision != NOT_DEPLOYED
    if deployed and plan.tenant_id and live_tenant and plan.tenant_id.lower() != live_tenant.lower():
        out.append(Outcome(
            "LIVE003",
            f"{where}: the deployment changes the vault's tenant from {live_tenant} to {plan.tenant_id}"
            f"{_if_deployed(plan)}: every access policy ({len(live.policies)} today) stops granting access",
            severity=_cap(plan, ERROR), pointer="/properties/tenantId",
            data={"liveTenantId": live_tenant, "templateTenantId": plan.tenant_id},
            fix="deploy with the vault's current tenant (`[subscription().tenantId]` in the vault's own subscription)"))
    vault_tenant = live_tenant or plan.tenant_id

    # Which access model governs data access after the deployment.
    template_rbac = plan.enable_rbac if deployed else None
    rbac_after = live.enable_rbac if template_rbac is None else template_rbac
    if plan.decision == RBAC:
        rbac_after = True
    if rbac_after and not live.enable_rbac:
        principals = index(live.policies, vault_tenant)
        listed = "; ".join(f"{p.describe()} [{format_permissions(p.permissions)}]" for p in principals.values())
        out.append(Outcome(
            "LIVE008",
            f"{where}: the deployment switches the vault from access policies to Azure RBAC{_if_deployed(plan)}; "
            f"{len(principals)} principal(s) with access today need role assignments"
            + (f": {listed}" if listed else ""),
            pointer="/properties/enableRbacAuthorization",
            data={"from": "accessPolicies", "to": "rbac",
                  "principals": [_principal_json(p) for p in principals.values()]},
            fix="create Key Vault role assignments (e.g. 'Key Vault Secrets User') for these principals in the "
                "same deployment"))
        return out
    if rbac_after:
        out.append(Outcome("LIVE006", f"{where}: the vault uses Azure RBAC; access policies grant no data access, "
                                      "so nobody loses access through them",
                           pointer="/properties/enableRbacAuthorization"))
        return out
    if live.enable_rbac and not rbac_after:
        out.append(Outcome(
            "LIVE008",
            f"{where}: the deployment switches the vault from Azure RBAC to access policies{_if_deployed(plan)}; "
            "role assignments stop granting data access and only the template's access policies apply",
            pointer="/properties/enableRbacAuthorization", data={"from": "rbac", "to": "accessPolicies"},
            fix="keep `enableRbacAuthorization: true`, or list every principal that needs access in `accessPolicies`"))
        return out

    prediction = predict(plan, live.policies, vault_tenant)
    if prediction.policies is None:
        out.append(Outcome("LIVE009", f"{where}: cannot predict its access policies after the deployment: "
                                      f"{prediction.reason}; {len(live.policies)} principal(s) have access today",
                           data={"reason": prediction.reason}))
        return out

    before = index(live.policies, vault_tenant)
    after = prediction.policies
    uncertain = prediction.uncertain
    approximate = prediction.approximate or bool(uncertain)
    qualifier = ""
    if uncertain:
        names = ", ".join(p.object_id_expression or "(computed at deploy time)" for p in uncertain)
        qualifier = f" unless it is the principal whose objectId the template computes at deploy time ({names})"
    elif prediction.approximate:
        qualifier = " (approximate: a `remove` resource's exact effect is not documented)"
    for k, p in before.items():
        if k in prediction.intended:
            continue  # the template names this principal in a remove/replace on purpose
        tag = " — the identity running this check" if caller_oid and p.object_id and \
            p.object_id.lower() == caller_oid.lower() else ""
        if k not in after:
            out.append(Outcome(
                "LIVE001",
                f"{where}: the deployment drops {p.describe()}{tag}, which has {format_permissions(p.permissions)} "
                f"today{qualifier}{_if_deployed(plan)}",
                severity=_cap(plan, ERROR, approximate), data=_principal_json(p), fix=FIX_DROPPED))
            continue
        lost = lost_permissions(p.permissions, after[k].permissions)
        if lost:
            out.append(Outcome(
                "LIVE002",
                f"{where}: {p.describe()}{tag} loses {format_permissions(lost)} "
                f"(has {format_permissions(p.permissions)} "
                f"today, keeps {format_permissions(after[k].permissions)}){_if_deployed(plan)}",
                data=dict(_principal_json(p), lost=permissions_json(lost),
                          after=permissions_json(after[k].permissions)),
                fix="add the missing permissions to the principal's entry in the template"))
    added = [p for k, p in after.items() if k not in before] + list(uncertain)
    if added:
        listed = "; ".join(f"{p.describe()} [{format_permissions(p.permissions)}]" for p in added)
        out.append(Outcome("LIVE007", f"{where}: the deployment adds {len(added)} principal(s): {listed}",
                           data={"principals": [_principal_json(p) for p in added]}))
    return out


def _principal_json(p: AccessPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"objectId": p.object_id or p.object_id_expression}
    if p.application_id:
        out["applicationId"] = p.application_id
    if p.tenant_id:
        out["tenantId"] = p.tenant_id
    out["permissions"] = permissions_json(p.permissions)
    return out
