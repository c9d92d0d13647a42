"""DEP: Azure ML deploy configurations: v1 deploy and inference configs, v2 online
deployments, and the capacity they give against a declared load.

Every check reads the normalised models of `preflight.deploy`, which read the files the way the
Azure ML tools do (the v1 file parser's exact keys, azure-ai-ml's integer coercion), so what
the SDK rejects is an error here and what the SDK silently drops is a warning.
"""
from __future__ import annotations

import keyword
import os
import re
from typing import Iterator

from preflight import fs
from preflight.arm.deployments import may_deploy
from preflight.deploy.arm_resources import ARM_AUTOSCALE, ARM_ONLINE_DEPLOYMENT, ArmResource, arm_resources, iso_seconds
from preflight.deploy.capacity import (ScalePlan, max_target_for_spike, replicas_for_spike, required_replicas,
                                       spike_absorbed, v1_scale_plan, v2_scale_plan)
from preflight.deploy.scripts import read_script
from preflight.deploy.settings import declared_load, settings_of
from preflight.deploy.v1 import (
    ACI, AKS_ENDPOINT, COMPUTE_TYPES, DEPRECATED_INFERENCE_KEYS, ENVIRONMENT_EXCLUSIVE, INFERENCE_KEYS, LOCAL,
    SUPPORTED_CUDA_VERSIONS, SUPPORTED_RUNTIMES, V1_DEFAULT_MAX_REPLICAS, V1_DEFAULT_QUEUE_WAIT_MS,
    V1_DEFAULT_SCORING_TIMEOUT_MS, V1_IGNORED_KEYS, V1_KEYS, V1Deploy, V1Inference, leaves_repository,
    value_has_type,
)
from preflight.deploy.v2 import (KUBERNETES, MANAGED, V2_DEFAULT_QUEUE_WAIT_MS, V2_DEFAULT_REQUEST_TIMEOUT_MS,
                                 OnlineDeployment, is_local_path, is_placeholder)
from preflight.deploy.values import Field, exact, is_number, num, parse_quantity, show, type_name
from preflight.searchpath import resolution_bases
from preflight import v2schema
from preflight.documents import Document, Kind
from preflight.contract import ERROR, INFO, WARNING, Context, Issue, rule

V1 = Kind.DEPLOY_V1
IC = Kind.INFERENCE_V1
V2 = Kind.ONLINE_DEPLOYMENT_V2
BATCH = Kind.BATCH_DEPLOYMENT_V2
ENDPOINT = Kind.ENDPOINT_V2
ENV2 = Kind.ENVIRONMENT_V2
ARM = Kind.ARM_TEMPLATE
V2_FILES = (V2, BATCH, ENDPOINT, ENV2)  # the v2 YAML files `az ml` loads with a marshmallow schema
DEPLOYMENT_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")


def v2_schema_of(doc: Document) -> str:
    """The azure-ai-ml schema a v2 file is loaded with (`preflight.v2schema`)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    if doc.kind == V2:
        return v2schema.online_deployment_schema(data)
    if doc.kind == BATCH:
        return v2schema.batch_deployment_schema(data)
    if doc.kind == ENDPOINT:
        return "batch_endpoint" if v2schema.endpoint_is_batch(data) else v2schema.online_endpoint_schema(data)
    return "environment_asset"


def v2_problems(doc: Document, *kinds: str) -> list[v2schema.Problem]:
    """What azure-ai-ml's schema refuses in a v2 file (computed once per document)."""
    if "v2_problems" not in doc.cache:
        doc.cache["v2_problems"] = v2schema.check(doc.data, v2_schema_of(doc)) if doc.error is None else []
    # A value a script fills in before deploying (`<model-id>`, `{{NAME}}`, `${VAR}`) is unknown,
    # not wrong: what the SDK says of it as written does not apply to what will be deployed.
    return [p for p in doc.cache["v2_problems"] if p.kind in kinds and not is_placeholder(p.value)]


def _problem_issues(doc: Document, *kinds: str) -> Iterator[Issue]:
    for p in v2_problems(doc, *kinds):
        yield Issue(p.pointer, p.message, fix=p.fix, severity=ERROR,
                    data={"key": p.name, **({"suggestion": p.suggestion} if p.suggestion else {})})


def _pct(value) -> str:
    return f"{num(value)} %"


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _words(key: str) -> str:
    """A key's words (camelCase, snake_case, kebab-case) lower-cased and sorted: keys that
    differ in word order (`enableAppInsights`, `appInsightsEnabled`) become close spellings."""
    return " ".join(sorted(w.lower() for w in _WORD.findall(key)))


def _did_you_mean(key: str, candidates: list[str]) -> str | None:
    """A known key that differs only in case, else the closest spelling: compared lower-cased
    (difflib's ratio counts a case difference as a different letter), and word by word in any
    order; the best match at or above the cutoff."""
    for candidate in candidates:
        if candidate.lower() == key.lower():
            return candidate
    import difflib  # here: most configurations spell every key right
    best, best_score = None, 0.75
    lower, words = key.lower(), _words(key)
    for candidate in candidates:
        score = max(difflib.SequenceMatcher(None, lower, candidate.lower()).ratio(),
                    difflib.SequenceMatcher(None, words, _words(candidate)).ratio() if words else 0.0)
        if score > best_score or (best is None and score == best_score):
            best, best_score = candidate, score
    return best


def _arm_issues(doc: Document, ctx: Context, resource_type: str, check) -> Iterator[Issue]:
    """Run `check(resource) -> [(path or pointer, message, fix, severity)]` on every resource of
    a type the template may deploy, under every parameter set; a resource whose deployment is
    uncertain gets at most a warning, and a finding repeated by several parameter sets once."""
    if not may_deploy(doc, resource_type):
        return  # no evaluation can have one (its declared types): `arm_resources` would be empty
    seen: set[tuple[str, str]] = set()
    for res in arm_resources(doc, ctx, resource_type):
        for pointer, message, fix, severity in check(res):
            if not res.certain:
                message = f"if deployed, {message}"
                severity = WARNING if severity is None or severity > WARNING else severity
            key = (pointer, message)
            if key not in seen:
                seen.add(key)
                yield Issue(pointer, message + res.where, fix=fix, severity=severity)


def _arm_number(res: ArmResource, path: str):
    v = res.at(path)
    return (v.value if is_number(v.value) else None), v


def _arm_label(res: ArmResource) -> str:
    return f"online deployment '{res.name}'"


# ==================================================================== autoscale (stable ids)


@rule("DEP001", "autoscale-target-utilization", ERROR, reads=[V1, V2, ARM],
      summary="Autoscale target utilisation outside (0, 100], or <= 1 (a fraction where a percent is meant)")
