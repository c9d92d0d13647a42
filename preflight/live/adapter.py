"""From the ARM template model (`preflight.arm.vaults`) to the live check's `PlannedVault`s.

One plan per vault instance per parameter set. `vaults/accessPolicies` resources whose vault the
template does not deploy (declared `existing`, guarded off, or not declared at all: the "grant
from every pipeline with `add`" pattern) become plans of their own, with the vault not deployed.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..documents import Document
from .plan import (DECLARED, MISSING, NOT_DEPLOYED, OPERATIONS, PRESERVING, RBAC, UNKNOWN, AccessPolicy,
                   ChildOperation, PlannedVault)

_BRANCHES = {"not-deployed": NOT_DEPLOYED, "rbac": RBAC, "preserving": PRESERVING, "declared": DECLARED,
             "declared-known": DECLARED, "missing": MISSING, "unknown": UNKNOWN}


def plans_for_document(doc: Document, ctx: Any) -> Iterable[PlannedVault]:
    from ..arm.deployments import evaluations
    from ..arm.vaults import POLICY_CHILD, vault_deployments

    vaults = vault_deployments(doc, ctx)
    plans: list[PlannedVault] = []
    by_evaluation: dict[int, list[tuple[Any, PlannedVault]]] = {}
    for vault in vaults:
        plan = plan_for_vault(vault)
        plans.append(plan)
        by_evaluation.setdefault(id(vault.resource.evaluation), []).append((vault, plan))
    for ev in evaluations(doc, ctx):
        pairs = by_evaluation.get(id(ev), [])
        claimed = {id(op.resource) for vault, _ in pairs for op in vault.operations}
        orphans = [c for c in ev.of_type(POLICY_CHILD)
                   if id(c) not in claimed and c.status.state != "not-deployed"]
        plans.extend(_orphan_plans(doc, orphans, pairs, ev.label))
    return plans


def plan_for_vault(vault: Any) -> PlannedVault:
    from ..arm.values import Unknown

    decision = _BRANCHES.get(vault.branch, UNKNOWN)
    note = None
    value = vault.policies_value
    if decision == UNKNOWN and isinstance(value, Unknown):
        note = f"`accessPolicies` cannot be resolved: {value.reason}"
    policies = _policies(value) if isinstance(value, list) else None
    if decision == PRESERVING and isinstance(value, list):
        # The template can re-read the live list (`if(exists, reference(...).accessPolicies, [])`),
        # but under these parameters it evaluates to a list: that list is what gets deployed.
        decision = DECLARED
    rbac = vault.enable_rbac_authorization
    if isinstance(rbac, Unknown) and decision not in (NOT_DEPLOYED, UNKNOWN):
        decision, note = UNKNOWN, f"`enableRbacAuthorization` cannot be resolved: {rbac.reason}"
    children, child_note = _children(vault.operations)
    if child_note and decision != NOT_DEPLOYED:
        decision, note = UNKNOWN, child_note
    subscription, group = vault.subscription_id, vault.resource_group
    scope_problems = [f"{what}: {_text(v)}" for what, v in (("subscriptionId", subscription), ("resourceGroup", group))
                      if v is not None and not isinstance(v, str)]
    return PlannedVault(
        path=vault.document.path,
        pointer=vault.pointer,
        name=vault.name,
        decision=decision,
        name_expression=vault.name_expression,
        symbolic_name=getattr(vault.resource.decl, "symbolic_name", None),
        subscription_id=subscription if isinstance(subscription, str) else None,
        resource_group=group if isinstance(group, str) else None,
        unresolved_scope="; ".join(scope_problems) or None,
        location=_string(vault.get("location")),
        api_version=_string(vault.api_version),
        tenant_id=_string(vault.tenant_id),
        policies=policies,
        enable_rbac=rbac if isinstance(rbac, bool) else None,
        create_mode=_string(vault.create_mode),
        children=children,
        condition=_condition(vault.status),
        parameter_file=vault.parameter_file,
        note=note,
    )


def _orphan_plans(doc: Document, children: list[Any], pairs: list[tuple[Any, PlannedVault]],
                  label: str | None) -> list[PlannedVault]:
    """Plans for `vaults/accessPolicies` resources no deployed vault of this template claims."""
    from ..arm.values import same_text, split_last

    groups: list[tuple[Any, list[Any]]] = []
    for child in children:
        split = split_last(child.name)
        target = split[0] if split is not None else None
        for existing_target, members in groups:
            if same_text(existing_target, target) is True:
                members.append(child)
                break
        else:
            groups.append((target, [child]))
    out: list[PlannedVault] = []
    for target, members in groups:
        ops = [_Op(_kind(c), c.get("properties/accessPolicies"), c) for c in members]
        children_, note = _children(ops)
        owner = next((p for v, p in pairs if p.decision == NOT_DEPLOYED and same_text(v.name_value, target) is True),
                     None)
        if owner is not None:
            owner.children = owner.children + children_
            if note:
                owner.decision, owner.note = UNKNOWN, note
            continue
        first = members[0]
        name = target if isinstance(target, str) else None
        out.append(PlannedVault(
            path=doc.path, pointer=first.anchor, name=name, decision=UNKNOWN if note else NOT_DEPLOYED,
            name_expression=None if name else _text(target),
            subscription_id=_string(first.target[0]), resource_group=_string(first.target[1]),
            children=children_, parameter_file=label, note=note))
    return out


class _Op:
    def __init__(self, kind: Any, policies: Any, resource: Any):
        self.kind, self.policies, self.resource = kind, policies, resource


def _kind(child: Any) -> Any:
    from ..arm.values import split_last

    split = split_last(child.name)
    kind = split[1] if split is not None else None
    return kind.lower() if isinstance(kind, str) else kind


def _children(operations: Iterable[Any]) -> tuple[tuple[ChildOperation, ...], str | None]:
    """The operations as ChildOperations, and a note when one of them cannot be predicted."""
    from ..arm.template import ABSENT

    out: list[ChildOperation] = []
    for op in operations:
        kind = op.kind.lower() if isinstance(op.kind, str) else None
        if kind not in OPERATIONS:
            return tuple(out), (f"the operation of the `accessPolicies` resource at {op.resource.pointer} "
                                f"({_text(op.kind)}) is not add, replace or remove")
        value = op.policies
        if value is ABSENT or value is None:
            policies: tuple[AccessPolicy, ...] | None = ()
        else:
            policies = _policies(value) if isinstance(value, list) else None
        out.append(ChildOperation(kind, policies, op.resource.pointer, getattr(op.resource.document, "path", "")))
    return tuple(out), None


def _policies(value: list) -> tuple[AccessPolicy, ...]:
    return tuple(AccessPolicy.from_json(entry, _text) for entry in value)


def _condition(status: Any) -> str | None:
    if status.state == "unknown":
        return status.reason or "its condition cannot be evaluated"
    if status.state == "guarded" and status.guards:
        return "deployed only while " + "; ".join(g.describe() for g in status.guards) + " holds"
    return None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: Any) -> str:
    from ..arm.values import describe

    return describe(value, 100)
