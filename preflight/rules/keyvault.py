"""KV: Key Vaults in ARM templates: what a redeploy does to access policies, and
vault settings Azure rejects or that weaken the vault.

Every rule reads the evaluated vaults under each parameter set (`preflight.arm.vaults`; the
access-policy rules KV001-KV006 read what a redeploy does to them, `preflight.arm.vault_access`);
a finding that holds under several parameter files is reported once, naming them. Nothing is
reported from a value that cannot be evaluated, except by KV004, whose job is to say what is
unknown and how to supply it. A message names the vault and the value that is wrong in one
line; why it matters is in the rule's documentation (`preflight rule KV001`).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator

from preflight.arm.references import references_of
from preflight.arm.deployments import (MAX_INSTANCES, DeployedResource, Guard, may_deploy, parameter_sets_of,
                                      template_of)
from preflight.arm.template import ABSENT
from preflight.arm.values import Unknown, describe, key_of, same_text
from preflight.arm.vault_access import (MISSING, PRESERVED, REPLACED, UNDETERMINED, WIPED, AccessOutcome, Doubts,
                                        access_outcomes, switched_on_outcomes)
from preflight.arm.vaults import (MINIMUM_API, RETIREMENT_DAY, SHORT_NAME, VAULTS, VaultDeployment, keyvault_reads,
                                  retiring_api_versions, vault_deployments, vaults_not_checked)
from preflight.clock import today_for
from preflight.documents import Document, Kind
from preflight.contract import ERROR, INFO, WARNING, Context, Issue, rule
from preflight.findings import Severity

# One line; the options in order of robustness are in the rules' documentation (`preflight rule KV001`).
FIXES = "use RBAC (`enableRbacAuthorization: true`) or grant with `accessPolicies/add` resources"


# ---------------------------------------------------------------------------------- helpers

DEFAULTS = None  # the label of the evaluation with the template's own default values
SHORT = SHORT_NAME  # characters of a name expression a message shows (the location points at the rest)


@dataclass
class VaultIssue:
    """A finding about one vault under one parameter set, before `report_once` merges the sets.
    The message is `Key Vault <name><where><claim>`, then the workspaces that lose access,
    `after`, and the caveats. What may differ between the parameter sets of one finding (the
    vault's resolved name, the workspaces' names, the parameter values its condition reads) is
    kept as objects and worded once the sets are merged."""

    vault: VaultDeployment
    pointer: str
    claim: str  # what is wrong, right after the vault's name (" has ...", ": `sku.name` is ...")
    fix: str | None = None
    severity: Severity | None = None  # None: the rule's default
    data: dict[str, Any] = field(default_factory=dict)
    losing: list[DeployedResource] = field(default_factory=list)  # Azure ML workspaces that lose access
    after: str = ""
    guards: list[Guard] = field(default_factory=list)  # the caveat: deployed on runs where these hold
    caveats: list[str] = field(default_factory=list)  # the other caveats, worded
    needs_input: bool = False  # depends on a value only parameter files supply
    # the claim is about a value of the file's own parameters (at their defaults when no
    # parameter file or caller in the scan gives one: then the message says so)
    on_defaults: bool = False

    @property
    def label(self) -> str | None:
        return self.vault.parameter_file

    def key(self) -> tuple:
        """What makes two parameter sets' findings one."""
        if not self.losing:
            workspaces: Any = ()
        elif len(self.losing) == len(self.vault.workspaces):
            workspaces = "all"  # named from every set's names
        else:
            workspaces = tuple(_ws_display(w) for w in self.losing)
        return (self.pointer, self.severity, where(self.vault), self.claim, workspaces, self.after,
                bool(self.guards), tuple(self.caveats))

    def merged(self, group: list[VaultIssue]) -> Issue:
        """The finding of a group of equal keys, naming what differs between them."""
        name = _merged_name([_vault_display(m.vault) for m in group], _vault_expression(self.vault))
        if self.vault.resource.bicep_symbol is not None:
            shown = list(dict.fromkeys(m.vault.shown_name for m in group))
            name = f"`{self.vault.resource.bicep_symbol[0]}` ({', '.join(shown)})"
        message = f"Key Vault {name}{where(self.vault)}{self.claim}"
        if self.losing:
            message += "; " + _losing_text(group if len(self.losing) == len(self.vault.workspaces) else [self])
        message += self.after
        notes = list(self.caveats)
        if self.guards:
            runs = list(dict.fromkeys("; ".join(g.values() or f"`{_short(g.text)}` true" for g in m.guards)
                                      for m in group))
            notes.insert(0, f"if {'; or '.join(runs)}")
        if notes:
            message += "; " + "; ".join(notes)
        return Issue(self.pointer, message, fix=self.fix, severity=self.severity, data=self.data)


def _losing_text(group: list[VaultIssue]) -> str:
    """The Azure ML workspaces that lose access, by the names they resolve to (in the JSON data,
    as written when not known offline)."""
    losing = group[0].losing
    names = list(dict.fromkeys(w.name for m in group for w in m.losing if isinstance(w.name, str)))
    many = len(losing) > 1
    either = " or " if len(losing) == 1 else ", "  # one workspace named differently by the parameter sets
    shown = f" {either.join(repr(n) for n in names)}" if len(names) >= len(losing) else ""
    which = f"{'its' if not shown else ''} Azure ML workspace{'s' if many else ''}".strip()
    return f"{which}{shown} lose{'' if many else 's'} access"


Candidate = tuple[Issue, "str | None"]
# A file that no scanned file deploys is judged with its parameters' defaults (a file that one
# deploys is judged through its callers: preflight.definitions).
DEFAULTS_NOTE = " (its defaults: no caller in the scan)"


def report_once(doc: Document, ctx: Context, candidates: Iterable[Candidate | VaultIssue],
                defaults_alone: bool = True, name_every_set: bool = True) -> Iterator[Issue]:
    """Merge the same finding from several parameter sets into one that names them. With
    `defaults_alone=False`, a finding that holds only under the template's defaults is dropped
    when parameter files exist (for findings about values the files supply). With
    `name_every_set=False`, a finding that holds under every parameter set names none (they
    are in its data all the same)."""
    groups: dict[tuple, tuple[list, list[str | None]]] = {}
    every: list[str | None] | None = None  # the evaluations' labels, read once there is a candidate
    with_files = False
    for candidate in candidates:
        if every is None:
            every = [s.label for s in parameter_sets_of(doc, ctx)]
            with_files = any(label is not None for label in every)
        if isinstance(candidate, VaultIssue):
            if with_files and candidate.label is DEFAULTS and candidate.needs_input:
                continue  # depends on a value only the parameter files supply
            key: tuple = ("vault",) + candidate.key()
            label = candidate.label
        else:
            issue, label = candidate
            key = (issue.pointer, issue.message, issue.severity)
        members, labels = groups.setdefault(key, ([], []))
        members.append(candidate)
        if label not in labels:
            labels.append(label)
    for members, labels in groups.values():
        first = members[0]
        issue = first.merged(members) if isinstance(first, VaultIssue) else first[0]
        message, data = issue.message, dict(issue.data)
        if not with_files and isinstance(first, VaultIssue) and first.on_defaults:
            message += DEFAULTS_NOTE
        if with_files:
            if labels == [DEFAULTS] and not defaults_alone:
                continue
            files = [label for label in labels if label is not None]
            shown = _short_path(files[0], doc) + (f" and {len(files) - 1} more" if len(files) > 1 else "") \
                if files else ""  # every file is named in data["parameterFiles"]
            names = (["the defaults"] if DEFAULTS in labels else []) + \
                ([f"parameter file{'s' if len(files) > 1 else ''} {shown}"] if shown else [])
            if name_every_set or set(labels) != set(every or ()):
                message = f"{message} (with {', '.join(names)})"
            data.update(parameterFiles=files, defaults=DEFAULTS in labels)
        secrets = secure_values(doc, ctx)
        yield replace(issue, message=tidy(message, secrets, MAX_WORD), data=tidy(data, secrets),
                      fix=tidy(issue.fix, secrets, MAX_WORD))


