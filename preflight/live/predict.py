"""Predict the access-policy list a vault has after the deployment.

    P := the vault PUT's list (declared, or the live list when the template preserves it)
    then every `vaults/accessPolicies/{add|replace|remove}` child, in order:
      add      union of permissions per principal, creating the entry when absent
      replace  the principal's permissions become exactly the given ones
      remove   the given permissions go; the entry goes when none remain (approximate)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from .plan import (DECLARED, MISSING, NOT_DEPLOYED, PRESERVING, RBAC, UNKNOWN, AccessPolicy, Key,
                   PlannedVault)


@dataclass
class Prediction:
    """`policies` is None when the list cannot be predicted; `reason` then says why."""

    policies: dict[Key, AccessPolicy] | None
    reason: str = ""
    approximate: bool = False      # a `remove` child: its partial-permission semantics are unverified
    uncertain: list[AccessPolicy] = field(default_factory=list)  # entries whose objectId is unknown
    intended: set[Key] = field(default_factory=set)  # principals a remove/replace child names explicitly


def index(policies: Iterable[AccessPolicy], vault_tenant: str | None,
          uncertain: list[AccessPolicy] | None = None) -> dict[Key, AccessPolicy]:
    """Key -> entry; duplicates merge (the resource provider keeps one entry per principal)."""
    out: dict[Key, AccessPolicy] = {}
    for p in policies:
        k = p.key(vault_tenant)
        if k is None:
            if uncertain is not None:
                uncertain.append(p)
            continue
        out[k] = _merge(out[k], p) if k in out else p
    return out


def predict(plan: PlannedVault, live: list[AccessPolicy] | None, vault_tenant: str | None) -> Prediction:
    """`live` is the vault's current list (None when the vault does not exist)."""
    uncertain: list[AccessPolicy] = []
    current = live or []
    if plan.decision == NOT_DEPLOYED:
        base = index(current, vault_tenant)
    elif plan.decision == PRESERVING:
        base = index(current, vault_tenant)
        for k, p in index(plan.policies or (), vault_tenant, uncertain).items():
            base[k] = _merge(base[k], p) if k in base else p
    elif plan.decision in (DECLARED, RBAC) and plan.policies is not None:
        base = index(plan.policies, vault_tenant, uncertain)
    elif plan.decision == RBAC:
        base = {}
    elif plan.decision == MISSING:
        return Prediction(None, "the vault resource has no `accessPolicies` (Key Vault rejects such a PUT "
                                "unless createMode is 'recover'; see KV002)")
    else:  # UNKNOWN, or DECLARED without a list
        return Prediction(None, plan.note or "its `accessPolicies` cannot be resolved offline")
    prediction = Prediction(base, uncertain=uncertain)
    for child in plan.children:
        if child.policies is None:
            return Prediction(None,
                              f"the list of its `accessPolicies/{child.kind}` resource cannot be resolved offline")
        for entry in child.policies:
            _apply(prediction, child.kind, entry, vault_tenant)
    return prediction


def _apply(pred: Prediction, kind: str, entry: AccessPolicy, vault_tenant: str | None) -> None:
    assert pred.policies is not None
    policies = pred.policies
    k = entry.key(vault_tenant)
    if k is None:
        if kind == "remove":
            pred.approximate = True  # some principal we cannot name loses something
        else:
            pred.uncertain.append(entry)
        return
    if kind == "add":
        policies[k] = _merge(policies[k], entry) if k in policies else entry
    elif kind == "replace":
        if k in policies:
            pred.intended.add(k)
            policies[k] = replace(policies[k], permissions=entry.permissions)
        else:
            policies[k] = entry
    else:  # remove
        pred.approximate = True
        pred.intended.add(k)
        if k not in policies:
            return
        left = _subtract(policies[k].permissions, entry.permissions)
        if left:
            policies[k] = replace(policies[k], permissions=left)
        else:
            del policies[k]


def _merge(a: AccessPolicy, b: AccessPolicy) -> AccessPolicy:
    if a.permissions is None or b.permissions is None:
        return replace(a, permissions=None)
    merged = dict(a.permissions)
    for cat, names in b.permissions.items():
        merged[cat] = merged.get(cat, frozenset()) | names
    return replace(a, permissions=merged)


def _subtract(have: Mapping[str, frozenset[str]] | None,
              gone: Mapping[str, frozenset[str]] | None) -> dict[str, frozenset[str]] | None:
    """What remains; an empty or unknown removal list removes the whole entry."""
    if not gone or have is None:
        return {}
    left = {}
    for cat, names in have.items():
        drop = gone.get(cat, frozenset())
        rest = frozenset() if "all" in drop else names - drop
        if rest:
            left[cat] = rest
    return left


def lost_permissions(before: Mapping[str, frozenset[str]] | None,
                     after: Mapping[str, frozenset[str]] | None) -> dict[str, frozenset[str]]:
    """Per category, what `before` grants that `after` does not (`all` covers everything).
    Empty when either side is unknown: uncertainty is never reported as a loss."""
    if before is None or after is None:
        return {}
    lost = {}
    for cat, names in before.items():
        kept = after.get(cat, frozenset())
        if "all" in kept:
            continue
        missing = names - kept
        if missing:
            lost[cat] = frozenset(missing)
    return lost


__all__ = ["Prediction", "predict", "index", "lost_permissions", "UNKNOWN"]
