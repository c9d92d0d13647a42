"""The `--live` provider: plans collected during the offline scan, one fetch per vault, findings.

    collect(doc)  each ARM template's vaults -> PlannedVault (offline, from the template model)
    finish()      resolve (subscription, resource group, name) per vault, fetch each distinct
                  vault once (bounded, concurrent), predict the list after the deployment,
                  compare with the live one, and report LIVE findings at the vault's position.
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterable

from ..documents import Document, Kind
from ..findings import ERROR, Finding
from .compare import LiveState, Outcome, Unavailable, assess
from .fetch import FetchRequest, LiveSettings, VaultTarget, describe_error, fetch_all, one_line, redact
from .plan import NOT_DEPLOYED, PlannedVault
from .segments import location_segment, resource_group_problem, subscription_problem, vault_name_problem

Planner = Callable[[Document, Any], Iterable[PlannedVault]]


class LiveProvider:
    """Plugged into `Options.providers` by `scan --live`."""

    name = "LIVE"

    def __init__(self, settings: LiveSettings, planner: Planner | None = None, credential: Any = None):
        self.settings = settings
        self.planner = planner
        self.credential = credential
        self.plans: list[PlannedVault] = []

    def collect(self, doc: Document, ctx: Any) -> None:
        if doc.kind != Kind.ARM_TEMPLATE:
            return
        planner = self.planner
        if planner is None:
            from .adapter import plans_for_document
            planner = plans_for_document
        self.plans.extend(planner(doc, ctx))

    def finish(self, ctx: Any) -> list[Finding]:
        return check([p for p in self.plans if _wanted(p, ctx)], self.settings, ctx=ctx, credential=self.credential)


def _wanted(plan: PlannedVault, ctx: Any) -> bool:
    """False when the command line and the file's configuration deselect every LIVE rule for
    the template: then there is no reason to call Azure for its vaults."""
    from ..config import rule_filter
    from ..contract import REGISTRY

    options = getattr(ctx, "options", None)
    if options is None:
        return True
    configs = getattr(options, "configs", None)
    config = configs.for_file(plan.path) if configs is not None else None
    enabled = rule_filter(options.select, options.ignore, config, plan.path)
    return any(enabled(r) for r in REGISTRY if r.startswith("LIVE"))


def normalise_expression(text: str) -> str:
    """`[concat('kv-', x)]` and `concat( 'kv-',x )` name the same thing in a --vault-name mapping."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return re.sub(r"\s+", "", text)


def live_name(plan: PlannedVault, mapping: dict[str, str]) -> tuple[str | None, str | None]:
    """(the vault's live name, the template name the mapping matched) for one plan."""
    if mapping:
        by_exact = {k.lower(): v for k, v in mapping.items()}
        by_expr = {normalise_expression(k).lower(): v for k, v in mapping.items()}
        for candidate in plan.template_names():
            hit = by_exact.get(candidate.lower()) or by_expr.get(normalise_expression(candidate).lower())
            if hit:
                return hit, candidate
    return plan.name, None


def resolve_target(plan: PlannedVault, settings: LiveSettings) -> tuple[VaultTarget | None, str | None, str | None]:
    """(target, reason it cannot be read, the template name a --vault-name mapping matched)."""
    name, mapped_from = live_name(plan, settings.vault_names)
    if plan.unresolved_scope:
        return None, f"the nested deployment's scope is computed at deploy time ({plan.unresolved_scope})", mapped_from
    if not name:
        expr = plan.name_expression or "(an expression)"
        return None, (f"its name is computed at deploy time ({expr}); "
                      f"name the live vault with --vault-name \"{expr}=LIVE_NAME\""), None
    if vault_name_problem(name):
        return None, f"{_shown(name)} is not a valid Key Vault name ({vault_name_problem(name)})", mapped_from
    subscription = plan.subscription_id or settings.subscription_id
    if not subscription:
        return None, "no subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID", mapped_from
    group = plan.resource_group or settings.resource_group
    if not group:
        return None, "no resource group: pass --resource-group (the deployment's target)", mapped_from
    # Each becomes a segment of the request path: one that breaks Azure's naming rules (a `..`
    # would move the request, token included, to another path) is refused, never requested.
    for what, value, source, problem in (
            ("subscription", subscription, plan.subscription_id, subscription_problem(subscription)),
            ("resource group", group, plan.resource_group, resource_group_problem(group))):
        if problem:
            origin = "the nested deployment's" if source else "the command line's"
            return None, f"{origin} {what} {_shown(value)} is not valid ({problem}); the vault is not requested", \
                mapped_from
    return VaultTarget(subscription, group, name), None, mapped_from