MASK = "***"
MAX_WORD = 400  # characters of one word of a message (a name, an expression) before it is cut
MAX_TEXT = 4_000  # characters of a message, or of a string in a finding's data
_LONG_WORD = re.compile(r"\S{%d,}" % (MAX_WORD + 1))
_MAX_SECRETS = 1_000


def secure_values(doc: Document, ctx: Context) -> list[str]:
    """What the parameter files and `--param` give the template's `securestring` and
    `secureObject` parameters (each string in an object), as it may appear in a message:
    never shown. The longest first (at most 1,000); values under 4 characters are not masked."""
    if "kv.secure-values" not in doc.cache:
        secure = {name for name, decl in template_of(doc).parameters.items()
                  if (decl.type or "").lower() in ("securestring", "secureobject")}
        found: set[str] = set()
        for parameter_set in parameter_sets_of(doc, ctx) if secure else ():
            for name, given in parameter_set.inputs().items():
                if name in secure and given.source in ("file", "cli"):
                    stack = [given.value]
                    while stack:
                        v = stack.pop()
                        if isinstance(v, dict):
                            stack.extend(v.values())
                        elif isinstance(v, list):
                            stack.extend(v)
                        elif isinstance(v, (str, int, float)) and not isinstance(v, bool) and len(str(v)) >= 4:
                            # as written, and as quoted by json.dumps and repr() in messages
                            found.update((str(v), json.dumps(str(v))[1:-1], repr(str(v))[1:-1]))
        doc.cache["kv.secure-values"] = sorted(found, key=len, reverse=True)[:_MAX_SECRETS]
    return doc.cache["kv.secure-values"]


def tidy(value: Any, secrets: list[str], max_word: int | None = None) -> Any:
    """`value` (a message, or a finding's JSON data) as it is reported: every secret replaced by
    ***, even one cut short ('…'), and no text over MAX_TEXT characters (nor, in a message, a
    word over `max_word`): a value as large as the file it is in, repeated in every finding about
    its vault, would otherwise make the report many times the size of the scanned files."""
    if isinstance(value, dict):
        return {tidy(k, secrets): tidy(v, secrets, max_word) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy(v, secrets, max_word) for v in value]
    if not isinstance(value, str):
        return value
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, MASK)
    if max_word is not None and len(value) > max_word:
        value = _LONG_WORD.sub(lambda m: m.group()[:max_word] + "…", value)
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT - 1] + "…"
    if secrets and "…" in value:
        value = _mask_cut(value, secrets)
    return value


def _mask_cut(text: str, secrets: list[str]) -> str:
    """Mask the start of a secret that a message shows cut short: 'S3cr…' -> '***'."""
    cut = text.find("…")
    while cut >= 0:
        for secret in secrets:
            at = text.find(secret[0], max(0, cut - MAX_WORD), cut)
            while 0 <= at <= cut - 4 and not secret.startswith(text[at:cut]):
                at = text.find(secret[0], at + 1, cut)
            if 0 <= at <= cut - 4:
                text = text[:at] + MASK + text[cut + 1:]
                cut = at
                break
        cut = text.find("…", cut + 1)
    return text


def _short_path(path: str, doc: Document) -> str:
    """A parameter file's name alone when it sits beside the template (the usual case)."""
    if os.path.dirname(os.path.normpath(path)) == os.path.dirname(os.path.normpath(doc.path)):
        return os.path.basename(path)
    return path


def _short(text: str, limit: int = SHORT) -> str:
    """A name expression as a message shows it: at most `limit` characters."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _merged_name(shown: list[str], expression: str) -> str:
    """One name for what several parameter sets (or copies) name: the name when it is the only
    one known, else the expression with the names it resolves to."""
    resolved = [x for x in dict.fromkeys(shown) if x != expression]
    if len(resolved) == 1:
        return resolved[0]
    return f"{expression} ({', '.join(resolved)})" if resolved else expression


def _vault_display(v: VaultDeployment) -> str:
    return f"'{v.name}'" if v.name is not None else _vault_expression(v)


def _vault_expression(v: VaultDeployment) -> str:
    return f"`{_short(v.name_expression)}`"


def _ws_display(ws: DeployedResource) -> str:
    return f"'{ws.name}'" if isinstance(ws.name, str) else f"`{_short(ws.name_text)}`"


def deployed(vaults: list[VaultDeployment]) -> Iterator[VaultDeployment]:
    for v in vaults:
        if v.branch != "not-deployed":
            yield v


def vault_data(v: VaultDeployment, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"vault": v.name if v.name is not None else v.name_expression, "apiVersion":
                            v.api_version if isinstance(v.api_version, str) else None, "branch": v.branch,
                            "deployment": v.status.state}
    data.update(extra)
    return data


def where(v: VaultDeployment) -> str:
    """' (in linked template X)' for a vault that lives in a relativePath-linked file; for a
    .bicep file, ' (through module ...)' for a vault declared in a Bicep module."""
    return origin(v.resource)


def origin(resource: DeployedResource) -> str:
    """`where` for any resource of the template."""
    if resource.local:
        from preflight.bicep import via
        return via(resource)
    source = getattr(resource.document, "abspath", None)
    if not source:
        return " (declared in a linked template)"
    shown = os.path.relpath(source, os.path.dirname(resource.evaluation.document.abspath))
    return f" (declared in {shown})"


def caveats_of(doubts: Doubts) -> list[str]:
    """The caveats of an access-policy finding, but the condition's (worded when merged)."""
    notes = []
    if doubts.deployment_unknown:
        notes.append(f"if deployed ({doubts.deployment_unknown})")
    if doubts.rbac_unknown:
        notes.append(f"unless `enableRbacAuthorization` is true ({doubts.rbac_unknown})")
    elif doubts.rbac_default_api:
        notes.append(f"if it exists in access-policy mode (new vaults use RBAC at {doubts.rbac_default_api})")
    if doubts.create_mode_unknown:
        notes.append(f"unless `createMode` is 'recover' ({doubts.create_mode_unknown})")
    return notes