def autoscale_target_utilization(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks the autoscaler's target utilisation: v1 `autoScaler.targetUtilization`, v2
    Kubernetes `scale_settings.target_utilization_percentage` and, in ARM templates,
    `properties.scaleSettings.targetUtilizationPercentage` of online deployments (evaluated with
    the template's parameters). All are percentages of busy
    replicas, so the value must be in (0, 100]; a value of 1 or less is almost always a
    fraction (`0.7`) written where a percent (`70`) is meant.

    ## Why it matters
    The SDK accepts 150 and 0.7 alike (azureml-core's `deploy_config_dict_to_obj`). At 0.7 %
    the autoscaler adds replicas as soon as any request is in flight and runs at the maximum
    all the time (azure-ai-ml even truncates 0.7 to 0); above 100 it never scales up, and
    clients get HTTP 503s under load.

    ## Example
    ```yaml
    computeType: AKS
    autoScaler:
      autoscaleEnabled: true
      targetUtilization: 0.7    # DEP001: means 0.7 %, not 70 %
    ```

    ## How to fix
    Write the percentage: `targetUtilization: 70` (the default). Lower it (e.g. 50) to keep
    more spare replicas for spikes.
    """
    if doc.kind == ARM:
        yield from _arm_issues(doc, ctx, ARM_ONLINE_DEPLOYMENT, _arm_target_utilization)
        return
    if doc.kind == V1:
        dc = V1Deploy.of(doc)
        if dc.compute_type is not None and not dc.is_aks():
            return
        f = dc.field("autoScaler", "targetUtilization")
        value, note = dc.typed("autoScaler", "targetUtilization"), ""
    else:
        dep = OnlineDeployment.of(doc)
        iv = dep.int("scale_settings", "target_utilization_percentage")
        f = iv.field
        value = f.value if is_number(f.value) else iv.value
        note = (f" (azure-ai-ml truncates it to {int(value)})"
                if isinstance(value, float) and not value.is_integer() else "")
    if value is None:
        return
    if value > 100:
        yield Issue(f.pointer, f"{f.name} is {show(value)}: it is a percentage of busy replicas and must be at "
                    f"most 100; the autoscaler would never add replicas",
                    fix=f"set {f.name} to a percentage such as 70",
                    data={"value": value})
    elif value <= 0:
        yield Issue(f.pointer, f"{f.name} is {show(value)}{note}: the target must be above 0 %",
                    fix=f"set {f.name} to a percentage such as 70", data={"value": value})
    elif value <= 1:
        meant = round(value * 100)
        yield Issue(f.pointer, f"{f.name} is {show(value)}{note}: a percentage, so this asks for {show(value)} %, "
                    f"not {meant} %",
                    fix=f"write {f.name}: {meant}", data={"value": value})


def _arm_target_utilization(res: ArmResource):
    value, v = _arm_number(res, "properties/scaleSettings/targetUtilizationPercentage")
    if value is not None and not 1 < value <= 100:
        yield (v.pointer, f"{_arm_label(res)}: scaleSettings.targetUtilizationPercentage is {show(value)}: a "
               "percentage in (1, 100] is expected" + (" (a fraction where a percent is meant?)" if 0 < value <= 1
                                                      else ""), "set it to a percentage such as 70", None)


@rule("DEP002", "autoscale-min-above-max", ERROR, reads=[V1, V2, ARM],
      summary="Autoscale minimum replicas/instances above the maximum")
def autoscale_min_above_max(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Compares the autoscaler's bounds: v1 `autoScaler.minReplicas` / `maxReplicas` and v2
    `scale_settings.min_instances` / `max_instances` (target-utilisation scaling). When only
    one bound is written, the other's documented default is used (v1 max 10, v2 max 1), and
    the finding is a warning.

    ## Why it matters
    The v1 SDK rejects min above max when autoscaling is on; azure-ai-ml does not check it at
    all (its client-side validation checks names and the scale-settings type only), so a v2
    Kubernetes deployment fails only on the cluster, after the upload.

    ## Example
    ```yaml
    scale_settings:
      type: target_utilization
      min_instances: 5      # DEP002: above max_instances
      max_instances: 2
    ```

    ## How to fix
    Make the minimum at most the maximum; raise `max_instances` / `maxReplicas` if the floor
    is what the load needs.
    """
    if doc.kind == ARM:
        yield from _arm_issues(doc, ctx, ARM_ONLINE_DEPLOYMENT, _arm_min_above_max)
        return
    if doc.kind == V1:
        dc = V1Deploy.of(doc)
        if dc.compute_type is not None and not dc.is_aks():
            return
        min_f, max_f = dc.field("autoScaler", "minReplicas"), dc.field("autoScaler", "maxReplicas")
        low = dc.typed("autoScaler", "minReplicas")
        high = dc.typed("autoScaler", "maxReplicas") if max_f.given else V1_DEFAULT_MAX_REPLICAS
        defaulted = not max_f.given
    else:
        dep = OnlineDeployment.of(doc)
        if dep.scale_type != "target_utilization":
            return
        low, min_f, min_default = dep.scale_value("min_instances")
        high, max_f, max_default = dep.scale_value("max_instances")
        if min_default and max_default:
            return
        defaulted = min_default or max_default
    if low is None or high is None or not low > high:
        return
    high_text = f"{show(high)} (the default)" if defaulted and not max_f.given else show(high)
    low_text = f"{show(low)} (the default)" if defaulted and not min_f.given else show(low)
    pointer = min_f.pointer if min_f.given else max_f.pointer
    yield Issue(pointer,
                f"{min_f.name} {low_text} is above {max_f.name} {high_text}: the autoscaler has no valid range",
                fix=f"lower {min_f.name} to at most {show(high)}, or raise {max_f.name}",
                severity=WARNING if defaulted else None, data={"min": low, "max": high})


def _arm_min_above_max(res: ArmResource):
    low, low_v = _arm_number(res, "properties/scaleSettings/minInstances")
    high, _ = _arm_number(res, "properties/scaleSettings/maxInstances")
    if low is not None and high is not None and low > high:
        yield (low_v.pointer, f"{_arm_label(res)}: scaleSettings.minInstances {show(low)} is above maxInstances "
               f"{show(high)}", "lower minInstances to at most maxInstances", None)


def _scale_plan(doc: Document) -> ScalePlan | None:
    return v1_scale_plan(V1Deploy.of(doc)) if doc.kind == V1 else v2_scale_plan(OnlineDeployment.of(doc))


@rule("DEP003", "capacity-below-declared-load", ERROR, reads=[V1, V2],
      summary="The declared load needs more replicas than the config allows (v1 docs' replica formula)")
def capacity_below_declared_load(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    When a load is declared for the file (`[[load]]` in the configuration, or
    `--expected-rps` and `--latency-ms`), computes the replicas it needs with the formula of
    the Azure ML docs: `ceil(rps x latency / target utilisation / concurrent requests per
    replica)`, and compares it with the most the config allows: v1 `autoScaler.maxReplicas`
    (default 10) or `numReplicas`, one ACI container, v2 managed `instance_count`, v2
    Kubernetes `max_instances`. Fixed counts are judged at 100 % utilisation.

    ## Why it matters
    The autoscaler never goes above its maximum: the excess requests wait in the queue and
    come back as HTTP 503 (the troubleshooting guide's "HTTP status code 503").

    ## Example
    ```toml
    [[load]]                # .preflight.toml
    path = "deploy/aks.yml"
    rps = 20
    latency_ms = 10000      # 20 rps x 10 s / 0.70 = 286 replicas; maxReplicas is 3: DEP003
    ```

    ## How to fix
    Raise the maximum to the number in the message, or cut the latency (a smaller model,
    batching). For spikes, also keep `target x (1 + spike) <= 1` (lower the target
    utilisation) or raise the minimum replicas (see DEP017).
    """
    load = declared_load(doc, ctx.options)
    plan = _scale_plan(doc) if load is not None else None
    if load is None or plan is None:
        return
    need = required_replicas(load.rps, load.latency_ms, plan.utilization_pct, plan.concurrency)
    if need <= plan.ceiling:
        return
    per = f"{plan.concurrency} concurrent request{'s' if plan.concurrency != 1 else ''} each"
    allowed = f"{plan.ceiling_name} allows {plan.ceiling}{' (the default)' if plan.ceiling_default else ''}"
    if plan.autoscaled:
        how = f"at {_pct(plan.utilization_pct)} target utilisation, {per}"
        fix = f"raise {plan.ceiling_name} to at least {need}, or cut the latency"
        if load.spike_pct is not None:
            fix += (f"; for {num(load.spike_pct)} % spikes also {plan.utilization_name} <= "
                    f"{max_target_for_spike(load.spike_pct)}, or {plan.minimum_name} >= "
                    f"{replicas_for_spike(load.rps, load.latency_ms, load.spike_pct, plan.concurrency)}")
    elif plan.ceiling_name == "computeType":
        how, allowed = f"with {per}", "ACI runs a single container"
        fix = "deploy to AKS (or a v2 online endpoint) and size it for this load"
    else:
        how = f"even with every {plan.unit.rstrip('s')} busy, {per}"
        fix = f"raise {plan.ceiling_name} to at least {need}, or cut the latency"
    yield Issue(plan.ceiling_pointer, f"declared load ({load.describe()}) needs {need} {plan.unit} {how}; {allowed}",
                fix=fix, data={"load": load.origin, "required": need, "allowed": plan.ceiling, "rps": load.rps,
                               "latency_ms": load.latency_ms, "utilization_pct": float(plan.utilization_pct),
                               "concurrency": plan.concurrency})


@rule("DEP004", "autoscale-not-enabled", ERROR, reads=V1,
      summary="v1 `autoScaler` values without `autoscaleEnabled: true` (the SDK rejects it)")
def autoscale_not_enabled(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags an AKS deploy config whose `autoScaler` sets `minReplicas`, `maxReplicas`,
    `refreshPeriodInSeconds` or `targetUtilization` while `autoScaler.autoscaleEnabled` is
    missing or false.

    ## Why it matters
    The docs say autoscaling is on by default, but that default is the service's: the SDK's
    file parser passes `autoscale_enabled=None`, and its validation then rejects every
    non-zero autoScaler value ("autoscale_min_replicas provided without enabling
    autoscaling"); zero values are dropped from the request (azureml-core's
    `deploy_config_dict_to_obj`).

    ## Example
    ```yaml
    computeType: AKS
    autoScaler:           # DEP004: no autoscaleEnabled
      minReplicas: 1
      maxReplicas: 3
    ```

    ## How to fix
    Add `autoscaleEnabled: true` under `autoScaler`, or remove the autoScaler values and set
    `numReplicas` for a fixed count.
    """
    dc = V1Deploy.of(doc)
    if not dc.is_aks():
        return
    values = dc.autoscaler_values()
    if not values or dc.autoscale_enabled is True:
        return
    names = ", ".join(f.path[-1] for f in values)
    rejected = any(bool(f.value) for f in values)
    outcome = ("the SDK rejects the file" if rejected
               else "the SDK drops these values")
    enabled = dc.field("autoScaler", "autoscaleEnabled")
    if dc.autoscale_enabled is False:
        yield Issue(enabled.pointer, f"autoScaler sets {names} but autoscaleEnabled is false: {outcome}",
                    fix="set autoscaleEnabled: true, or remove the autoScaler values and set numReplicas")
    else:
        where = f"autoscaleEnabled is {show(enabled.value)}" if enabled.given else "autoscaleEnabled is not set"
        yield Issue("/autoScaler", f"autoScaler sets {names} but {where}: {outcome}",
                    fix="add `autoscaleEnabled: true` under autoScaler")


# ==================================================================== file shape (v1)


@rule("DEP005", "deploy-config-unknown-key", WARNING, reads=[V1, IC, *V2_FILES],
      summary="A key the v1 file parser does not read, or one the v2 schema refuses (unknown, misspelt, miscased)")
def deploy_config_unknown_key(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Reports keys of a v1 deploy or inference config that `az ml model deploy` does not read,
    at the top level and inside `autoScaler`, `containerResourceRequirements`, `keys`,
    `dataCollection` and `livenessProbeRequirements`, with a did-you-mean for a wrong case,
    a typo, or a key at the wrong level. Keys whose value is null are left alone (nothing
    is lost).

    ## Why it matters
    The parser reads each key with `dict.get`: keys are case-sensitive and unknown ones are
    dropped without a word (azureml-core's `deploy_config_dict_to_obj`). `autoscaler:` instead of `autoScaler:` silently
    deploys with none of the autoscale settings.

    ## Example
    ```yaml
    computeType: AKS
    autoscaler:             # DEP005: did you mean 'autoScaler'?
      maxReplicas: 5
    ```

    In v2 files (online and batch deployments, endpoints, environments) every level is
    checked against azure-ai-ml's schema (`resources.requests.mem`, `liveness_probe.period_seconds`,
    `scale_settings: {type: default, max_instances: 3}`), and the finding is an error: the
    SDK refuses unknown keys ("Unknown field") and `az ml ... create -f` stops.

    ## How to fix
    Rename the key as suggested, or remove it.
    """
    if doc.kind in V2_FILES:
        yield from _problem_issues(doc, "unknown")
        return
    if doc.kind == IC:
        data = V1Inference.of(doc).data
        for key, value in data.items():
            if str(key) in INFERENCE_KEYS or value is None:
                continue
            yield _unknown_key(f"/{_escape(key)}", str(key), None, list(INFERENCE_KEYS), [], "az ml model deploy --ic")
        return
    dc = V1Deploy.of(doc)
    known = set(V1_KEYS) | V1_IGNORED_KEYS
    for path, pointer, value in dc.walk_keys():
        if path in known or value is None:
            continue
        level = path[:-1]
        siblings = [p[-1] for p in known if p[:-1] == level]
        elsewhere = [".".join(p) for p in known if p[-1].lower() == path[-1].lower() and p[:-1] != level]
        yield _unknown_key(pointer, ".".join(path), level, siblings, elsewhere, "az ml model deploy")


def _escape(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _unknown_key(pointer: str, name: str, level, siblings: list[str], elsewhere: list[str], tool: str) -> Issue:
    key = name.rsplit(".", 1)[-1]
    prefix = ".".join(level) + "." if level else ""
    same_case = next((c for c in siblings if c.lower() == key.lower()), None)
    if same_case is None and elsewhere:
        # The right key at the wrong level (`minReplicas` outside `autoScaler`) beats a near spelling.
        return Issue(pointer, f"'{name}' is ignored by {tool} at this level: did you mean '{elsewhere[0]}'?",
                     fix=f"move it to '{elsewhere[0]}'", data={"key": name, "suggestion": elsewhere[0]})
    suggestion = same_case or _did_you_mean(key, siblings)
    if suggestion is not None:
        why = "keys are case-sensitive" if suggestion.lower() == key.lower() else "unknown key"
        return Issue(pointer, f"'{name}' is ignored by {tool} ({why}): did you mean '{prefix}{suggestion}'?",
                     fix=f"rename it to '{suggestion}'", data={"key": name, "suggestion": prefix + suggestion})
    return Issue(pointer, f"unknown key '{name}' is ignored by {tool}",
                 fix="remove it, or check its spelling against the deploy-config reference", data={"key": name})


_EXPECTED = {"number": "a number", "integer": "a whole number", "boolean": "true or false",
             "string": "a string", "mapping": "a mapping of settings"}


def _wrong_type_message(doc: Document, f: Field, kind: str, tool: str) -> str:
    value = f.value
    head = f"{f.name} is {show(value) if not isinstance(value, (dict, list)) else type_name(value)}"
    if kind == "mapping":
        return f"{head}: {_EXPECTED[kind]} is expected; {tool} fails reading the file"
    if kind in ("number", "integer") and isinstance(value, str):
        text = value.strip()
        try:
            float(text)
            numeric = True
        except ValueError:
            numeric = False
        json_value = doc.get(f.pointer) if doc.format == "json" else None
        if is_number(json_value):
            return (f"{f.name} is read as the string {show(value)}: az ml reads JSON files with a YAML 1.1 parser, "
                    "which takes exponent notation for text unless it has a decimal point and a signed exponent "
                    "(1.0e+3); the SDK then fails comparing it")
        if numeric:
            return f"{head} (a string): the SDK compares it with numbers and fails; write it without quotes"
        return f"{head}: {_EXPECTED[kind]} is expected"
    if kind == "integer" and is_number(value):
        return f"{head}: a whole number is expected"
    if kind == "boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        counts = "true" if value else "false"
        return f"{head} (a string), which the SDK treats as {counts}: write {value.strip().lower()} without quotes"
    if kind == "string" and is_number(value):
        return f"{head} (a number): a string is expected; quote it"
    return f"{head} ({type_name(value)}): {_EXPECTED[kind]} is expected"


_V2_INT_FIELDS = (
    ("instance_count",),
    *(("scale_settings", k) for k in ("min_instances", "max_instances", "target_utilization_percentage",
                                      "polling_interval")),
    *(("request_settings", k) for k in ("request_timeout_ms", "max_concurrent_requests_per_instance",
                                        "max_queue_wait_ms")),
    *((probe, k) for probe in ("liveness_probe", "readiness_probe")
      for k in ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold")),
)
_K8S_RESOURCE_KEYS = ("cpu", "memory", "gpu", "nvidia.com/gpu")


@rule("DEP006", "deploy-value-wrong-type", ERROR, reads=[V1, IC, *V2_FILES],
      summary="A deploy-config value of the wrong type (`\"cpu\": \"1\"`, a null section, a bare GPU count)")
def deploy_value_wrong_type(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks the type of every value the Azure ML tools read: numbers, whole numbers, booleans,
    strings and sections (mappings) of v1 deploy and inference configs; the integer fields,
    sections and Kubernetes resource quantities of v2 online deployments.

    ## Why it matters
    The v1 parser passes values through untyped: `"cpu": "1"` ends in `TypeError: '<=' not
    supported between instances of 'str' and 'int'`, a `"false"` string counts as true, and an
    empty section (`autoScaler:` with everything commented out) makes the parser fail. A JSON
    `1e3` is read by the CLI's YAML parser as the string "1e3". In v2, Kubernetes quantities
    must be strings (`cpu: "1"`), and azure-ai-ml silently truncates `2.5` to 2. In every v2
    file a null value is refused ("Field may not be null"), and values are read as azure-ai-ml
    reads them: whole numbers also as "3" (not "3.0" or true), strings only as strings.

    ## Example
    ```json
    {"computeType": "ACI", "containerResourceRequirements": {"cpu": "1", "memoryInGB": 2}}
    ```

    ## How to fix
    Write numbers and booleans without quotes, quote Kubernetes quantities, and delete a
    section rather than leaving it empty.
    """
    if doc.kind == V1:
        dc = V1Deploy.of(doc)
        for path, spec in V1_KEYS.items():
            if path == ("computeType",) or not dc.reads(spec):
                continue
            f = dc.field(*path)
            if not f.present or (f.value is None and spec.type != "mapping"):
                continue
            if f.value is None:
                yield Issue(f.pointer, f"{f.name} is empty (null): az ml model deploy fails reading it",
                            fix=f"remove {f.name} or give it values")
            elif not value_has_type(f.value, spec.type):
                yield Issue(f.pointer, _wrong_type_message(doc, f, spec.type, "az ml model deploy"),
                            fix=f"write {f.name} as {_EXPECTED[spec.type]}", data={"expected": spec.type})
    elif doc.kind == IC:
        ic = V1Inference.of(doc)
        for key, kind in INFERENCE_KEYS.items():
            f = ic.field(key)
            if f.given and not value_has_type(f.value, kind):
                yield Issue(f.pointer, _wrong_type_message(doc, f, kind, "az ml model deploy"),
                            fix=f"write {key} as {_EXPECTED[kind]}", data={"expected": kind})
    else:
        yield from _problem_issues(doc, "null", "type")
        if doc.kind == V2:
            yield from _v2_lossy_values(OnlineDeployment.of(doc))


def _v2_lossy_values(dep: OnlineDeployment) -> Iterator[Issue]:
    """What the schema accepts but changes: a truncated whole number, a cpu that is no quantity."""
    for path in _V2_INT_FIELDS:
        iv = dep.int(*path)
        if iv.problem is None or iv.rejected:
            continue  # rejected values are schema problems
        if path[-1] == "target_utilization_percentage" and is_number(iv.field.value) and 0 < iv.field.value <= 1:
            continue  # DEP001 says it: a fraction where a percent is meant
        yield Issue(iv.field.pointer, f"{iv.problem}; azure-ai-ml accepts it", fix=f"write {iv.field.name} as a "
                    "whole number", severity=WARNING)
    if dep.compute != KUBERNETES:
        return
    for section in ("requests", "limits"):
        for key in _K8S_RESOURCE_KEYS:
            f = dep.field("resources", section, key)
            if isinstance(f.value, str) and parse_quantity(f.value) is None:
                yield Issue(f.pointer, f"{f.name} {show(f.value)} is not a Kubernetes quantity",
                            fix='write a quantity such as "500m" or "2" (cpu), "512Mi" or "1Gi" (memory)')


@rule("DEP007", "compute-type-invalid", ERROR, reads=V1,
      summary="A v1 deploy config without a valid `computeType` (ACI, AKS, AKSENDPOINT, local)")
def compute_type_invalid(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks that a v1 deploy config has `computeType`, and that it is one of `ACI`, `AKS`,
    `AKSENDPOINT` or `local` (compared case-insensitively, as the SDK does).

    ## Why it matters
    The parser needs it to pick the deployment class; without it `az ml model deploy` stops
    with "Need to specify computeType", and any other value with "unknown deployment type".

    ## Example
    ```yaml
    computeType: AML      # DEP007
    ```

    ## How to fix
    Set `computeType: AKS` (or `ACI`, `AKSENDPOINT`, `local`).
    """
    dc = V1Deploy.of(doc)
    f = dc.field("computeType")
    choices = "ACI, AKS, AKSENDPOINT or local"
    if not f.given:
        yield Issue(f.pointer if f.present else "", "computeType is missing: az ml model deploy needs it to choose "
                    f"the deployment type ({choices})", fix="add computeType: AKS (or ACI, AKSENDPOINT, local)")
    elif not isinstance(f.value, str):
        yield Issue(f.pointer, f"computeType is {show(f.value)}: one of {choices} is expected",
                    fix="set computeType to AKS, ACI, AKSENDPOINT or local")
    elif dc.compute_type is None:
        guess = _did_you_mean(f.value.strip().lower(), list(COMPUTE_TYPES))
        hint = f"; did you mean {COMPUTE_TYPES[guess]}?" if guess else ""
        yield Issue(f.pointer, f"computeType {show(f.value)} is not a deployment type az ml model deploy knows "
                    f"({choices}){hint}", fix=f"set computeType to {COMPUTE_TYPES[guess] if guess else 'AKS'}")


# Bounds the SDK's validate_configuration enforces (azureml-core webservice classes) plus two it
# does not (limits).
_V1_ABOVE_ZERO = (
    ("containerResourceRequirements", "cpu"), ("containerResourceRequirements", "memoryInGB"),
    ("scoringTimeoutMs",), ("maxConcurrentRequestsPerContainer",), ("maxQueueWaitMs",), ("numReplicas",),
    *(("livenessProbeRequirements", k) for k in ("periodSeconds", "initialDelaySeconds", "timeoutSeconds",
                                                  "successThreshold", "failureThreshold")),
    ("containerResourceRequirements", "cpuLimit"), ("containerResourceRequirements", "memoryInGBLimit"),
)
_V1_ABOVE_ZERO_WHEN_AUTOSCALED = (("autoScaler", "minReplicas"), ("autoScaler", "maxReplicas"),
                                  ("autoScaler", "refreshPeriodInSeconds"))
NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{,61}[a-z0-9])?$")
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@rule("DEP008", "deploy-value-not-allowed", ERROR, reads=[V1, IC, *V2_FILES, ARM],
      summary="A deploy-config value outside what the SDK or the service accepts")
def deploy_value_not_allowed(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks values against their allowed range or set. v1 (the SDK's own validation,
    azureml-core's `validate_configuration`): CPU, memory, timeouts, queue wait, concurrency,
    replica counts and liveness-probe settings above 0, `gpuCores` >= 0, the AKS `namespace` pattern, an AKS endpoint's
    `versionName` and `trafficPercentile`, a local `port` in 1-65535, the inference `runtime`
    and `cudaVersion`. v2 (the *online deployment YAML schema* and *Manage and increase quotas*
    pages of the Azure ML docs, checked only server-side): instance bounds and polling
    interval >= 1, `request_timeout_ms` between 1 and the platform maximum (180000 ms for
    managed; `[deploy]` settings), concurrency >= 1, probe settings >= 1 and a managed
    liveness probe's `success_threshold` of exactly 1. ARM online deployments: the same bounds
    on `requestSettings` (`requestTimeout` as an ISO-8601 duration), `scaleSettings` and
    `sku.capacity`. Every v2 file (what azure-ai-ml checks before sending anything): enum
    values (`type`, `scale_settings.type`, `auth_mode`, `os_type`, ...; compared the SDK's way,
    so `DEFAULT` and `TargetUtilization` are fine), `model`/`environment` references (a bare
    name such as `sklearn-env` is refused: `azureml:sklearn-env:1`), a registry environment or
    model on a Kubernetes deployment, deployment and endpoint names (3-32 letters, digits
    and '-', starting with a letter, ending alphanumeric), and batch settings refused together
    (`output_file_name` with `output_action: summary_only`; a model deployment's
    `settings.instance_count` next to `resources`). A value a script fills in before deploying
    (`<model-id>`, `{{NAME}}`, `${VAR}`, `$(var)`) is unknown until then, and not checked.

    ## Why it matters
    v1 values are rejected by `az ml model deploy` after the image may already have been
    built; v2 values pass the CLI and fail on the service, or (a zero probe delay) make the
    deployment restart in a loop.

    ## Example
    ```yaml
    request_settings:
      request_timeout_ms: 300000     # DEP008: managed deployments allow 180000 at most
    ```

    ## How to fix
    Use a value in the range the message gives.
    """
    if doc.kind == ARM:
        if not may_deploy(doc, ARM_ONLINE_DEPLOYMENT):
            return  # no online deployment to check: its limit is not looked up
        limit = settings_of(doc, ctx.options).managed_max_request_timeout_ms
        yield from _arm_issues(doc, ctx, ARM_ONLINE_DEPLOYMENT, lambda res: _arm_not_allowed(res, limit))
    elif doc.kind == V1:
        yield from _v1_not_allowed(V1Deploy.of(doc))
    elif doc.kind == IC:
        ic = V1Inference.of(doc)
        runtime = ic.field("runtime")
        if isinstance(runtime.value, str) and runtime.value and runtime.value.lower() not in SUPPORTED_RUNTIMES \
                and not is_placeholder(runtime.value):
            yield Issue(runtime.pointer, f"runtime {show(runtime.value)} is not supported: python or spark-py",
                        fix="use runtime: python (or better, an environment)")
        cuda = ic.field("cudaVersion")
        if isinstance(cuda.value, str) and cuda.value.lower() not in SUPPORTED_CUDA_VERSIONS \
                and not is_placeholder(cuda.value):
            yield Issue(cuda.pointer, f"cudaVersion {show(cuda.value)} is not supported: "
                        f"{', '.join(SUPPORTED_CUDA_VERSIONS)}", fix="use a supported CUDA version, or an environment")
    else:
        yield from _problem_issues(doc, "enum", "reference", "conflict")
        yield from _v2_names(doc)
        if doc.kind != V2:
            return
        dep, settings = OnlineDeployment.of(doc), settings_of(doc, ctx.options)
        yield from _v2_not_allowed(dep, settings.managed_max_request_timeout_ms if dep.compute == MANAGED
                                   else settings.kubernetes_max_request_timeout_ms)


def _v2_names(doc: Document) -> Iterator[Issue]:
    """Deployment names as the SDK's `_validate` checks them, endpoint names as its schema does;
    registry assets the Kubernetes deployment schema refuses."""
    data = doc.data if isinstance(doc.data, dict) else {}
    name = data.get("name")
    if doc.kind in (V2, BATCH, ENDPOINT) and isinstance(name, str) and not is_placeholder(name):
        sized = doc.kind == ENDPOINT or 3 <= len(name) <= 32
        if not sized or not DEPLOYMENT_NAME.match(name):
            what = "an endpoint" if doc.kind == ENDPOINT else "a deployment"
            yield Issue("/name", f"name {show(name)} is not a valid name for {what}: 3-32 letters, digits and '-', "
                        "starting with a letter and ending with a letter or digit",
                        fix="rename it, e.g. " + show(re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-")[:32] or "blue"))
    if doc.kind == V2 and v2_schema_of(doc) == "kubernetes_online_deployment":
        for key in ("environment", "model"):
            value = data.get(key)
            if isinstance(value, str) and value.startswith("azureml://registries/"):
                yield Issue(f"/{key}", f"{key} {show(value)} is in a registry: Kubernetes online deployments cannot "
                            f"use registry {key}s (azure-ai-ml refuses it)", fix=f"register the {key} in the workspace "
                            f"and refer to it as azureml:<name>:<version>")


def _arm_compute(res: ArmResource) -> str | None:
    value = res.at("properties/endpointComputeType").value
    return value.lower() if isinstance(value, str) else None


def _arm_not_allowed(res: ArmResource, managed_max_ms: int):
    label = _arm_label(res)
    for path in ("properties/scaleSettings/minInstances", "properties/scaleSettings/maxInstances",
                 "properties/requestSettings/maxConcurrentRequestsPerInstance"):
        value, v = _arm_number(res, path)
        if value is not None and value < 1:
            name = path.split("/", 1)[1].replace("/", ".")
            yield (v.pointer, f"{label}: {name} is {show(value)}: it must be at least 1",
                   f"set {name} to 1 or more", None)
    polling = res.at("properties/scaleSettings/pollingInterval")
    seconds = iso_seconds(polling.value)
    if polling.known and polling.present and isinstance(polling.value, str) and (seconds is None or seconds < 1):
        yield (polling.pointer, f"{label}: scaleSettings.pollingInterval {show(polling.value)} is not an ISO-8601 "
               "duration of 1 second or more", "write a duration such as PT1S", None)
    timeout = res.at("properties/requestSettings/requestTimeout")
    seconds = iso_seconds(timeout.value)
    if timeout.known and timeout.present and isinstance(timeout.value, str):
        if seconds is None or seconds * 1000 < 1:
            yield (timeout.pointer, f"{label}: requestSettings.requestTimeout {show(timeout.value)} is not an "
                   "ISO-8601 duration of 1 ms or more", "write a duration such as PT5S", None)
        elif _arm_compute(res) == "managed" and seconds * 1000 > managed_max_ms:
            yield (timeout.pointer, f"{label}: requestSettings.requestTimeout {timeout.value} is above the "
                   f"{managed_max_ms} ms managed online deployments allow", f"set it to PT{managed_max_ms // 1000}S "
                   "or less", None)


def _v1_not_allowed(dc: V1Deploy) -> Iterator[Issue]:
    if dc.compute_type == ACI:
        for path in (("containerResourceRequirements", "cpu"), ("containerResourceRequirements", "memoryInGB")):
            value = dc.typed(*path)
            if value is not None and value <= 0:
                f = dc.field(*path)
                yield Issue(f.pointer, f"{f.name} is {show(value)}: it must be greater than 0 (the SDK rejects it)",
                            fix=f"set {f.name} above 0")
    elif dc.compute_type == LOCAL:
        port = dc.typed("port")
        if port and not 1 <= port <= 65535:
            yield Issue(dc.field("port").pointer, f"port is {show(port)}: it must be in 1-65535",
                        fix="use a free port such as 8890")
    elif dc.is_aks():
        checks: list[tuple[str, ...]] = list(_V1_ABOVE_ZERO)
        if dc.autoscale_enabled:
            checks += _V1_ABOVE_ZERO_WHEN_AUTOSCALED
        for keys in checks:
            value = dc.typed(*keys)
            if value is not None and value <= 0:
                f = dc.field(*keys)
                yield Issue(f.pointer, f"{f.name} is {show(value)}: it must be greater than 0",
                            fix=f"set {f.name} above 0")
        gpu = dc.typed("gpuCores")
        if gpu is not None and gpu < 0:
            yield Issue(dc.field("gpuCores").pointer, f"gpuCores is {show(gpu)}: it must be 0 or more",
                        fix="set gpuCores to the number of GPUs, or 0")
        namespace = dc.typed("namespace")
        if namespace and not NAMESPACE.match(namespace) and not is_placeholder(namespace):
            yield Issue(dc.field("namespace").pointer, f"namespace {show(namespace)} is not a Kubernetes namespace "
                        "name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)",
                        fix=f"use e.g. {show(re.sub(r'[^a-z0-9-]+', '-', namespace.lower()).strip('-') or 'scoring')}")
        if dc.compute_type == AKS_ENDPOINT:
            version = dc.typed("versionName")
            if version and not (SERVICE_NAME.fullmatch(version) and 3 <= len(version) <= 32) \
                    and not is_placeholder(version):
                yield Issue(dc.field("versionName").pointer, f"versionName {show(version)} is not a valid service "
                            "name (3-32 lower-case letters, digits or '-', starting with a letter)",
                            fix="use a name such as 'version-2'")
            traffic = dc.typed("trafficPercentile")
            if traffic and not 0 <= traffic <= 100:
                yield Issue(dc.field("trafficPercentile").pointer, f"trafficPercentile is {show(traffic)}: "
                            "it must be in 0-100", fix="set a percentage of traffic between 0 and 100")


def _v2_not_allowed(dep: OnlineDeployment, max_timeout: int | None) -> Iterator[Issue]:
    def at_least_one(*path: str) -> Iterator[Issue]:
        iv = dep.int(*path)
        if iv.value is not None and iv.value < 1:
            yield Issue(iv.field.pointer, f"{iv.field.name} is {iv.value}: it must be at least 1",
                        fix=f"set {iv.field.name} to 1 or more")

    if dep.scale_type == "target_utilization":
        low = dep.int("scale_settings", "min_instances")
        if low.value is not None and low.value < 1:
            zero = low.value == 0
            yield Issue(low.field.pointer, f"scale_settings.min_instances is {low.value}: "
                        + ("scaling to zero instances is not supported for online deployments, the first request "
                           "after idling fails" if zero else "it must be at least 1"),
                        fix="set scale_settings.min_instances to 1 or more", severity=WARNING if zero else None)
        yield from at_least_one("scale_settings", "max_instances")
        yield from at_least_one("scale_settings", "polling_interval")
    yield from at_least_one("request_settings", "max_concurrent_requests_per_instance")
    timeout = dep.int("request_settings", "request_timeout_ms")
    if timeout.value is not None and timeout.value < 1:
        yield Issue(timeout.field.pointer, f"request_settings.request_timeout_ms is {timeout.value}: it must be at "
                    "least 1", fix="set a timeout in milliseconds, e.g. 5000")
    elif timeout.value is not None and max_timeout and timeout.value > max_timeout:
        yield Issue(timeout.field.pointer, f"request_settings.request_timeout_ms is {timeout.value}: {dep.compute} "
                    f"online deployments allow at most {max_timeout} ms", fix=f"set it to {max_timeout} or less",
                    data={"max": max_timeout})
    for probe in ("liveness_probe", "readiness_probe"):
        for key in ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold"):
            yield from at_least_one(probe, key)
    success = dep.int("liveness_probe", "success_threshold")
    if dep.compute == MANAGED and success.value is not None and success.value > 1:
        yield Issue(success.field.pointer, f"liveness_probe.success_threshold is {success.value}: a managed "
                    "deployment's liveness probe takes 1 only", fix="set liveness_probe.success_threshold: 1")


@rule("DEP009", "resource-limit-below-request", ERROR, reads=[V1, V2],
      summary="A CPU, memory or GPU limit below its request")
def resource_limit_below_request(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Compares limits with requests: v1 AKS `containerResourceRequirements.cpuLimit` /
    `memoryInGBLimit` with `cpu` / `memoryInGB`, and v2 Kubernetes `resources.limits` with
    `resources.requests`, parsing Kubernetes quantities (`500m` = 0.5 CPU, `1Gi` = 1024 Mi,
    `1G` = 1000 M).

    ## Why it matters
    Kubernetes refuses a pod whose limit is below its request; the v1 SDK rejects it up
    front, v2 only on the cluster. Mixed units hide it: `memory: 1Gi` with a `1000Mi` limit.

    ## Example
    ```yaml
    resources:
      requests: {cpu: "1", memory: 1Gi}
      limits: {cpu: 500m, memory: 1000Mi}     # DEP009 twice
    ```

    ## How to fix
    Raise the limit to at least the request, or lower the request.
    """
    if doc.kind == V1:
        dc = V1Deploy.of(doc)
        if not dc.is_aks():
            return
        for request, limit in (("cpu", "cpuLimit"), ("memoryInGB", "memoryInGBLimit")):
            req = dc.typed("containerResourceRequirements", request)
            lim = dc.typed("containerResourceRequirements", limit)
            if req is not None and lim is not None and lim < req:
                f = dc.field("containerResourceRequirements", limit)
                yield Issue(f.pointer, f"{f.name} {show(lim)} is below containerResourceRequirements.{request} "
                            f"{show(req)}: the SDK rejects a limit below the request",
                            fix=f"raise {limit} to at least {show(req)}", data={"request": req, "limit": lim})
        return
    dep = OnlineDeployment.of(doc)
    if dep.compute != KUBERNETES:
        return
    for key in ("cpu", "memory", "gpu", "nvidia.com/gpu"):
        req_f, lim_f = dep.field("resources", "requests", key), dep.field("resources", "limits", key)
        req, lim = parse_quantity(req_f.value), parse_quantity(lim_f.value)
        if req is not None and lim is not None and lim < req:
            yield Issue(lim_f.pointer, f"{lim_f.name} {show(lim_f.value)} is below {req_f.name} {show(req_f.value)}: "
                        "Kubernetes refuses a pod whose limit is below its request",
                        fix=f"raise the limit to at least {req_f.value}, or lower the request",
                        data={"request": str(req_f.value), "limit": str(lim_f.value)})


# ==================================================================== AKS / ACI settings (v1)


@rule("DEP010", "replica-count-conflict", ERROR, reads=V1,
      summary="`numReplicas` with autoscaling on, or autoscaling off without `numReplicas`")
def replica_count_conflict(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks that an AKS deploy config sets the replica count one way: `numReplicas` only with
    autoscaling off, and a `numReplicas` whenever `autoscaleEnabled` is false.

    ## Why it matters
    The SDK rejects both ("autoscale enabled and num_replicas provided", "autoscale
    disabled but num_replicas not provided").

    ## Example
    ```yaml
    computeType: AKS
    numReplicas: 3            # DEP010: autoscaling is on
    autoScaler:
      autoscaleEnabled: true
    ```

    ## How to fix
    Choose one: autoscaling (`autoScaler` with `autoscaleEnabled: true`, min and max), or a
    fixed count (`numReplicas`, with `autoscaleEnabled: false` or no autoScaler).
    """
    dc = V1Deploy.of(doc)
    if not dc.is_aks():
        return
    replicas = dc.field("numReplicas")
    if dc.autoscale_enabled is True and replicas.given and replicas.value:
        yield Issue(replicas.pointer, f"numReplicas is {show(replicas.value)} while autoscaleEnabled is true: the SDK "
                    "rejects the file (autoscaling sets the count)",
                    fix="remove numReplicas, or set autoscaleEnabled: false for a fixed count")
    elif dc.autoscale_enabled is False and not replicas.given:
        yield Issue(dc.field("autoScaler", "autoscaleEnabled").pointer, "autoscaleEnabled is false but numReplicas is "
                    "not set: the SDK rejects the file (a fixed deployment needs a replica count)",
                    fix="add numReplicas (e.g. 3), or enable autoscaling")


@rule("DEP011", "auth-modes-conflict", ERROR, reads=V1,
      summary="AKS `authEnabled` and `tokenAuthEnabled` both on")
def auth_modes_conflict(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags an AKS deploy config with both key authentication (`authEnabled`) and token
    authentication (`tokenAuthEnabled`) turned on.

    ## Why it matters
    An AKS web service uses one or the other; the SDK rejects the file ("auth_enabled and
    token_auth_enabled cannot both be true").

    ## Example
    ```yaml
    computeType: AKS
    authEnabled: true
    tokenAuthEnabled: true    # DEP011
    ```

    ## How to fix
    Keep `tokenAuthEnabled: true` (Azure AD tokens) and set `authEnabled: false`, or the
    reverse for keys.
    """
    dc = V1Deploy.of(doc)
    if not dc.is_aks():
        return
    auth, token = dc.field("authEnabled"), dc.field("tokenAuthEnabled")
    if auth.value and token.value:
        yield Issue(token.pointer, "authEnabled and tokenAuthEnabled are both on: an AKS service uses key or token "
                    "authentication, and the SDK rejects the file",
                    fix="set authEnabled: false to keep token authentication (or tokenAuthEnabled: false for keys)")


@rule("DEP012", "aks-auth-disabled", WARNING, reads=V1,
      summary="An AKS web service with authentication turned off")
def aks_auth_disabled(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags an AKS deploy config with `authEnabled: false` and no token authentication.

    ## Why it matters
    AKS services have key authentication on by default; turning it off lets anyone who can
    reach the scoring endpoint call the model (and run up its cost).

    ## Example
    ```yaml
    computeType: AKS
    authEnabled: false        # DEP012
    ```

    ## How to fix
    Remove `authEnabled: false` (keys), or set `tokenAuthEnabled: true` (Azure AD tokens).
    """
    dc = V1Deploy.of(doc)
    if not dc.is_aks():
        return
    auth = dc.field("authEnabled")
    if auth.value is False and not dc.field("tokenAuthEnabled").value:
        yield Issue(auth.pointer, "authEnabled is false and token authentication is off: anyone who can reach the "
                    "AKS scoring endpoint can call the model", fix="set authEnabled: true, or tokenAuthEnabled: true")


@rule("DEP013", "gpu-setting-ignored", WARNING, reads=V1,
      summary="`containerResourceRequirements.gpu` in a deploy-config file is ignored")
def gpu_setting_ignored(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags `containerResourceRequirements.gpu` in a v1 deploy config.

    ## Why it matters
    The REST payload has that field, but the deploy-config file parser reads GPUs only from
    the top-level `gpuCores` (azureml-core's `deploy_config_dict_to_obj`): the service is
    deployed without a GPU, and a GPU model then fails or crawls on CPU.

    ## Example
    ```yaml
    computeType: AKS
    containerResourceRequirements:
      cpu: 1
      gpu: 1                  # DEP013: ignored
    ```

    ## How to fix
    Use `gpuCores: 1` at the top level (AKS).
    """
    dc = V1Deploy.of(doc)
    f = dc.field("containerResourceRequirements", "gpu")
    if not f.given:
        return
    if dc.compute_type == ACI:
        why = "az ml model deploy reads no GPU setting for ACI from a deploy-config file"
        fix = "deploy GPU models to AKS, with gpuCores at the top level"
    else:
        why = "the deploy-config file parser reads GPUs only from the top-level gpuCores"
        fix = f"remove it and set gpuCores: {show(f.value)} at the top level"
    yield Issue(f.pointer, f"containerResourceRequirements.gpu is ignored: {why}; the service gets no GPU", fix=fix)


@rule("DEP014", "key-not-applicable", WARNING, reads=V1,
      summary="A deploy-config key that does not apply to the `computeType`")
def key_not_applicable(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags keys the v1 parser reads only for another compute type: `autoScaler`,
    `numReplicas`, `tokenAuthEnabled`, probes or limits on ACI; `sslEnabled`, `dnsNameLabel`,
    `location` or VNet settings on AKS; anything but `port` for `local`.

    ## Why it matters
    They are dropped without a word, so the deployment runs without the setting the author
    believes is in force (no autoscaling, no TLS).

    ## Example
    ```yaml
    computeType: ACI
    autoScaler:               # DEP014: ACI runs one container, no autoscaling
      maxReplicas: 4
    ```

    ## How to fix
    Remove the key, or deploy to the compute type that uses it. TLS for AKS is configured on
    the AKS compute target, not in the deploy config.
    """
    dc = V1Deploy.of(doc)
    if dc.compute_type is None:
        return
    compute = COMPUTE_TYPES[dc.compute_type]
    for path, pointer, value in dc.walk_keys():
        spec = V1_KEYS.get(path)
        if spec is None or value is None or dc.compute_type in spec.read_by:
            continue
        parent = V1_KEYS.get(path[:-1]) if len(path) > 1 else None
        if parent is not None and dc.compute_type not in parent.read_by:
            continue  # the section is reported, not each of its keys
        used_by = ", ".join(COMPUTE_TYPES[c] for c in COMPUTE_TYPES if c in spec.read_by)
        hint = "; TLS for AKS is set on the AKS compute target" if path[0] in ("sslEnabled", "sslCertificate", "sslKey",
                                                                               "cname") and dc.is_aks() else ""
        yield Issue(pointer, f"{'.'.join(path)} does not apply to computeType {compute}: az ml model deploy ignores "
                    f"it (it is read for {used_by}){hint}", fix=f"remove {'.'.join(path)}",
                    data={"key": ".".join(path), "compute_type": compute})


@rule("DEP015", "aci-settings-incomplete", ERROR, reads=V1,
      summary="ACI SSL, customer-managed key or VNet settings given partly")
def aci_settings_incomplete(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks the ACI settings that go together: with `sslEnabled`, all of `sslCertificate`,
    `sslKey` and `cname` (and certificate files set without `sslEnabled`, which are unused);
    `vaultBaseUrl`, `keyName` and `keyVersion` all or none; `vnetName` and `subnetName` both
    or neither.

    ## Why it matters
    The SDK rejects a partial set ("SSL is enabled, you must provide a SSL certificate, key,
    and cname"); a certificate without `sslEnabled` leaves the service on plain HTTP.

    ## Example
    ```yaml
    computeType: ACI
    sslEnabled: true
    sslCertificate: cert.pem       # DEP015: sslKey and cname are missing
    ```

    ## How to fix
    Give the whole set, or none of it.
    """
    dc = V1Deploy.of(doc)
    if dc.compute_type != ACI:
        return
    ssl = dc.field("sslEnabled")
    parts = [dc.field(k) for k in ("sslCertificate", "sslKey", "cname")]
    if ssl.value:
        missing = [f.name for f in parts if not f.value]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            yield Issue(ssl.pointer, f"sslEnabled is on but {', '.join(missing)} {verb} "
                        "missing: the SDK needs a certificate, a key and a cname", fix=f"add {', '.join(missing)}")
    else:
        for f in parts:
            if f.value:
                yield Issue(f.pointer, f"{f.name} is set but sslEnabled is not on: the service stays on plain HTTP",
                            fix="set sslEnabled: true (with sslCertificate, sslKey and cname), or remove it",
                            severity=WARNING)
    for group, what in ((("vaultBaseUrl", "keyName", "keyVersion"), "customer-managed key settings"),
                        (("vnetName", "subnetName"), "VNet settings")):
        fields = [dc.field(k) for k in group]
        given = [f for f in fields if f.value]
        if given and len(given) < len(fields):
            missing = [f.name for f in fields if not f.value]
            yield Issue(given[0].pointer, f"{what} are partial: {', '.join(f.name for f in given)} set, "
                        f"{', '.join(missing)} missing; the SDK needs all or none", fix=f"add {', '.join(missing)}")


# ==================================================================== declared load


@rule("DEP016", "timeout-below-latency", ERROR, reads=[V1, V2],
      summary="The request timeout (or queue wait) is short for the declared latency")
def timeout_below_latency(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    With a declared load, compares the declared latency with the request timeout: v1 AKS
    `scoringTimeoutMs` (default 60000), v2 `request_settings.request_timeout_ms` (default
    5000). Below the latency is an error, below twice the latency a warning. Also reports
    (info) a queue wait (`maxQueueWaitMs`, v2 Kubernetes `max_queue_wait_ms`, default 500)
    shorter than the latency.

    ## Why it matters
    Every request that takes the declared time is cut off and returns an error, however
    many replicas there are. A request queued behind a busy replica waits about one latency;
    a shorter queue wait turns bursts into HTTP 503s.

    ## Example
    ```yaml
    # declared: latency_ms = 10000
    request_settings:
      request_timeout_ms: 5000        # DEP016
    ```

    ## How to fix
    Set the timeout to at least twice the declared latency (managed online deployments allow
    up to 180000 ms).
    """
    load = declared_load(doc, ctx.options)
    if load is None:
        return
    if doc.kind == V1:
        dc = V1Deploy.of(doc)
        if not dc.is_aks():
            return
        timeout_f, queue_f = dc.field("scoringTimeoutMs"), dc.field("maxQueueWaitMs")
        timeout = dc.typed("scoringTimeoutMs") if timeout_f.given else V1_DEFAULT_SCORING_TIMEOUT_MS
        queue = dc.typed("maxQueueWaitMs") if queue_f.given else V1_DEFAULT_QUEUE_WAIT_MS
    else:
        dep = OnlineDeployment.of(doc)
        t, q = dep.int("request_settings", "request_timeout_ms"), dep.int("request_settings", "max_queue_wait_ms")
        timeout_f, queue_f = t.field, q.field
        timeout = t.value if timeout_f.given else V2_DEFAULT_REQUEST_TIMEOUT_MS
        # Managed deployments deprecate the queue wait (DEP020); it matters on Kubernetes.
        queue = (q.value if queue_f.given else V2_DEFAULT_QUEUE_WAIT_MS) if dep.compute == KUBERNETES else None
    latency = load.latency_ms
    if timeout is not None and timeout > 0:
        named = f"{timeout_f.name} is {num(timeout)} ms{'' if timeout_f.given else ' (the default)'}"
        pointer = timeout_f.pointer if timeout_f.given else ""
        if timeout < latency:
            yield Issue(pointer, f"{named}, below the declared latency of {num(latency)} ms: requests that take "
                        "that long are cut off", fix=f"set {timeout_f.name} to at least {num(2 * latency)}",
                        data={"timeout_ms": timeout, "latency_ms": latency, "load": load.origin})
        elif timeout < 2 * latency:
            yield Issue(pointer, f"{named}, less than twice the declared latency of {num(latency)} ms: slower "
                        "requests are cut off", fix=f"set {timeout_f.name} to at least {num(2 * latency)}",
                        severity=WARNING, data={"timeout_ms": timeout, "latency_ms": latency, "load": load.origin})
    if queue is not None and 0 < queue < latency:
        named = f"{queue_f.name} is {num(queue)} ms{'' if queue_f.given else ' (the default)'}"
        yield Issue(queue_f.pointer if queue_f.given else "", f"{named}, shorter than the declared latency of "
                    f"{num(latency)} ms: a request queued behind a busy replica gets HTTP 503",
                    fix=f"raise {queue_f.name} to about {num(latency)}", severity=INFO)


@rule("DEP017", "spike-headroom", WARNING, reads=[V1, V2],
      summary="A declared traffic spike is not absorbed before the autoscaler reacts")
def spike_headroom(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    When a load declares `spike_pct` (or `--spike-pct`), checks that a sudden rise of that
    size is served by the spare capacity: with autoscaling, `target x (1 + spike) <= 1` or a
    minimum that already covers the peak; with a fixed count, enough replicas for the peak.

    ## Why it matters
    The autoscaler is built for gradual change (the troubleshooting guide): new replicas take
    time, and until then a spike above the spare share of capacity gets HTTP 503s. At the
    default 70 % target, spikes up to 42.9 % are absorbed.

    ## Example
    ```toml
    [[load]]
    path = "deploy/aks.yml"       # targetUtilization: 80
    rps = 100
    latency_ms = 200
    spike_pct = 50                # 0.8 x 1.5 = 1.2 > 1: DEP017
    ```

    ## How to fix
    Lower the target utilisation to the value in the message, or raise the minimum replicas
    to the peak's need.
    """
    load = declared_load(doc, ctx.options)
    if load is None or load.spike_pct is None:
        return
    plan = _scale_plan(doc)
    if plan is None:
        return
    s = load.spike_pct
    peak_need = replicas_for_spike(load.rps, load.latency_ms, s, plan.concurrency)
    if plan.autoscaled:
        u = plan.utilization_pct
        if spike_absorbed(u, s) or (plan.minimum is not None and plan.minimum >= peak_need):
            return
        product = float(exact(u) / 100 * (1 + exact(s) / 100))
        yield Issue(plan.utilization_pointer,
                    f"a {num(s)} % spike over {num(load.rps)} rps is not absorbed before the autoscaler reacts: at "
                    f"{_pct(u)} target utilisation the spare share is {num(100 - exact(u))} % "
                    f"(target x (1 + spike) = {product:.2f} > 1)",
                    fix=f"lower {plan.utilization_name} to at most {max_target_for_spike(s)}, or raise "
                    f"{plan.minimum_name} to at least {peak_need}",
                    data={"spike_pct": s, "max_target": max_target_for_spike(s), "min_for_spike": peak_need})
    elif peak_need > plan.ceiling:
        if required_replicas(load.rps, load.latency_ms, 100, plan.concurrency) > plan.ceiling:
            return  # the steady load already does not fit: DEP003
        yield Issue(plan.ceiling_pointer, f"a {num(s)} % spike over {num(load.rps)} rps needs {peak_need} "
                    f"{plan.unit}; {plan.ceiling_name} is {plan.ceiling}",
                    fix=f"raise {plan.ceiling_name} to at least {peak_need}", data={"min_for_spike": peak_need})


# ==================================================================== inference configs and code


def _script_problems(path_shown: str, found: str | None, ctx: Context) -> str | None:
    if found is None:
        return None
    source = read_script(found, ctx)
    if source.problem is None:
        return None
    at = f" (line {source.line})" if source.line else ""
    problem = source.problem if source.problem.startswith(("cannot", "is ")) else "does not parse: " + source.problem
    return f"{path_shown} {problem}{at}"


@rule("DEP018", "scoring-script-unusable", ERROR, reads=[IC, V2, BATCH],
      summary="The entry/scoring script is missing, not a `.py` module, or does not parse")
def scoring_script_unusable(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Follows a v1 inference config's `entryScript` (relative to `sourceDirectory`) or a v2
    online or batch deployment's `code_configuration.scoring_script` (relative to `code`, itself relative to
    the YAML file) and checks that the script is named, exists, is an importable `.py` module
    name, and parses with Python's `ast` (it is never imported or run). For v1, where the CLI
    resolves paths against the folder it runs in, the config's folder, its parents up to the
    repository root and the current folder are searched. A script outside the repository is
    never read: a warning says it is not checked.

    ## Why it matters
    `InferenceConfig` rejects a missing, non-`.py` or unparseable script; v2 uploads the code
    and the container then fails to start (CrashLoopBackOff) long after the command returned.

    ## Example
    ```yaml
    code_configuration:
      code: ../src
      scoring_script: score.py     # DEP018 when ../src/score.py does not exist
    ```

    ## How to fix
    Point the config at the script as the message shows, or fix the syntax error it names.
    """
    if doc.kind == IC:
        ic = V1Inference.of(doc)
        f = ic.field("entryScript")
        if not f.given:
            yield Issue(f.pointer if f.present else "", "entryScript is missing: InferenceConfig needs the scoring "
                        "script", fix="add entryScript: score.py (relative to sourceDirectory)")
            return
        if not isinstance(f.value, str) or is_placeholder(f.value):
            return  # DEP006, or filled in by a pipeline
        entry = f.value
        stem, ext = os.path.splitext(os.path.basename(entry))
        if ext != ".py":
            yield Issue(f.pointer, f"entryScript {show(entry)} is not a .py file: only Python scoring scripts are "
                        "supported", fix="point entryScript at the .py scoring script")
            return
        if not stem.isidentifier() or keyword.iskeyword(stem):
            suggestion = re.sub(r"\W", "_", stem)
            yield Issue(f.pointer, f"entryScript {show(entry)}: '{stem}' is not an importable module name (letters, "
                        "digits and '_', not starting with a digit)", fix=f"rename it, e.g. {suggestion}.py")
        source = ic.string("sourceDirectory")
        if source and not ic.source_directories():
            return  # DEP021 reports the folder
        found = ic.find(entry)
        if found is None and ic.outside(entry):
            yield _outside(f.pointer, f"entryScript {show(entry)}")
            return
        if found is None:
            where = f" under sourceDirectory {show(source)}" if source else ""
            yield Issue(f.pointer, f"entryScript {show(entry)} was not found{where} (searched from the config's "
                        "folder, its parents and the current folder)", fix="fix the path, or sourceDirectory")
            return
        problem = _script_problems(f"entryScript {show(entry)}", found, ctx)
        if problem:
            yield Issue(f.pointer, problem, fix="fix the script: the scoring container imports it at start")
        return
    dep = OnlineDeployment.of(doc)
    code = dep.field("code_configuration")
    if not isinstance(code.value, dict):
        return
    script_f = dep.field("code_configuration", "scoring_script")
    if not script_f.given:
        yield Issue(code.pointer, "code_configuration has no scoring_script: the deployment cannot load the model "
                    "code", fix="add scoring_script: score.py (relative to code)")
        return
    if not isinstance(script_f.value, str) or is_placeholder(script_f.value):
        return
    if not script_f.value.endswith(".py"):
        yield Issue(script_f.pointer, f"scoring_script {show(script_f.value)} is not a .py file",
                    fix="point scoring_script at the .py scoring script")
        return
    folder = dep.code_directory()
    if folder is None or not fs.isdir(folder):
        return  # a code asset id, or a missing folder (DEP021)
    path = dep.scoring_script()
    if path is None and leaves_repository(script_f.value, folder):
        yield _outside(script_f.pointer, f"scoring_script {show(script_f.value)}")
        return
    if path is None or not fs.isfile(path):
        yield Issue(script_f.pointer, f"scoring_script {show(script_f.value)} does not exist in code folder "
                    f"{show(dep.field('code_configuration', 'code').value)}", fix="fix scoring_script or code")
        return
    problem = _script_problems(f"scoring_script {show(script_f.value)}", path, ctx)
    if problem:
        yield Issue(script_f.pointer, problem, fix="fix the script: the scoring container imports it at start")


@rule("DEP019", "inference-environment-conflict", ERROR, reads=IC,
      summary="An inference config's `environment` next to the keys it replaces")
def inference_environment_conflict(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags a v1 inference config that has an `environment` and also `runtime`, `condaFile`,
    `extraDockerfileSteps`, `enableGpu`, `cudaVersion` or `baseImage`, and an environment
    whose `docker` section has both `baseDockerfile` and `baseImage`.

    ## Why it matters
    `InferenceConfig` rejects both ("unable to provide runtime, conda_file, ... along with
    an environment object"; "only one of base_dockerfile or base_image").

    ## Example
    ```json
    {"entryScript": "score.py", "runtime": "python", "environment": {"name": "scoring-env"}}
    ```

    ## How to fix
    Keep the environment and move the other settings into it (`python.condaDependencies`,
    `docker.baseImage`), or drop the environment.
    """
    ic = V1Inference.of(doc)
    env = ic.field("environment")
    if not env.value or not isinstance(env.value, dict):
        return
    for key in ENVIRONMENT_EXCLUSIVE:
        f = ic.field(key)
        if f.value:
            yield Issue(f.pointer, f"{key} cannot be used with environment: InferenceConfig rejects the file",
                        fix=f"remove {key} and set it inside the environment")
    docker = env.value.get("docker")
    if isinstance(docker, dict) and docker.get("baseDockerfile") and docker.get("baseImage"):
        yield Issue(env.pointer + "/docker/baseDockerfile", "environment.docker has both baseDockerfile and "
                    "baseImage: InferenceConfig accepts only one", fix="keep one of baseDockerfile or baseImage")


@rule("DEP020", "deprecated-setting", INFO, reads=[IC, V2],
      summary="A deprecated inference-config key, or `max_queue_wait_ms` on a managed deployment")
def deprecated_setting(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Points out v1 inference-config keys the SDK deprecates (`runtime`, `condaFile`,
    `extraDockerfileSteps`, `enableGpu`, `cudaVersion`, `baseImage`, `baseImageRegistry`) and
    `request_settings.max_queue_wait_ms` on a v2 managed deployment.

    ## Why it matters
    They still work today but will be removed; the managed queue wait is ignored in favour of
    the request timeout.

    ## Example
    ```yaml
    entryScript: score.py
    runtime: python          # DEP020
    condaFile: env.yml       # DEP020
    ```

    ## How to fix
    Describe the image with an `environment` (v1), and raise `request_timeout_ms` instead of
    the queue wait (v2).
    """
    if doc.kind == IC:
        ic = V1Inference.of(doc)
        for key in DEPRECATED_INFERENCE_KEYS:
            f = ic.field(key)
            if f.value:
                yield Issue(f.pointer, f"{key} is deprecated: InferenceConfig warns and will drop it",
                            fix="describe the image with an environment (a registered one, or python/docker settings)")
        return
    dep = OnlineDeployment.of(doc)
    f = dep.field("request_settings", "max_queue_wait_ms")
    if dep.compute == MANAGED and f.given:
        yield Issue(f.pointer, "request_settings.max_queue_wait_ms is deprecated for managed online deployments",
                    fix="remove it and raise request_settings.request_timeout_ms instead")


@rule("DEP021", "referenced-path-missing", ERROR, reads=[V1, IC, V2, BATCH, ENV2],
      summary="A file or folder the deploy config refers to does not exist")
def referenced_path_missing(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks the local paths a deploy config refers to: a v1 inference config's
    `sourceDirectory`, `condaFile` and `extraDockerfileSteps`; an ACI deploy config's
    `sslCertificate` and `sslKey` (with `sslEnabled`); a v2 online or batch deployment's
    `code_configuration.code`, `environment.conda_file`, `environment.build.path` and
    `model.path`, and an environment file's `conda_file` and `build.path`. A Docker build
    context that exists must hold its Dockerfile (`build.dockerfile_path`, `Dockerfile` by
    default, relative to the context). v2 paths are
    relative to the YAML file; v1 paths to the folder the CLI runs in, so the config's folder,
    its parents up to the repository root and the current folder are all tried. A path that
    leaves the repository (absolute, or climbing out of it, or through a symlink) is never
    looked at: it is reported as a warning that it is not checked.

    ## Why it matters
    The CLI fails at upload time, or (v1) after validating everything else. A build context
    without its Dockerfile is uploaded, and the image build fails in the workspace.

    ## Example
    ```yaml
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04
      conda_file: envs/conda.yml     # DEP021 when envs/conda.yml is missing
    ```

    ## How to fix
    Fix the path (v2: relative to the YAML file), or add the file.
    """
    if doc.kind == V1:
        dc = V1Deploy.of(doc)
        if dc.compute_type != ACI or not dc.field("sslEnabled").value:
            return
        for key in ("sslCertificate", "sslKey"):
            f = dc.field(key)
            if isinstance(f.value, str) and f.value and leaves_repository(f.value, doc.directory):
                yield _outside(f.pointer, f"{key} {show(f.value)}")
            elif isinstance(f.value, str) and f.value and not _found_v1(doc, f.value):
                yield Issue(f.pointer, f"{key} {show(f.value)} was not found (searched from the config's folder, its "
                            "parents and the current folder): the SDK rejects the file", fix=f"fix the {key} path")
        return
    if doc.kind == IC:
        ic = V1Inference.of(doc)
        source = ic.field("sourceDirectory")
        if isinstance(source.value, str) and source.value and not is_placeholder(source.value) and ic.outside():
            yield _outside(source.pointer, f"sourceDirectory {show(source.value)}")
            return
        if isinstance(source.value, str) and source.value and not is_placeholder(source.value) \
                and not ic.source_directories():
            yield Issue(source.pointer, f"sourceDirectory {show(source.value)} was not found (searched from the "
                        "config's folder, its parents and the current folder)", fix="fix sourceDirectory")
            return
        for key in ("condaFile", "extraDockerfileSteps"):
            f = ic.field(key)
            if not isinstance(f.value, str) or not f.value or is_placeholder(f.value):
                continue
            if ic.find(f.value) is None and ic.outside(f.value):
                yield _outside(f.pointer, f"{key} {show(f.value)}")
            elif ic.find(f.value) is None:
                yield Issue(f.pointer, f"{key} {show(f.value)} was not found under sourceDirectory "
                            f"{show(source.value) if source.given else '(the working directory)'}",
                            fix=f"fix the {key} path (it is relative to sourceDirectory)")
        return
    dep = OnlineDeployment.of(doc)
    if doc.kind == ENV2:
        checks: tuple[tuple[str, ...], ...] = (("conda_file",), ("build", "path"))
    else:
        checks = (("code_configuration", "code"), ("environment", "conda_file"), ("environment", "build", "path"),
                  ("model", "path"))
    for path in checks:
        f = dep.field(*path)
        if not is_local_path(f.value) or (path[-1] == "path" and f.value.startswith(("http:", "https:", "git"))):
            continue
        target = fs.confine(f.value, doc.directory)
        if target is None:
            yield _outside(f.pointer, f"{f.name} {show(f.value)}")
        elif not fs.exists(target):
            yield Issue(f.pointer, f"{f.name} {show(f.value)} does not exist (paths are relative to the YAML file's "
                        "folder)", fix=f"fix {f.name}")
        elif path[-2:] == ("build", "path") and fs.isdir(target):
            yield from _dockerfile_missing(dep.field(*path[:-1], "dockerfile_path"), f, target, doc)


def _dockerfile_missing(dockerfile: Field, context: Field, folder: str, doc: Document) -> Iterator[Issue]:
    """The Dockerfile of a build context that exists: `dockerfile_path` relative to the context."""
    declared = dockerfile.value if dockerfile.given else "Dockerfile"
    if not isinstance(declared, str) or not is_local_path(declared):
        return  # a wrong type is DEP006's; a placeholder is filled in later
    target = fs.confine(declared, folder, doc.directory)
    pointer = dockerfile.pointer if dockerfile.given else context.pointer
    if target is None:
        yield _outside(pointer, f"{dockerfile.name} {show(declared)}")
    elif not fs.isfile(target):
        what = f"{dockerfile.name} {show(declared)}" if dockerfile.given else "the default Dockerfile"
        yield Issue(pointer, f"{what} is not in the build context {show(context.value)} (dockerfile_path is "
                    "relative to build.path): the image build fails",
                    fix=f"add {os.path.join(context.value, declared)}, or set {dockerfile.name} to the Dockerfile's "
                    "path inside the context", data={"dockerfile": declared})


def _found_v1(doc: Document, path: str) -> bool:
    return any(target is not None and fs.exists(target)
               for target in (fs.confine(path, base, doc.directory) for base in resolution_bases(doc.directory)))


def _outside(pointer: str, what: str) -> Issue:
    """A path the config names that leaves the repository: never looked at, so not checked."""
    return Issue(pointer, f"{what} is outside the repository: preflight does not follow it, so it is not checked",
                 fix="keep the files a deploy config needs inside the repository, named by relative paths",
                 severity=WARNING, data={"status": "outside the repository"})


# ==================================================================== v2 online deployments


@rule("DEP022", "managed-scale-type", ERROR, reads=[V2, ARM],
      summary="A managed online deployment with a scale type other than `default`")
def managed_scale_type(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags `scale_settings.type` other than `default` on a managed online deployment (in ARM
    templates: `scaleSettings.scaleType` other than `Default` with `endpointComputeType: Managed`).

    ## Why it matters
    Managed deployments support only a fixed `instance_count`; azure-ai-ml rejects the file
    ("ManagedOnlineEndpoint supports DefaultScaleSettings only"). Target-utilisation scaling
    exists only on Kubernetes.

    ## Example
    ```yaml
    instance_type: Standard_DS3_v2
    scale_settings:
      type: target_utilization      # DEP022
    ```

    ## How to fix
    Remove `scale_settings` (or set `type: default`) and autoscale a managed deployment with
    Azure Monitor autoscale rules (`Microsoft.Insights/autoscalesettings`).
    """
    if doc.kind == ARM:
        yield from _arm_issues(doc, ctx, ARM_ONLINE_DEPLOYMENT, _arm_scale_type)
        return
    dep = OnlineDeployment.of(doc)
    f = dep.field("scale_settings", "type")
    if dep.compute == MANAGED and f.given and dep.scale_type != "default":
        yield Issue(f.pointer, f"scale_settings.type is {show(f.value)}: managed online deployments support only "
                    "the default (fixed instance_count) scale type", fix="remove scale_settings and autoscale with "
                    "Azure Monitor autoscale settings, or deploy to Kubernetes")


def _arm_scale_type(res: ArmResource):
    scale = res.at("properties/scaleSettings/scaleType")
    if _arm_compute(res) == "managed" and isinstance(scale.value, str) and scale.value.lower() != "default":
        yield (scale.pointer, f"{_arm_label(res)}: scaleSettings.scaleType is {show(scale.value)}: managed online "
               "deployments support only Default (a fixed sku.capacity)", "set scaleType: Default and autoscale with "
               "a Microsoft.Insights/autoscalesettings resource", None)


@rule("DEP023", "instance-count-invalid", ERROR, reads=[V2, ARM],
      summary="A v2 deployment without a valid `instance_count` where it needs one")
def instance_count_invalid(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks `instance_count`: required and at least 1 on a managed deployment, and on a
    Kubernetes deployment with the `default` scale type (in ARM templates: `sku.capacity` of a
    managed online deployment, when set).

    ## Why it matters
    azure-ai-ml accepts `instance_count: 0` and a missing count (it checks no ranges); the service then
    refuses the deployment, or creates one that serves nothing.

    ## Example
    ```yaml
    instance_type: Standard_DS3_v2
    instance_count: 0          # DEP023
    ```

    ## How to fix
    Set `instance_count` to 1 or more (3 or more for production, see DEP024).
    """
    if doc.kind == ARM:
        yield from _arm_issues(doc, ctx, ARM_ONLINE_DEPLOYMENT, _arm_capacity)
        return
    dep = OnlineDeployment.of(doc)
    needs = dep.compute == MANAGED or dep.scale_type == "default"
    if not needs:
        return
    iv = dep.int("instance_count")
    if not iv.field.given:
        yield Issue("", f"instance_count is missing: a {dep.compute} deployment"
                    f"{' with the default scale type' if dep.compute == KUBERNETES else ''} needs it",
                    fix="add instance_count: 3")
    elif iv.value is not None and iv.value < 1:
        yield Issue(iv.field.pointer, f"instance_count is {iv.value}: it must be at least 1",
                    fix="set instance_count: 3")


def _arm_capacity(res: ArmResource):
    capacity, v = _arm_number(res, "sku/capacity")
    if _arm_compute(res) == "managed" and capacity is not None and capacity < 1:
        yield v.pointer, f"{_arm_label(res)}: sku.capacity is {show(capacity)}: it must be at least 1", \
            "set sku.capacity (the instance count) to 3", None


@rule("DEP024", "high-availability-instances", WARNING, reads=V2,
      summary="A managed online deployment with fewer than 3 instances")
def high_availability_instances(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags a managed online deployment whose `instance_count` is below 3 (the threshold is
    `[deploy] ha-min-instances` in the configuration; 0 turns the rule off).

    ## Why it matters
    "For high availability, Microsoft recommends you set it to at least 3" (the managed
    deployment YAML reference): with fewer, a node upgrade or a failed instance leaves the
    endpoint without capacity.

    ## Example
    ```yaml
    instance_type: Standard_DS3_v2
    instance_count: 1          # DEP024
    ```

    ## How to fix
    Set `instance_count: 3` for production deployments; development deployments can ignore
    the rule per path.
    """
    dep = OnlineDeployment.of(doc)
    threshold = settings_of(doc, ctx.options).ha_min_instances
    iv = dep.int("instance_count")
    if dep.compute == MANAGED and threshold and iv.value is not None and 1 <= iv.value < threshold:
        yield Issue(iv.field.pointer, f"instance_count is {iv.value}: Microsoft recommends at least {threshold} "
                    "instances for high availability; an upgrade or a failed instance takes capacity away",
                    fix=f"set instance_count: {threshold} for production", data={"threshold": threshold})


@rule("DEP025", "concurrency-exceeds-workers", WARNING, reads=V2,
      summary="`max_concurrent_requests_per_instance` above the scoring server's `WORKER_COUNT`")
def concurrency_exceeds_workers(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags `request_settings.max_concurrent_requests_per_instance` above 1 when
    `environment_variables.WORKER_COUNT` is missing (one worker) or smaller. Custom containers
    (an environment with `inference_config` routes) are skipped: they do not run the Azure ML
    inference server.

    ## Why it matters
    The front end sends that many requests at once to each instance, but the inference
    server handles `WORKER_COUNT` at a time: the rest wait inside the container and time
    out, while the autoscaler sees nothing queued. The docs ask for the two to match.

    ## Example
    ```yaml
    request_settings:
      max_concurrent_requests_per_instance: 4    # DEP025: WORKER_COUNT is not set
    ```

    ## How to fix
    Set `environment_variables: {WORKER_COUNT: "4"}` to match, or lower the concurrency.
    """
    dep = OnlineDeployment.of(doc)
    conc = dep.int("request_settings", "max_concurrent_requests_per_instance")
    if conc.value is None or conc.value <= 1:
        return
    env = dep.environment().value
    if isinstance(env, dict) and env.get("inference_config"):
        return
    workers, workers_f = dep.worker_count()
    if workers_f.given and workers is None:
        return  # not a number: nothing to compare
    if workers is None or workers < conc.value:
        have = f"WORKER_COUNT is {workers}" if workers is not None else "WORKER_COUNT is not set (1 worker)"
        yield Issue(conc.field.pointer, f"max_concurrent_requests_per_instance is {conc.value} but {have}: requests "
                    "beyond the workers wait inside the container and time out",
                    fix=f'set environment_variables.WORKER_COUNT: "{conc.value}", or lower the concurrency')


@rule("DEP026", "environment-is-conda-file", ERROR, reads=V2,
      summary="A conda file pasted as a v2 deployment's inline `environment`")
def environment_is_conda_file(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags an inline `environment` that has `dependencies` or `channels`: the keys of a conda
    file, not of an Azure ML environment.

    ## Why it matters
    The environment schema rejects them (azure-ai-ml's `EnvironmentSchema`); the conda packages
    are not installed.

    ## Example
    ```yaml
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04
      dependencies:              # DEP026
        - python=3.10
    ```

    ## How to fix
    Move the conda content to a file (or under `conda_file:`), and keep `image` beside it:
    `environment: {image: ..., conda_file: conda.yml}`.
    """
    env = OnlineDeployment.of(doc).environment()
    if not isinstance(env.value, dict):
        return
    keys = [k for k in env.value if k in ("dependencies", "channels")]  # in file order
    if keys:
        yield Issue(f"{env.pointer}/{keys[0]}", f"environment has {' and '.join(keys)}: those belong to a conda file, "
                    "and the environment schema rejects them", fix="move them under environment.conda_file "
                    "(a path to a conda file, or the conda content as a mapping)")


@rule("DEP027", "environment-image-conflict", ERROR, reads=V2,
      summary="An inline v2 environment with neither or both of `image` and `build`")
def environment_image_conflict(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks that an inline `environment` names exactly one way to get the container image:
    `image` (a base image, optionally with `conda_file`) or `build` (a Docker build context).

    ## Why it matters
    An environment with neither cannot be built; with both, the schema rejects it.

    ## Example
    ```yaml
    environment:
      conda_file: conda.yml      # DEP027: no image
    ```

    ## How to fix
    Add `image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest` (or another
    inference base image), or use `build` alone.
    """
    env = OnlineDeployment.of(doc).environment()
    if not isinstance(env.value, dict):
        return
    image, build = env.value.get("image"), env.value.get("build")
    if not image and not build:
        yield Issue(env.pointer, "the inline environment has neither image nor build: there is no container image "
                    "to run", fix="add image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest, or build: "
                    "{path: <docker context>}")
    elif image and build:
        yield Issue(f"{env.pointer}/build", "the inline environment has both image and build: the schema accepts one",
                    fix="keep image (with conda_file) or build, not both")


# ==================================================================== ARM autoscale settings

AUTOSCALE_MAX_PROFILES = 20
COOLDOWN_RANGE = (60, 7 * 24 * 3600)  # PT1M .. P1W
TIME_GRAIN_RANGE = (60, 12 * 3600)  # PT1M .. PT12H


def _whole(value) -> int | None:
    """Autoscale capacities are strings in the schema ("1"); ints are accepted too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


@rule("DEP028", "autoscale-settings-invalid", ERROR, reads=ARM,
      summary="A `Microsoft.Insights/autoscalesettings` resource that is off or out of range")
def autoscale_settings_invalid(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks the Azure Monitor autoscale settings an ARM template deploys (how managed online
    deployments autoscale), evaluated with the template's parameters: `properties.enabled`
    missing (a warning: it defaults to false), more than 20 `profiles`, a profile's `capacity`
    whose `minimum`, `default` and `maximum` are not whole numbers with minimum <= default <=
    maximum, a rule's `scaleAction.cooldown` outside PT1M-P1W and `metricTrigger.timeGrain`
    outside PT1M-PT12H.

    ## Why it matters
    These are the limits of the `Microsoft.Insights/autoscalesettings` resource schema; a setting
    created disabled never
    scales, and the others fail the deployment after everything before it has run.

    ## Example
    ```json
    {"type": "Microsoft.Insights/autoscalesettings",
     "properties": {"enabled": true, "targetResourceUri": "...",
                    "profiles": [{"name": "default",
                                  "capacity": {"minimum": "5", "maximum": "2", "default": "3"}}]}}
    ```

    ## How to fix
    Set `"enabled": true`, keep minimum <= default <= maximum, and use durations within the
    ranges above.
    """
    yield from _arm_issues(doc, ctx, ARM_AUTOSCALE, _autoscale_problems)


def _autoscale_problems(res: ArmResource):
    label = f"autoscale setting '{res.name}'"
    enabled = res.at("properties/enabled")
    if enabled.known and not enabled.present:
        yield (res.at("properties").pointer, f"{label} has no properties.enabled, which defaults to false: it never "
               "scales",
               'add "enabled": true', WARNING)
    profiles = res.at("properties/profiles")
    if not isinstance(profiles.value, list):
        return
    if len(profiles.value) > AUTOSCALE_MAX_PROFILES:
        yield (profiles.pointer, f"{label} has {len(profiles.value)} profiles: at most {AUTOSCALE_MAX_PROFILES} are "
               "allowed", "merge profiles", None)
    for i, profile in enumerate(profiles.value):
        name = profile.get("name") if isinstance(profile, dict) else None
        where = f"{label}, profile {show(name) if isinstance(name, str) else i}"
        bounds = {}
        for key in ("minimum", "default", "maximum"):
            v = res.at(f"properties/profiles/{i}/capacity/{key}")
            if not v.known or not v.present:
                continue
            number = _whole(v.value)
            if number is None:
                yield (v.pointer, f"{where}: capacity.{key} is {show(v.value)}: a whole number is expected",
                       f'write capacity.{key} as a whole number, e.g. "2"', None)
            else:
                bounds[key] = (number, v.pointer)
        low, default, high = (bounds.get(k, (None, ""))[0] for k in ("minimum", "default", "maximum"))
        if low is not None and high is not None and low > high:
            yield (bounds["minimum"][1], f"{where}: capacity minimum {low} is above maximum {high}",
                   "make minimum <= default <= maximum", None)
        elif default is not None and ((low is not None and default < low) or (high is not None and default > high)):
            yield (bounds["default"][1], f"{where}: capacity default {default} is outside minimum {low} .. maximum "
                   f"{high}", "make minimum <= default <= maximum", None)
        rules = res.at(f"properties/profiles/{i}/rules")
        if not isinstance(rules.value, list):
            continue
        for j in range(len(rules.value)):
            for path, (lo, hi), text in (("scaleAction/cooldown", COOLDOWN_RANGE, "PT1M and P1W"),
                                         ("metricTrigger/timeGrain", TIME_GRAIN_RANGE, "PT1M and PT12H")):
                v = res.at(f"properties/profiles/{i}/rules/{j}/{path}")
                if not v.known or not isinstance(v.value, str):
                    continue
                seconds = iso_seconds(v.value)
                if seconds is None or not lo <= seconds <= hi:
                    key = path.replace("/", ".")
                    yield (v.pointer, f"{where}, rule {j}: {key} {show(v.value)} is not a duration between {text}",
                           f"set {key} between {text}", None)


# ==================================================================== v2 schema and endpoints


# Keys `az ml <command> create -f FILE` also takes from its command line: a file may leave them
# out (one file for several deployments or workspaces, chosen by the pipeline). `--set KEY=VALUE`
# could set any key; these are the per-run choices rather than the deployment's own settings:
# its name, its endpoint, and the cluster a batch deployment runs on (the only `compute` the
# schema requires).
_CLI_SUPPLIED = {"name": "--name", "endpoint_name": "--endpoint-name", "compute": "--set compute=azureml:<cluster>"}


def _create_command(doc: Document) -> str:
    if doc.kind == V2:
        return "online-deployment"
    if doc.kind == BATCH:
        return "batch-deployment"
    if doc.kind == ENDPOINT:
        data = doc.data if isinstance(doc.data, dict) else {}
        return "batch-endpoint" if v2schema.endpoint_is_batch(data) else "online-endpoint"
    return "environment"


@rule("DEP029", "required-key-missing", ERROR, reads=V2_FILES,
      summary="A v2 file without a key azure-ai-ml requires (`name`, `instance_type`, `scale_settings.type`, ...)")
def required_key_missing(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Reports keys the azure-ai-ml schema requires and the file lacks: a deployment's `name` and
    `endpoint_name`, a managed deployment's `instance_type`, `scale_settings.type`, the routes
    of an environment's `inference_config`, an endpoint's or environment's `name`; and a
    `code_configuration` without `code` (the CLI fails reading it). A missing `name`,
    `endpoint_name` or batch deployment `compute` is only information: `az ml ... create -f FILE
    --name x --endpoint-name y --set compute=azureml:cluster` supplies them from the command line.

    ## Why it matters
    `az ml ... create -f` stops with "Missing data for required field". A managed deployment
    is any deployment whose `type` is not exactly `kubernetes`: `type: Kubernetes` or a
    Kubernetes `$schema` alone still loads as managed and needs `instance_type`.

    ## Example
    ```yaml
    name: blue
    endpoint_name: my-endpoint
    type: Kubernetes          # loads as managed (only `kubernetes` selects Kubernetes)
    instance_count: 1         # DEP029: instance_type is missing
    ```

    ## How to fix
    Add the key the message names (or write `type: kubernetes` in lower case).
    """
    for problem in v2_problems(doc, "required"):
        option = _CLI_SUPPLIED.get(problem.name) if len(problem.path) == 1 else None
        if option is not None:
            command = f"az ml {_create_command(doc)} create"
            yield Issue(problem.pointer, f"{problem.name} is not in the file: give it as {option} to `{command}`",
                        fix=f"pass {option} to `{command}`, or add {problem.name} to the file", severity=INFO,
                        data={"key": problem.name})
            continue
        fix = problem.fix
        data = doc.data if isinstance(doc.data, dict) else {}
        if problem.path == ("instance_type",) and isinstance(data.get("type"), str) \
                and data["type"] != "kubernetes" and data["type"].lower() == "kubernetes":
            fix = "write type: kubernetes in lower case (only that spelling selects the Kubernetes schema)"
        yield Issue(problem.pointer, problem.message, fix=fix, data={"key": problem.name})
    if doc.kind in (V2, BATCH):
        code = doc.get("/code_configuration")
        if isinstance(code, dict) and "code" not in code and code.get("scoring_script") is not None:
            yield Issue("/code_configuration", "code_configuration has scoring_script but no code: az ml fails "
                        "reading it", fix="add code: <folder of the scoring script> (relative to this file)")


V1_END_OF_SUPPORT = "2026-06-30"


@rule("DEP030", "v1-deployment-end-of-support", WARNING, reads=[V1, IC],
      summary="A v1 deploy or inference config: SDK v1 deployment is out of support since 2026-06-30")
def v1_end_of_support(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Reports each v1 deploy configuration and inference configuration once, with the v2 files
    it maps to.

    ## Why it matters
    Azure ML SDK v1 (`azureml-core`) is out of support since 2026-06-30 and CLI v1 since
    2025-09-30: `az ml model deploy` and ACI/AKS web services get no fixes, and new
    deployments go to v2 managed or Kubernetes online endpoints.

    ## Example
    ```json
    {"computeType": "AKS", "autoScaler": {"autoscaleEnabled": true}}
    ```

    ## How to fix
    Write a v2 online deployment (and endpoint) YAML: an ACI web service becomes a managed
    online deployment (`type: managed`, `instance_type`, `instance_count`), an AKS one a
    Kubernetes (`type: kubernetes`) or managed one, a local one a local deployment
    (`az ml online-deployment create --local`). `autoScaler` becomes `scale_settings`
    (`type: target_utilization` on Kubernetes), `containerResourceRequirements` becomes
    `instance_type` (managed) or `resources` (Kubernetes), `entryScript` + `sourceDirectory`
    become `code_configuration` (`scoring_script`, `code`), and `condaFile` becomes
    `environment.conda_file` (next to `environment.image`) with
    `azureml-inference-server-http` instead of `azureml-defaults`.
    """
    if doc.kind == IC:
        yield Issue("", f"v1 inference config: SDK v1 deployment is out of support since {V1_END_OF_SUPPORT}",
                    fix="move to a v2 online deployment YAML (`preflight rule DEP030` maps the keys)")
        return
    dc = V1Deploy.of(doc)
    target = {ACI: "a managed online deployment", LOCAL: "a local v2 deployment (`--local`)"}.get(
        dc.compute_type or "", "a Kubernetes or managed online deployment")
    yield Issue("/computeType" if "computeType" in dc.data else "",
                f"v1 deploy config: SDK v1 deployment is out of support since {V1_END_OF_SUPPORT}",
                fix=f"move this web service to {target} (`preflight rule DEP030` maps the keys)")


def _deployment_names(ctx: Context, endpoint: str) -> set[str]:
    """Names of the scanned v2 deployments of an endpoint."""
    names = set()
    for dep in ctx.documents_of(V2, BATCH):
        data = dep.data if isinstance(dep.data, dict) else {}
        if data.get("endpoint_name") == endpoint and isinstance(data.get("name"), str):
            names.add(data["name"])
    return names


@rule("DEP031", "endpoint-traffic-invalid", ERROR, reads=ENDPOINT,
      summary="An endpoint's traffic or mirror traffic that cannot be applied, or an auth mode of the other kind")
def endpoint_traffic_invalid(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks a v2 endpoint: `traffic` names deployments of this endpoint found among the
    scanned files (when any are) and, when its percentages are not all 0, sums to 100;
    `mirror_traffic` names one deployment, at most 50 %, that takes no live traffic; and
    `auth_mode` is one the endpoint kind supports (online: key, aml_token, aad_token; batch:
    aad_token).

    ## Why it matters
    azure-ai-ml only refuses a sum above 100; the service refuses traffic to a deployment
    that does not exist, live traffic that does not add up to 100, mirroring above 50 % or
    to a live deployment, and key or AML-token auth on a batch endpoint.

    ## Example
    ```yaml
    name: my-endpoint
    traffic:
      blue: 90
      gren: 10        # DEP031: no deployment 'gren' (deployments: blue, green)
    ```

    ## How to fix
    Fix the deployment names and percentages (live traffic adds up to 100), mirror at most
    50 % to a deployment with no live traffic, and use `auth_mode: aad_token` on batch endpoints.
    """
    data = doc.data if isinstance(doc.data, dict) else {}
    batch = v2schema.endpoint_is_batch(data)
    auth = data.get("auth_mode")
    mode = v2schema.camel_to_snake(auth) if isinstance(auth, str) and auth else None
    if batch and mode in ("key", "aml_token"):
        yield Issue("/auth_mode", f"auth_mode {show(auth)}: batch endpoints support aad_token only",
                    fix="set auth_mode: aad_token")
    name = data.get("name")
    known = _deployment_names(ctx, name) if isinstance(name, str) else set()
    traffic = data.get("traffic")
    if not isinstance(traffic, dict):
        traffic = {}
    live = {k: v2schema.coerce_int(v) for k, v in traffic.items()}
    for key, share in live.items():
        if known and key not in known and share:
            guess = _did_you_mean(str(key), sorted(known))
            yield Issue(f"/traffic/{_escape(key)}", f"traffic names deployment '{key}', which is not among the "
                        f"scanned deployments of endpoint '{name}' ({', '.join(sorted(known))})",
                        fix=f"rename it to '{guess}'" if guess else "fix the deployment name, or remove it")
    shares = [v for v in live.values() if v is not None]
    if len(shares) == len(live) and shares and sum(shares) != 0 and sum(shares) != 100:
        yield Issue("/traffic", f"traffic sums to {sum(shares)} %: live traffic must add up to 100 %",
                    fix="adjust the percentages so they add up to 100 (or all 0)")
    mirror = data.get("mirror_traffic")
    if not isinstance(mirror, dict):
        mirror = {}
    if len(mirror) > 1:
        yield Issue("/mirror_traffic", f"mirror_traffic names {len(mirror)} deployments: an endpoint mirrors to one",
                    fix="keep one deployment in mirror_traffic")
    for key, value in mirror.items():
        share = v2schema.coerce_int(value)
        at = f"/mirror_traffic/{_escape(key)}"
        if share is not None and share > 50:
            yield Issue(at, f"mirror_traffic sends {share} % to '{key}': at most 50 % can be mirrored",
                        fix=f"set mirror_traffic.{key} to 50 or less")
        if share and live.get(key):
            yield Issue(at, f"mirror_traffic mirrors to '{key}', which also takes {live[key]} % of the live traffic",
                        fix="mirror to a deployment with no live traffic")
        elif share and known and key not in known:
            yield Issue(at, f"mirror_traffic names deployment '{key}', which is not among the scanned deployments of "
                        f"endpoint '{name}'", fix="fix the deployment name")