def _shown(value: str) -> str:
    """A template's or the command line's value in a message: quoted, one printable line."""
    return f"'{one_line(value, 100)}'"


def describe_vault(plan: PlannedVault, target: VaultTarget | None, settings: LiveSettings,
                   mapped_from: str | None) -> str:
    if target is None:
        text = f"vault {plan.label}"
    else:
        text = f"vault '{target.name}' in resource group '{target.resource_group}'"
        if settings.subscription_id is None or target.subscription_id.lower() != settings.subscription_id.lower():
            text += f" of subscription '{target.subscription_id}'"
    if mapped_from and mapped_from != (target.name if target else None):
        text += f" (template name '{mapped_from}')"
    if plan.parameter_file:
        text += f" with parameters '{plan.parameter_file}'"
    return text


def check(plans: Iterable[PlannedVault], settings: LiveSettings, ctx: Any = None,
          credential: Any = None) -> list[Finding]:
    """Every LIVE finding for these plans. Never raises for an Azure-side failure: those are LIVE010."""
    from ..contract import REGISTRY
    from ..rulepacks import load_rule_packs

    load_rule_packs()
    jobs: list[tuple[PlannedVault, VaultTarget | None, str | None, str | None]] = []
    requests: dict[tuple[str, str, str], FetchRequest] = {}
    for plan in plans:
        if plan.decision == NOT_DEPLOYED and not plan.children:
            continue  # nothing is sent to this vault
        target, reason, mapped_from = resolve_target(plan, settings)
        jobs.append((plan, target, reason, mapped_from))
        if target is None:
            continue
        request = requests.setdefault(target.key(), FetchRequest(target))
        if plan.decision != NOT_DEPLOYED:
            request.check_deleted = True
            request.location = request.location or location_segment(plan.location)

    states: dict[tuple[str, str, str], LiveState] = {}
    secrets: list[str] = []
    caller: str | None = None
    if requests:
        try:
            states, shared = fetch_all(list(requests.values()), settings, credential)
            secrets, caller = shared.secrets, shared.caller_object_id()
        except Exception as exc:  # noqa: BLE001 - e.g. the credential cannot even be constructed
            reason = f"cannot create the Azure client: {_safe_describe(exc, settings)}"
            states = {k: Unavailable(redact(reason)) for k in requests}

    findings: list[Finding] = []
    for plan, target, reason, mapped_from in jobs:
        if target is None:
            assert reason is not None  # resolve_target gives the reason there is no target
            state: LiveState = Unavailable(reason)
        else:
            state = states[target.key()]
        where = describe_vault(plan, target, settings, mapped_from)
        for outcome in assess(plan, state, where, caller):
            findings.append(_finding(REGISTRY, plan, target, outcome, settings, ctx, secrets))
    return findings


def _safe_describe(exc: BaseException, settings: LiveSettings) -> str:
    try:
        return describe_error(exc, settings)
    except Exception:  # noqa: BLE001 - the SDK itself may be what failed to import
        return f"{type(exc).__name__}: {exc}"


def _finding(registry: dict, plan: PlannedVault, target: VaultTarget | None, outcome: Outcome,
             settings: LiveSettings, ctx: Any, secrets: list[str]) -> Finding:
    rule = registry[outcome.rule]
    severity = outcome.severity or rule.severity
    if outcome.rule == "LIVE010" and settings.required:
        severity = ERROR
    pointer = plan.pointer + outcome.pointer
    line, column = _locate(plan.path, pointer, ctx)
    data = dict(outcome.data)
    if target is not None:
        data.update(vault=target.name, resourceGroup=target.resource_group, subscription=target.subscription_id)
    # The message quotes the template and the server: whatever escaped upstream is one line here.
    message = one_line(redact(outcome.message, secrets), None)
    return Finding(rule.id, rule.name, severity, plan.path, pointer, message, outcome.fix, line, column, data)


def _locate(path: str, pointer: str, ctx: Any) -> tuple[int, int]:
    if ctx is None:
        return 1, 1
    doc = ctx.document_at(os.path.abspath(path))
    return doc.locate(pointer) if doc is not None else (1, 1)