def capped(severity: Severity, doubts: Any) -> Severity:
    """A finding with doubts is at most a warning."""
    return min(severity, WARNING) if doubts else severity


def access_issue(o: AccessOutcome, pointer: str, claim: str, fix: str, severity: Severity | None = None,
                 workspaces: bool = True, after: str = "", caveats: bool = True, **data: Any) -> VaultIssue:
    """The finding about an access-policy outcome, with its doubts as caveats."""
    v = o.vault
    extra = dict(data, conditions=[g.text for g in o.doubts.guards]) if caveats and o.doubts.guards else data
    if workspaces and o.losing:
        extra = dict(extra, workspaces=[w.name if isinstance(w.name, str) else w.name_text for w in o.losing])
    return VaultIssue(v, pointer, claim, fix, severity, vault_data(v, **extra),
                      losing=o.losing if workspaces else [], after=after,
                      guards=o.doubts.guards if caveats else [], caveats=caveats_of(o.doubts) if caveats else [],
                      needs_input=o.doubts.needs_input)


def describe_raw(v: VaultDeployment, path: str) -> str:
    from preflight.arm.evaluator import expression_text
    raw = v.resource.raw(path)
    return "" if raw is ABSENT else expression_text(raw)


def reads_own_parameters(v: VaultDeployment, path: str) -> bool:
    """Whether the value at `path` is an expression of the parameters of the template that
    declares the vault at its top level (not of a nested deployment, whose caller passes them)."""
    decl = v.resource.decl
    if v.resource.chain or decl.template is None:
        return False
    at = v.resource.pointer_of(path)
    return any(ref.kind == "parameters" for e in references_of(decl.template).of(decl)
               if e.pointer == at or e.pointer.startswith(at + "/") for ref in e.references)


def how_empty(v: VaultDeployment) -> str:
    """How the declared list comes to be empty, in the template's own words."""
    raw = v.resource.raw("properties/accessPolicies")
    if isinstance(raw, list) and not raw:
        return "`accessPolicies: []`"
    if raw is ABSENT:
        return "an `accessPolicies` copy loop with no elements"
    if v.resource.bicep_symbol is not None:  # the compiled expression is not the file's text
        return "`accessPolicies` evaluating to []"
    return f"`accessPolicies` `{_short(describe_raw(v, 'properties/accessPolicies'))}` = []"


def _outcomes(doc: Document, ctx: Context, effect: str) -> Iterator[AccessOutcome]:
    for o in access_outcomes(doc, ctx):
        if o.effect == effect:
            yield o


# ---------------------------------------------------------------------- access policies

