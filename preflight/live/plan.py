"""What a template would do to one Key Vault, as plain data the live check can compare.

A `PlannedVault` is built offline (from the ARM template model) and never touches the network.
Values the template computes at deploy time and that could not be resolved offline are `None`
(with the expression text beside them where it helps a message).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

# The decision branch of preflight.arm.vaults, as reported by the template model.
NOT_DEPLOYED = "not-deployed"  # condition false, `existing: true`, copy count 0
RBAC = "rbac"                  # enableRbacAuthorization resolves to true
PRESERVING = "preserving"      # reference(<this vault>).accessPolicies, or createMode recover + null
DECLARED = "declared-known"    # a list the template declares and that resolved
MISSING = "missing"            # accessPolicies absent (the resource provider rejects it)
UNKNOWN = "unknown"            # declared, but not resolvable offline
DECISIONS = (NOT_DEPLOYED, RBAC, PRESERVING, DECLARED, MISSING, UNKNOWN)

CATEGORIES = ("keys", "secrets", "certificates", "storage")
OPERATIONS = ("add", "replace", "remove")

Key = tuple[str, str, str]  # (tenantId, objectId, applicationId), lower case


@dataclass(frozen=True)
class AccessPolicy:
    """One access-policy entry. `None` means "computed at deploy time, unknown offline";
    a `tenant_id` of None is taken to be the vault's tenant (the only valid one)."""

    object_id: str | None
    tenant_id: str | None = None
    application_id: str | None = None
    permissions: Mapping[str, frozenset[str]] | None = field(default_factory=dict)
    object_id_expression: str | None = None  # for messages when object_id is None

    def __post_init__(self):
        if self.permissions is not None:  # categories and names compare case-insensitively
            normal: dict[str, frozenset[str]] = {}
            for cat, names in self.permissions.items():
                key = "keys" if cat.lower() == "keys_property" else cat.lower()
                merged = normal.get(key, frozenset()) | frozenset(n.lower() for n in names)
                if merged:
                    normal[key] = merged
            object.__setattr__(self, "permissions", normal)

    @classmethod
    def from_json(cls, entry: Any, describe: Callable[[Any], str] | None = None) -> "AccessPolicy":
        """From an ARM/REST camelCase dict (the live GET body, or a template's list where values
        not known offline are any non-JSON object; `describe` names them for messages)."""
        if not isinstance(entry, Mapping):
            return cls(None, permissions=None, object_id_expression=describe(entry) if describe else None)
        object_id = entry.get("objectId")
        perms = entry.get("permissions")
        return cls(
            object_id=_text(object_id),
            tenant_id=_text(entry.get("tenantId")),
            application_id=_text(entry.get("applicationId")),
            permissions=permission_map(perms) if isinstance(perms, Mapping) else ({} if perms is None else None),
            object_id_expression=describe(object_id) if describe and _text(object_id) is None else None,
        )

    def key(self, vault_tenant: str | None) -> Key | None:
        """The identity of the principal; None while its objectId is unknown."""
        if self.object_id is None:
            return None
        tenant = self.tenant_id if self.tenant_id is not None else vault_tenant
        return ((tenant or "").lower(), self.object_id.lower(), (self.application_id or "").lower())

    def describe(self) -> str:
        who = f"objectId {self.object_id or self.object_id_expression or '(computed at deploy time)'}"
        if self.application_id:
            who += f" (applicationId {self.application_id})"
        return who


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def permission_map(perms: Mapping[str, Any]) -> dict[str, frozenset[str]] | None:
    """Category -> lower-case permission names (they compare case-insensitively); None when any
    part is not known offline."""
    out: dict[str, frozenset[str]] = {}
    for category, values in perms.items():
        if not isinstance(category, str):
            return None
        cat = category.lower()
        if cat == "keys_property":  # azure-mgmt-keyvault 14.x attribute spelling
            cat = "keys"
        if values is None:
            continue
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            return None
        names = frozenset(v.lower() for v in values)
        if names:
            out[cat] = out.get(cat, frozenset()) | names
    return out


def format_permissions(perms: Mapping[str, frozenset[str]] | None) -> str:
    """`keys:get,list; secrets:get` in a stable order; `(none)` when empty."""
    if perms is None:
        return "(unknown)"
    parts = [f"{c}:{','.join(sorted(perms[c]))}" for c in _ordered(perms) if perms[c]]
    return "; ".join(parts) or "(none)"


def permissions_json(perms: Mapping[str, frozenset[str]] | None) -> dict[str, list[str]] | None:
    if perms is None:
        return None
    return {c: sorted(perms[c]) for c in _ordered(perms) if perms[c]}


def _ordered(perms: Mapping[str, Any]) -> list[str]:
    return [c for c in CATEGORIES if c in perms] + sorted(c for c in perms if c not in CATEGORIES)


@dataclass(frozen=True)
class ChildOperation:
    """A `Microsoft.KeyVault/vaults/accessPolicies/{add|replace|remove}` resource targeting the vault.
    `policies` is None when the template's list could not be resolved offline."""

    kind: str
    policies: tuple[AccessPolicy, ...] | None
    pointer: str = ""
    path: str = ""

    def __post_init__(self):
        if self.kind not in OPERATIONS:
            raise ValueError(f"unknown access-policy operation {self.kind!r}")


@dataclass
class PlannedVault:
    """One `Microsoft.KeyVault/vaults` the template deploys (or whose policies its children change)."""

    path: str                        # the template, as the user gave it
    pointer: str                     # JSON pointer of the vault resource
    name: str | None                 # resolved name; None when computed at deploy time
    decision: str
    name_expression: str | None = None
    symbolic_name: str | None = None
    subscription_id: str | None = None   # a nested deployment's subscriptionId
    resource_group: str | None = None    # a nested deployment's resourceGroup
    unresolved_scope: str | None = None  # e.g. "resourceGroup: [parameters('rg')]"
    location: str | None = None
    api_version: str | None = None
    tenant_id: str | None = None         # None: unknown offline (e.g. subscription().tenantId)
    policies: tuple[AccessPolicy, ...] | None = None  # declared list (or appended entries when preserving)
    enable_rbac: bool | None = None
    create_mode: str | None = None
    children: tuple[ChildOperation, ...] = ()
    condition: str | None = None         # why it may not be deployed (unknown or parameter-driven condition)
    parameter_file: str | None = None
    note: str | None = None              # why the declared list is unknown, in the model's words

    def __post_init__(self):
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown decision {self.decision!r}")

    @property
    def conditional(self) -> bool:
        return self.condition is not None

    @property
    def label(self) -> str:
        """How messages name the vault."""
        if self.name:
            return f"'{self.name}'"
        return f"'{self.name_expression}'" if self.name_expression else "(name computed at deploy time)"

    def template_names(self) -> Iterable[str]:
        """Names a `--vault-name TEMPLATE_NAME=LIVE_NAME` mapping may use for this vault."""
        for value in (self.name, self.name_expression, self.symbolic_name, self.pointer):
            if value:
                yield value