@rule("KV001", "keyvault-access-policies-wiped", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="Redeploying this Key Vault removes every access policy on it")
def access_policies_wiped(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed `Microsoft.KeyVault/vaults` resources in access-policy mode whose
    `properties.accessPolicies` is `[]` or evaluates to `[]`: a parameter whose value (from the
    parameter file, `--param`, or its `defaultValue`) is empty, a copy loop with count 0, an
    `if()` that picks an empty list. Conditions, copies, nested deployments (inner and outer
    scope) and languageVersion 2.0 templates are evaluated, so a vault that is `existing`,
    behind a false `condition`, or in RBAC mode (`enableRbacAuthorization: true`) is not reported.

    A vault behind a parameter-driven `condition` (such as `keyVaultOption == 'new'`) already
    has a switch to skip it, so it gets a warning that names the parameter values that make a
    redeploy wipe it (once the vault exists, deploy with the value that skips it); so does
    anything that cannot be evaluated offline. From apiVersion 2026-02-01, a new vault without
    `enableRbacAuthorization` is created in RBAC mode (access policies ignored), but an existing
    vault in access-policy mode keeps that mode and is still wiped: a warning too.

    The message names the vault (its Bicep symbol, or its ARM name), how the list comes to be
    empty, the Azure ML workspaces of the template that lose access, and the caveats (the
    parameter values that deploy it); the finding's JSON `data` holds the vault name,
    apiVersion, parameter files, callers, the `conditions` it is deployed under and the
    `workspaces` that lose access.

    ## Why it matters
    ARM sends the whole vault on every deployment, and `accessPolicies` is replaced wholesale:
    a redeploy of this template (every CI run) removes every access policy that was added
    outside it (in the portal, with the CLI, by other pipelines). Azure ML adds one for a
    workspace's managed identity when the workspace is created, so redeploying the workspace
    template breaks the workspace ("Received bad response from Model Management Service",
    failing image builds, inaccessible secrets).

    ## Example
    ```json
    {
      "type": "Microsoft.KeyVault/vaults",
      "name": "[variables('keyVaultName')]",
      "properties": {
        "tenantId": "[subscription().tenantId]",
        "sku": { "name": "standard", "family": "A" },
        "accessPolicies": []
      }
    }
    ```

    ## How to fix
    In order of robustness (KV002 and KV003 take the same fixes):
    1. switch the vault to Azure RBAC (`"enableRbacAuthorization": true` plus role
       assignments), so access policies no longer matter;
    2. deploy it only when it is new (`"condition": "[parameters('createKeyVault')]"`) or pass
       an existing vault's id instead;
    3. grant access with `Microsoft.KeyVault/vaults/accessPolicies` resources named `add`,
       which never remove other principals, and keep the vault itself out of templates that are
       re-run;
    4. re-apply the live list with
       `reference(resourceId('Microsoft.KeyVault/vaults', <name>), '2023-07-01').accessPolicies`
       behind an 'exists' parameter.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for o in _outcomes(doc, ctx, WIPED):
            adds = f"; its {o.adds} `accessPolicies/add` re-grant only their own principals" if o.adds else ""
            issue = access_issue(o, o.vault.pointer_of("properties/accessPolicies"),
                                 f" has {how_empty(o.vault)}: a redeploy wipes its access policies", FIXES,
                                 capped(ERROR, o.doubts), after=adds)
            issue.on_defaults = reads_own_parameters(o.vault, "properties/accessPolicies")
            yield issue
    yield from report_once(doc, ctx, candidates(), name_every_set=False)


@rule("KV002", "keyvault-access-policies-missing", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="A deployed Key Vault without `accessPolicies` (and `createMode` is not 'recover')")
def access_policies_missing(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults in access-policy mode with no `properties.accessPolicies` (and no
    property copy loop that builds it), or with it set to null, while `createMode` is not
    `recover`.

    ## Why it matters
    The JSON schema marks `accessPolicies` optional, but the Key Vault resource provider
    requires it unless `createMode` is `recover` ("An invalid value was provided for
    'accessPolicies'"). Where a deployment is accepted, the vault ends up with no policy at all:
    every principal that had access loses it on each redeploy, including those added outside
    this template (in the portal, with the CLI, by other pipelines, and the one Azure ML adds
    for a workspace's identity).

    ## Example
    ```json
    {
      "type": "Microsoft.KeyVault/vaults",
      "name": "kv-ml-prod",
      "properties": { "tenantId": "[subscription().tenantId]", "sku": { "name": "standard", "family": "A" } }
    }
    ```

    ## How to fix
    Use Azure RBAC (`"enableRbacAuthorization": true`), or declare `accessPolicies`
    explicitly and grant additional principals with `vaults/accessPolicies` `add` resources
    (the options in order of robustness are under KV001).
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for o in _outcomes(doc, ctx, MISSING):
            what = "`accessPolicies` null" if o.vault.policies_value is None else "no `accessPolicies`"
            yield access_issue(o, o.vault.pointer_of("properties"),
                               f" has {what} and no `createMode: recover`: Azure rejects it or a redeploy wipes its "
                               "access policies", "declare `accessPolicies`, or " + FIXES,
                               capped(ERROR, o.doubts))
    yield from report_once(doc, ctx, candidates(), name_every_set=False)


@rule("KV003", "keyvault-access-policies-replaced", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="A redeploy replaces the vault's access policies with the template's list")
def access_policies_replaced(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults in access-policy mode that declare a non-empty `accessPolicies`
    list (literal, from parameters, or built by a copy loop).

    ## Why it matters
    The list is not merged with what the vault already has: it becomes the vault's complete
    list. Any principal granted access outside this template (the Azure ML workspace identity,
    another pipeline's `accessPolicies/add`, a grant made in the portal) loses it on the next
    deployment. With `--live`, preflight lists the principals that would lose access.

    ## Example
    ```json
    "accessPolicies": [
      { "tenantId": "[subscription().tenantId]", "objectId": "[parameters('adminObjectId')]",
        "permissions": { "secrets": ["get", "list"] } }
    ]
    ```

    ## How to fix
    Prefer Azure RBAC. Otherwise list every principal that needs access here, or move grants
    into `Microsoft.KeyVault/vaults/accessPolicies` resources named `add`, which never remove
    other principals (the options in order of robustness are under KV001).
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for o in _outcomes(doc, ctx, REPLACED):
            pointer = o.vault.pointer_of("properties/accessPolicies")
            if o.policies is None:  # not all known offline, but surely not empty
                yield access_issue(o, pointer, " declares access policies (not all known offline): a redeploy "
                                   "removes any other", FIXES, WARNING)
            else:
                count = f"{o.policies} access polic{'y' if o.policies == 1 else 'ies'}"
                yield access_issue(o, pointer, f" declares {count}: a redeploy removes any other",
                                   FIXES + ", or list every principal here", WARNING, policies=o.policies)
    yield from report_once(doc, ctx, candidates(), name_every_set=False)


@rule("KV004", "keyvault-access-policies-undetermined", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="What a redeploy does to the vault's access policies cannot be told offline")
def access_policies_undetermined(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Reports a deployed Key Vault in access-policy mode whose `accessPolicies` cannot be
    evaluated offline, and says what is missing: a parameter without a value (warning: supply
    it with `--param NAME=VALUE` or a parameter file) or a value only Azure knows at deployment
    time (info: `--live` compares with the real vault). A template that deploys more than
    5,000 resource instances is evaluated up to that many; the Key Vaults past them are not
    checked, and an info finding says how many. A vault that a `bool` parameter at its
    default `false` keeps out of the deployment (`condition: [parameters('deployVault')]`) is
    evaluated again with that parameter `true`: when that run would wipe its access policies
    (KV001, KV002), an info finding names the parameter.

    ## Why it matters
    If the list turns out empty, every redeploy removes every access policy on the vault
    (KV001); preflight does not guess.

    ## Example
    ```json
    "parameters": { "accessPolicies": { "type": "array" } },
    ...
    "accessPolicies": "[parameters('accessPolicies')]"
    ```

    ## How to fix
    Commit the parameter file the pipeline uses next to the template (`X.parameters.json`),
    pass it with `--parameters FILE`, or give the value with `--param accessPolicies='[...]'`.
    """
    if not may_deploy(doc, VAULTS):
        return  # no vault instance, none left unchecked: nothing to report (most templates)
    def candidates():
        for o in _outcomes(doc, ctx, UNDETERMINED):
            expr = describe_raw(o.vault, "properties/accessPolicies")
            shown = ("" if o.vault.resource.bicep_symbol is not None  # compiled: not the file's text
                     else f" `{_short(expr)}`" if expr else " (a copy loop)")
            yield access_issue(o, o.vault.pointer_of("properties/accessPolicies"),
                               f": `accessPolicies`{shown} is not known offline ({o.unknown_reason})",
                               "pass the missing values (`--param NAME=VALUE` or a parameter file) or check the "
                               "live vault with `--live`", WARNING if o.resolvable else INFO)
        for off, o in switched_on_outcomes(doc, ctx):  # deployed when a switch is passed true
            if o.effect not in (WIPED, MISSING):
                continue
            names = " and ".join(f"`{name}`" for name in off.switches)
            plural = len(off.switches) > 1
            rule_id, fix = ("KV001", FIXES) if o.effect == WIPED else ("KV002", "declare `accessPolicies`, or " + FIXES)
            yield VaultIssue(o.vault, off.vault.pointer_of("properties/accessPolicies"),
                             f" is deployed only when {names} {'are' if plural else 'is'} true (default false), "
                             f"then a redeploy wipes its access policies ({rule_id})",
                             f"if {names} may be true: {fix}", INFO,
                             vault_data(o.vault, switches=off.switches), caveats=caveats_of(o.doubts))
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)
    notices = []
    for skipped in vaults_not_checked(doc, ctx):
        count = f"{'at least ' if skipped.at_least else ''}{skipped.count:,}"
        msg = (f"{count} Key Vault instance{'s' if skipped.count > 1 or skipped.at_least else ''} not checked: the "
               f"template deploys more than {MAX_INSTANCES:,} resource instances, and preflight evaluates that many")
        notices.append((Issue(skipped.pointer, msg, fix="deploy the resources from several smaller templates: "
                              "preflight checks each file on its own", severity=INFO,
                              data={"notChecked": skipped.count, "atLeast": skipped.at_least}),
                        skipped.evaluation.label))
    yield from report_once(doc, ctx, notices, name_every_set=False)


@rule("KV005", "keyvault-access-policies-preserved", INFO, reads=Kind.ARM_TEMPLATE,
      summary="The vault keeps its live policies by reading them back or by `createMode: recover`")
def access_policies_preserved(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Notes a Key Vault whose `accessPolicies` re-applies the live list
    (`reference(<this vault>).accessPolicies`, directly, through variables, or passed into a
    nested deployment), or that relies on `createMode: recover` with null `accessPolicies`.

    ## Why it matters
    Both keep existing policies on a redeploy, with conditions: `reference()` fails while the
    vault does not exist yet (hence the usual 'exists' switch), and `recover` fails on a vault
    that neither exists nor is soft-deleted. Concatenating the live list with new entries can
    also create duplicate object ids (prefer `union()`).

    ## Example
    ```json
    "accessPolicies": "[if(parameters('vaultExists'), reference(resourceId('Microsoft.KeyVault/vaults', parameters('vaultName')), '2023-07-01').accessPolicies, createArray())]"
    ```

    ## How to fix
    Nothing is required. Azure RBAC or `accessPolicies/add` resources are simpler and have no
    first-deployment special case.
    """  # noqa: E501 (the example is one ARM expression, which cannot be wrapped)
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for o in _outcomes(doc, ctx, PRESERVED):
            how = o.vault.preserving_how
            claim = (" re-applies its live access policies with `reference()`: this fails until the vault exists"
                     if how == "reference" else
                     " keeps its access policies by `createMode: recover` with null `accessPolicies`: this fails "
                     "on a new vault")
            yield access_issue(o, o.vault.pointer_of("properties/accessPolicies"), claim,
                               "prefer RBAC (`enableRbacAuthorization: true`) or `accessPolicies/add` resources",
                               workspaces=False, caveats=False, how=how)
    yield from report_once(doc, ctx, candidates(), name_every_set=False)


@rule("KV006", "keyvault-recover-replaces-policies", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="`createMode: recover` with a literal `accessPolicies` list replaces the recovered list")
def recover_replaces_policies(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds a Key Vault with `createMode: recover` that also declares a non-empty `accessPolicies`.

    ## Why it matters
    Recovering a soft-deleted vault with a list still replaces the recovered vault's policies
    with that list; the usual intent of `recover` is to get the vault back as it was.

    ## Example
    ```json
    "properties": { "createMode": "recover", "accessPolicies": [ { "objectId": "..." } ] }
    ```

    ## How to fix
    Omit `accessPolicies` (or set it to null) when recovering, and grant with
    `Microsoft.KeyVault/vaults/accessPolicies` `add` resources.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for o in access_outcomes(doc, ctx):
            if o.recovered_with_list:
                yield access_issue(o, o.vault.pointer_of("properties/accessPolicies"),
                                   f" is recovered (`createMode: recover`) with {o.policies} literal access "
                                   "policies: they replace the recovered vault's list",
                                   "omit `accessPolicies` to keep the recovered list; grant with `accessPolicies/add` "
                                   "resources",
                                   workspaces=False, caveats=False, policies=o.policies)
    yield from report_once(doc, ctx, candidates(), name_every_set=False)


# --------------------------------------------------------------------------- hygiene rules

def settings(doc: Document, ctx: Context, path: str) -> Iterator[tuple[VaultDeployment, Any, list[str]]]:
    """(vault, known value at `path`, caveats) for deployed vaults where the value is known."""
    for v in deployed(vault_deployments(doc, ctx)):
        value = v.get(path)
        if value is ABSENT or isinstance(value, Unknown):
            continue
        yield v, value, deployment_caveats(v)


def deployment_caveats(v: VaultDeployment) -> list[str]:
    """The caveat of a finding about a vault whose condition cannot be evaluated."""
    if v.status.state == "unknown":
        cause = v.status.unknown.reason if v.status.unknown is not None else "it cannot be evaluated"
        return [f"if deployed ({cause})"]
    return []


@rule("KV007", "keyvault-soft-delete-disabled", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="`enableSoftDelete: false` on a Key Vault")
def soft_delete_disabled(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults with `properties.enableSoftDelete` evaluating to `false`.

    ## Why it matters
    Soft delete is enforced on all key vaults: opting out is no longer possible for new vaults,
    and once on it "cannot be reverted to false" (schema). The deployment fails or does not do
    what the template says.

    ## Example
    ```json
    "properties": { "enableSoftDelete": false }
    ```

    ## How to fix
    Remove `enableSoftDelete` (or set it to `true`) and set `softDeleteRetentionInDays` (7-90).
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v, value, caveats in settings(doc, ctx, "properties/enableSoftDelete"):
            if value is False:
                yield VaultIssue(v, v.pointer_of("properties/enableSoftDelete"),
                                 " sets `enableSoftDelete: false`: soft delete can no longer be turned off",
                                 "remove `enableSoftDelete` or set it to true", capped(ERROR, caveats),
                                 vault_data(v), caveats=caveats)
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


@rule("KV008", "keyvault-retention-out-of-range", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="`softDeleteRetentionInDays` outside 7..90")
def retention_out_of_range(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults whose `properties.softDeleteRetentionInDays` is not an integer
    between 7 and 90.

    ## Why it matters
    The resource provider accepts only 7 to 90 days; anything else fails the deployment. The
    retention is also fixed when the vault is created.

    ## Example
    ```json
    "properties": { "softDeleteRetentionInDays": 365 }
    ```

    ## How to fix
    Use a value from 7 to 90 (90 is the default).
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v, value, caveats in settings(doc, ctx, "properties/softDeleteRetentionInDays"):
            days = value
            if isinstance(value, str) and value.strip().isdigit():
                days = int(value)  # Azure reads a numeric string as the number
            ok = isinstance(days, int) and not isinstance(days, bool) and 7 <= days <= 90
            if not ok:
                yield VaultIssue(v, v.pointer_of("properties/softDeleteRetentionInDays"),
                                 f" has `softDeleteRetentionInDays` {_short(repr(value))}: it must be an integer "
                                 "from 7 to 90", "use a value from 7 to 90", capped(ERROR, caveats),
                                 vault_data(v, value=value), caveats=caveats)
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


@rule("KV009", "keyvault-purge-protection-false", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="`enablePurgeProtection: false` (the property does not accept false)")
def purge_protection_false(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults whose `properties.enablePurgeProtection` evaluates to `false`.

    ## Why it matters
    Enabling purge protection is irreversible, and "the property does not accept false as its
    value" (schema): the resource provider rejects `false` ("cannot be set to false"), including
    on a vault that never had it.

    ## Example
    ```json
    "properties": { "enablePurgeProtection": false }
    ```

    ## How to fix
    Omit the property (or emit null) when purge protection is not wanted:
    `"enablePurgeProtection": "[if(parameters('purgeProtection'), true(), null())]"`.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v, value, caveats in settings(doc, ctx, "properties/enablePurgeProtection"):
            if value is False:
                yield VaultIssue(v, v.pointer_of("properties/enablePurgeProtection"),
                                 " sets `enablePurgeProtection: false`, which Azure does not accept",
                                 "omit `enablePurgeProtection` (or use null) unless enabling it",
                                 capped(ERROR, caveats), vault_data(v), caveats=caveats)
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def literal_tenants(v: VaultDeployment) -> Iterator[tuple[str, str, str]]:
    """(pointer, value, where) for tenant ids written as literal GUIDs in the template text."""
    raw_tenant = v.resource.raw("properties/tenantId")
    if isinstance(raw_tenant, str) and _GUID.match(raw_tenant):
        yield v.pointer_of("properties/tenantId"), raw_tenant, "`tenantId`"
    raw = v.resource.raw("properties/accessPolicies")
    if isinstance(raw, list) and v.resource.local:
        for i, entry in enumerate(raw):
            tenant = entry.get("tenantId") if isinstance(entry, dict) else None
            if isinstance(tenant, str) and _GUID.match(tenant):
                yield (v.pointer_of(f"properties/accessPolicies/{i}/tenantId"), tenant,
                       f"access policy {i + 1}'s `tenantId`")


@rule("KV010", "keyvault-tenant-hardcoded", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="A Key Vault or access-policy tenant id written as a literal GUID")
def tenant_hardcoded(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds a vault's `properties.tenantId`, or an access policy's `tenantId`, written in the
    template as a literal GUID.

    ## Why it matters
    The template then only works in that one tenant; deployed elsewhere the vault's
    policies name principals that cannot authenticate against it ("cannot access vault").

    ## Example
    ```json
    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"
    ```

    ## How to fix
    Use `[subscription().tenantId]` (or `[tenant().tenantId]`), or a parameter.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            for pointer, value, what in literal_tenants(v):
                yield VaultIssue(v, pointer, f": {what} is the literal tenant id {value}: it works only in that tenant",
                                 "use `[subscription().tenantId]` or a parameter", data=vault_data(v, tenantId=value))
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


def known_policies(v: VaultDeployment) -> list[Any]:
    value = v.policies_value
    return value if isinstance(value, list) and v.branch in ("declared", "rbac") else []


@rule("KV011", "keyvault-tenant-mismatch", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="An access policy's tenant differs from the vault's tenant")
def tenant_mismatch(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Compares each access policy's `tenantId` with the vault's `tenantId` when both are known.

    ## Why it matters
    "All identities in the array must use the same tenant ID as the key vault's tenant ID"
    (schema): a policy for another tenant grants nothing, or fails the deployment.

    ## Example
    ```json
    "tenantId": "[subscription().tenantId]",
    "accessPolicies": [ { "tenantId": "00000000-0000-0000-0000-000000000001", ... } ]
    ```

    ## How to fix
    Use the same expression for both, normally `[subscription().tenantId]`.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            vault_tenant = v.tenant_id
            if vault_tenant is None:
                continue
            for i, entry in enumerate(known_policies(v)):
                tenant = entry.get("tenantId") if isinstance(entry, dict) else None
                if tenant is None or isinstance(tenant, Unknown) and isinstance(vault_tenant, Unknown) \
                        and tenant.key == vault_tenant.key:
                    continue
                if same_text(tenant, vault_tenant) is False:
                    yield VaultIssue(v, v.pointer_of(f"properties/accessPolicies/{i}/tenantId"),
                                     f": access policy {i + 1} has tenant {describe(tenant, SHORT)}, the vault has "
                                     f"{describe(vault_tenant, SHORT)}", "use the vault's tenant id for every policy",
                                     data=vault_data(v, index=i))
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


def principal_key(entry: Any) -> tuple | None:
    if not isinstance(entry, dict):
        return None
    parts = []
    for name in ("tenantId", "objectId", "applicationId"):
        value = next((v for k, v in entry.items() if k.lower() == name.lower()), None)
        if value in (None, ""):
            value = ""
        key = key_of(value)
        if key is None:
            return None
        parts.append(key.lower())
    return tuple(parts)


@rule("KV012", "keyvault-duplicate-principal", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="The same principal appears twice in `accessPolicies`")
def duplicate_principal(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds two access policies with the same tenant, object id and application id in one
    `accessPolicies` list (values compared when known, or when they are the same expression).

    ## Why it matters
    "The object ID must be unique for the list of access policies" (schema). Duplicates come
    from `concat(reference(...).accessPolicies, [...])` or copied entries, and fail the
    deployment or leave one entry's permissions unused.

    ## Example
    ```json
    "accessPolicies": [
      { "tenantId": "[subscription().tenantId]", "objectId": "[parameters('appId')]", ... },
      { "tenantId": "[subscription().tenantId]", "objectId": "[parameters('appId')]", ... }
    ]
    ```

    ## How to fix
    Merge the entries' permissions into one policy; append with `union()` instead of `concat()`.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            seen: dict[tuple, int] = {}
            for i, entry in enumerate(known_policies(v)):
                key = principal_key(entry)
                if key is None:
                    continue
                if key in seen:
                    oid = entry.get("objectId") if isinstance(entry, dict) else None
                    yield VaultIssue(v, v.pointer_of(f"properties/accessPolicies/{i}"),
                                     f": access policy {i + 1} repeats the principal of policy {seen[key] + 1} "
                                     f"(objectId {describe(oid, SHORT)})",
                                     "merge the two entries' permissions into one",
                                     data=vault_data(v, index=i, first=seen[key]))
                else:
                    seen[key] = i
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


MAX_POLICIES = 1024


@rule("KV013", "keyvault-too-many-policies", ERROR, reads=Kind.ARM_TEMPLATE,
      summary=f"More than {MAX_POLICIES} access policies on one vault")
def too_many_policies(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Counts the entries of a vault's `accessPolicies` (after evaluating copy loops and
    parameters) and reports more than 1024.

    ## Why it matters
    A vault holds at most 1024 access policies; the deployment fails beyond that.

    ## Example
    ```json
    "copy": [ { "name": "accessPolicies", "count": 2000, "input": { ... } } ]
    ```

    ## How to fix
    Grant groups instead of individual principals, or switch the vault to Azure RBAC.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            policies = known_policies(v)
            if len(policies) > MAX_POLICIES:
                yield VaultIssue(v, v.pointer_of("properties/accessPolicies"),
                                 f" declares {len(policies)} access policies; a vault holds at most {MAX_POLICIES}",
                                 "grant Entra ID groups, or use Azure RBAC", data=vault_data(v, policies=len(policies)))
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


@rule("KV014", "keyvault-permission-all", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="An access policy grants `all` permissions")
def permission_all(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds access policies whose `permissions.keys`, `secrets`, `certificates` or `storage`
    contain `all`.

    ## Why it matters
    `all` includes purge, delete and access-control operations: far more than an application
    needs, and a compromise of that identity exposes the whole vault.

    ## Example
    ```json
    "permissions": { "secrets": ["all"] }
    ```

    ## How to fix
    Grant the operations the principal uses, e.g. `"secrets": ["get", "list"]`.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            if v.branch == "rbac":
                continue
            for i, entry in enumerate(known_policies(v)):
                perms = entry.get("permissions") if isinstance(entry, dict) else None
                if not isinstance(perms, dict):
                    continue
                broad = sorted(k for k, items in perms.items() if isinstance(items, list)
                               and any(isinstance(p, str) and p.lower() == "all" for p in items))
                if broad:
                    yield VaultIssue(v, v.pointer_of(f"properties/accessPolicies/{i}/permissions"),
                                     f": access policy {i + 1} grants `all` {', '.join(broad)} permissions",
                                     "grant only the operations the principal uses",
                                     data=vault_data(v, index=i, categories=broad))
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


@rule("KV015", "keyvault-network-open", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="The vault accepts traffic from every network")
def network_open(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults whose `networkAcls.defaultAction` is `Allow` (or that have no
    `networkAcls`) while `publicNetworkAccess` is not `Disabled`.

    ## Why it matters
    The vault's data plane is then reachable from any network; only authentication stands
    between the internet and its secrets.

    ## Example
    ```json
    "networkAcls": { "defaultAction": "Allow", "bypass": "AzureServices" }
    ```

    ## How to fix
    Set `"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [...],
    "virtualNetworkRules": [...]}`, or `"publicNetworkAccess": "Disabled"` with a private endpoint.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            public = v.get("properties/publicNetworkAccess")
            if isinstance(public, Unknown) or isinstance(public, str) and public.lower() == "disabled":
                continue
            acls = v.get("properties/networkAcls")
            if isinstance(acls, Unknown):
                continue
            action = acls.get("defaultAction", ABSENT) if isinstance(acls, dict) else ABSENT
            if isinstance(acls, dict):
                action = next((val for k, val in acls.items() if k.lower() == "defaultaction"), ABSENT)
            if isinstance(action, Unknown):
                continue
            if (acls is ABSENT or acls is None or action is ABSENT
                    or (isinstance(action, str) and action.lower() == "allow")):
                caveats = deployment_caveats(v)
                why = ("no `networkAcls`" if acls is ABSENT or acls is None
                       else "`networkAcls.defaultAction` is Allow" if action is not ABSENT
                       else "`networkAcls` without `defaultAction`")
                yield VaultIssue(v, v.pointer_of("properties/networkAcls/defaultAction"),
                                 f" accepts connections from any network ({why}, public access not disabled)",
                                 "set `networkAcls.defaultAction: Deny` with allowed networks, or "
                                 "`publicNetworkAccess: Disabled` with a private endpoint",
                                 capped(WARNING, caveats), vault_data(v), caveats=caveats)
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


@rule("KV016", "keyvault-sku-invalid", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="The vault's `sku` is missing or not family A with name standard or premium")
def sku_invalid(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks a deployed vault's `properties.sku`: it is required, `family` must be `A` and `name`
    `standard` or `premium`. A name in other casing (`Standard`) is accepted by Azure and only
    noted (info).

    ## Why it matters
    Anything else fails the deployment.

    ## Example
    ```json
    "sku": { "name": "basic", "family": "B" }
    ```

    ## How to fix
    `"sku": { "family": "A", "name": "standard" }` (or `premium` for HSM-backed keys).
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            props = v.get("properties")
            if not isinstance(props, dict):
                continue
            sku = v.get("properties/sku")
            caveats = deployment_caveats(v)
            if sku is ABSENT:
                yield VaultIssue(v, v.pointer_of("properties"), " has no `sku`: the deployment fails",
                                 'add `"sku": {"family": "A", "name": "standard"}`', capped(ERROR, caveats),
                                 vault_data(v), caveats=caveats)
                continue
            if not isinstance(sku, dict):
                continue
            family = next((val for k, val in sku.items() if k.lower() == "family"), ABSENT)
            name = next((val for k, val in sku.items() if k.lower() == "name"), ABSENT)
            if isinstance(family, str) and family != "A" or family is ABSENT:
                shown = "missing" if family is ABSENT else repr(family)
                yield VaultIssue(v, v.pointer_of("properties/sku/family" if family is not ABSENT else "properties/sku"),
                                 f": `sku.family` is {_short(shown)}; it must be 'A'", 'set `"family": "A"`',
                                 capped(ERROR, caveats), vault_data(v, family=None if family is ABSENT else family),
                                 caveats=caveats)
            if isinstance(name, str):
                if name.lower() not in ("standard", "premium"):
                    yield VaultIssue(v, v.pointer_of("properties/sku/name"),
                                     f": `sku.name` is {_short(repr(name))}; it must be 'standard' or 'premium'",
                                     "use 'standard' or 'premium'", capped(ERROR, caveats), vault_data(v, sku=name),
                                     caveats=caveats)
                elif name not in ("standard", "premium"):
                    yield VaultIssue(v, v.pointer_of("properties/sku/name"),
                                     f": `sku.name` is {name!r}; the canonical value is {name.lower()!r}",
                                     f"write {name.lower()!r}", INFO, vault_data(v, sku=name))
            elif name is ABSENT:
                yield VaultIssue(v, v.pointer_of("properties/sku"),
                                 ": `sku.name` is missing; it must be 'standard' or 'premium'",
                                 'set `"name": "standard"`', capped(ERROR, caveats), vault_data(v), caveats=caveats)
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


_NAME_SCHEMA = re.compile(r"^[a-zA-Z0-9-]{3,24}$")
_NAME_STRICT = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*[a-zA-Z0-9]$")


@rule("KV017", "keyvault-name-invalid", ERROR, reads=Kind.ARM_TEMPLATE,
      summary="The vault name is not 3-24 letters, digits and hyphens (or breaks the naming rules)")
def name_invalid(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks a deployed vault's resolved name: 3 to 24 characters of letters, digits and hyphens
    (error: the schema pattern), starting with a letter, ending with a letter or digit, without
    consecutive hyphens (warning: Azure's naming rules). Names that are not known offline (for
    example built with `uniqueString()`) are not checked.

    ## Why it matters
    An invalid name fails the deployment, usually only after the resources before it were
    created. Vault names are also global DNS names (`<name>.vault.azure.net`).

    ## Example
    ```json
    "name": "kv_ml_production_westeurope"
    ```

    ## How to fix
    Shorten the name and use only letters, digits and single hyphens, e.g. `kv-ml-prod-weu`.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            name = v.name
            if name is None:
                continue
            caveats = deployment_caveats(v)
            pointer = v.pointer_of("name")
            shown = _short(repr(name))
            if not _NAME_SCHEMA.match(name):
                yield Issue(pointer, f"Key Vault name {shown}{where(v)} is invalid: it must be 3 to 24 letters, "
                            f"digits and hyphens{''.join('; ' + c for c in caveats)}", fix="rename the vault",
                            severity=capped(ERROR, caveats), data=vault_data(v)), v.parameter_file
            elif not _NAME_STRICT.match(name):
                yield Issue(pointer, f"Key Vault name {shown}{where(v)} must start with a letter, end with a "
                            f"letter or digit, and have no consecutive hyphens",
                            fix="rename the vault", severity=WARNING, data=vault_data(v)), v.parameter_file
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)


@rule("KV018", "keyvault-rbac-implicit", WARNING, reads=Kind.ARM_TEMPLATE,
      summary="apiVersion 2026-02-01+ with access policies but no explicit `enableRbacAuthorization`")
def rbac_implicit(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds deployed Key Vaults with apiVersion 2026-02-01 or later that declare
    `accessPolicies` but do not set `enableRbacAuthorization`.

    ## Why it matters
    From API 2026-02-01, new vaults default to Azure RBAC, which ignores access policies: the
    same template grants access on an existing vault (which keeps its access-policy mode) and
    grants nothing on a new one.

    ## Example
    ```json
    { "type": "Microsoft.KeyVault/vaults", "apiVersion": "2026-02-01",
      "properties": { "accessPolicies": [ ... ] } }
    ```

    ## How to fix
    Set `"enableRbacAuthorization": false` to keep access policies, or `true` and replace the
    policies with role assignments.
    """
    if not vault_deployments(doc, ctx):
        return  # no vault instance: nothing to report (most templates)
    def candidates():
        for v in deployed(vault_deployments(doc, ctx)):
            if not v.rbac_implicit:
                continue
            has_policies = v.resource.raw("properties/accessPolicies") is not ABSENT or \
                v.policies_value is not ABSENT
            if has_policies:
                yield VaultIssue(v, v.pointer_of("properties"),
                                 f" declares `accessPolicies` without `enableRbacAuthorization` at apiVersion "
                                 f"{v.api_version}: a new vault ignores them (RBAC)",
                                 "set `enableRbacAuthorization` explicitly (false to keep access policies)",
                                 data=vault_data(v))
    yield from report_once(doc, ctx, candidates(), defaults_alone=False, name_every_set=False)



@rule("KV019", "keyvault-api-retiring", WARNING, reads=Kind.ARM_TEMPLATE,
      summary=f"A `Microsoft.KeyVault/*` apiVersion before {MINIMUM_API}, retired on {RETIREMENT_DAY}")
def api_retiring(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Finds every `Microsoft.KeyVault/*` resource (`vaults`, `vaults/accessPolicies`,
    `vaults/secrets`, `vaults/keys`, `managedHSMs`, ...) whose `apiVersion` is before
    2026-02-01, in ARM JSON and in Bicep (`'Microsoft.KeyVault/vaults@2023-07-01'`), including
    child resources, nested deployments, linked templates and Bicep modules. Each resource is
    reported once, at its `apiVersion` (in Bicep, the type string); a preview version counts by
    its date (`2025-05-01-preview` is before). An `existing` reference is reported when the
    template reads it (its `properties`, a `list*()` function): that is a GET at its version;
    one used only for its `id`, `name`, as a `parent:` or a `scope:` makes no call and is not.
    A read written with its version in ARM JSON, `reference(resourceId('Microsoft.KeyVault/
    vaults', 'kv'), '2019-09-01').vaultUri` or `listKeys(..., '2022-07-01')` (what `bicep
    build` makes of an `existing` vault whose properties are read), is reported at the
    expression, once per call site. An
    apiVersion preflight cannot evaluate offline is not reported. Severity is a warning until
    2027-02-27 and an error from that day on; the day is today's date, or the one pinned with
    `--today YYYY-MM-DD`, `PREFLIGHT_TODAY` or `today = "YYYY-MM-DD"` in the configuration (for
    reproducible CI runs).

    ## Why it matters
    Microsoft retires every Key Vault control-plane API version before 2026-02-01 on
    2027-02-27, with no exception or extension. The vaults keep working, but from that day a
    deployment that creates, updates or reads a Key Vault resource with an older version is
    rejected: the template no longer deploys, in every pipeline that uses it.

    The obvious fix has a trap: from API 2026-02-01 a *new* vault defaults to Azure RBAC
    (`enableRbacAuthorization` is true unless set), which ignores access policies. A template
    that only raises the version keeps working on existing vaults (they keep their access
    model), but the next vault it creates grants nobody anything through its `accessPolicies`
    (KV018).

    ## Example
    ```bicep
    resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
      name: 'kv-ml-prod'
      location: location
      properties: {
        tenantId: subscription().tenantId
        sku: { family: 'A', name: 'standard' }
        accessPolicies: [ ... ]
      }
    }
    ```

    ## How to fix
    Raise the apiVersion to 2026-02-01 or later, and on every vault that uses access policies
    write `enableRbacAuthorization: false` explicitly, so the new default changes nothing about
    who can read the vault. `preflight fix` does both, with the file's own layout: it raises
    each literal Key Vault apiVersion it reports to 2026-02-01 (or the version given with
    `--keyvault-api-version` or `keyvault-api-version` in the configuration), and inserts
    `enableRbacAuthorization: false` into the `properties` of each deployed vault in
    access-policy mode (it has `accessPolicies`, or `enableRbacAuthorization` is false or
    absent). A vault whose `enableRbacAuthorization` is true, a parameter or an expression keeps
    it as written, and `existing` references and child resources only get the new version. In
    a read written with its version (`reference(..., '2019-09-01')`), the version argument is
    raised in the expression, and nothing else in it changes.
    2026-02-01 is the default because it is the version Microsoft's migration guide names and
    the first one whose schema and Bicep types every tool knows; newer stable versions work too.
    An apiVersion written as an expression (`[variables('kvApiVersion')]`) is changed where
    its value is defined, by hand.
    """
    found = retiring_api_versions(doc, ctx)
    reads = keyvault_reads(doc, ctx)
    if not found and not reads:
        return
    day = today_for(ctx)
    days = (RETIREMENT_DAY - day).days
    if days > 0:
        severity = WARNING
        when = f"retiring {RETIREMENT_DAY} ({_days(days)} left)"
    else:
        severity = ERROR
        when = f"retired on {RETIREMENT_DAY} ({'today' if days == 0 else _days(-days) + ' ago'})"
    secrets = secure_values(doc, ctx)
    for use in found:
        resource = use.resource
        message = (f"Key Vault `{use.short_type}` {use.display_name}{' (existing)' if use.existing else ''}"
                   f"{origin(resource)} uses apiVersion {' or '.join(use.versions)}, {when}")
        yield Issue(use.pointer, tidy(message, secrets, MAX_WORD), severity=severity,
                    fix=f"raise the apiVersion to {MINIMUM_API}+ and set `enableRbacAuthorization: false` on policy "
                        "vaults (`preflight fix`)",
                    data=tidy({"type": use.type, "apiVersion": use.versions[0], "versions": use.versions,
                               "minimum": MINIMUM_API, "retires": RETIREMENT_DAY.isoformat(),
                               "today": day.isoformat(), "daysLeft": max(days, 0)}, secrets))
    for read in reads:
        named = f" '{read.name}'" if read.name else ""
        where = "" if read.local else " (in a linked template)"
        message = (f"`{read.function}()` reads `{read.type}`{named} at apiVersion {read.version}{where}, {when}")
        yield Issue(read.pointer, tidy(message, secrets, MAX_WORD), severity=severity,
                    fix=f"raise the apiVersion argument to {MINIMUM_API}+ (`preflight fix`)" if read.literal
                    else f"set the apiVersion the call reads to {MINIMUM_API}+ where it is defined",
                    data=tidy({"type": read.type, "apiVersion": read.version, "versions": [read.version],
                               "read": read.function, "minimum": MINIMUM_API,
                               "retires": RETIREMENT_DAY.isoformat(), "today": day.isoformat(),
                               "daysLeft": max(days, 0)}, secrets))


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"
