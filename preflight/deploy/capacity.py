"""The capacity arithmetic of the DEP rules: the replica formula of the v1 docs (*Deploy to
AKS*, autoscaling), the load a deployment's owner declares, and what bounds a v1 or v2
deployment's throughput (its scale plan), with where each number is set."""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .v1 import ACI, V1_DEFAULT_MAX_REPLICAS, V1_DEFAULT_TARGET_UTILIZATION, V1Deploy
from .v2 import KUBERNETES, OnlineDeployment
from .values import exact, num

# ------------------------------------------------------------------------ the formula


def required_replicas(rps: float, latency_ms: float, utilization_pct: float | Fraction, concurrency: float) -> int:
    """Replicas needed for a steady load, as the v1 docs compute it (*Deploy to AKS*, autoscaling):
    ceil(rps x latency / utilisation / concurrency). 20 rps at 10 s, 70 %, 1 request: 286."""
    in_flight = exact(rps) * exact(latency_ms) / 1000  # requests being served at any moment
    return math.ceil(in_flight / (exact(utilization_pct) / 100) / exact(concurrency))


def spike_absorbed(utilization_pct: float | Fraction, spike_pct: float) -> bool:
    """A sudden rise of `spike_pct` % is served by the spare replicas, before the autoscaler adds
    any, iff u x (1 + s) <= 1."""
    return exact(utilization_pct) / 100 * (1 + exact(spike_pct) / 100) <= 1


def max_target_for_spike(spike_pct: float) -> int:
    """The highest whole target utilisation (percent) that absorbs a spike of `spike_pct` %."""
    return math.floor(Fraction(100) / (1 + exact(spike_pct) / 100))


def replicas_for_spike(rps: float, latency_ms: float, spike_pct: float, concurrency: float) -> int:
    """Replicas that serve the spiking load at full utilisation: a floor that needs no scaling."""
    peak = exact(rps) * (1 + exact(spike_pct) / 100)
    return math.ceil(peak * exact(latency_ms) / 1000 / exact(concurrency))

# ------------------------------------------------------------------------ declared load


@dataclass(frozen=True)
class DeclaredLoad:
    """Traffic a deployment must serve, as its owner declared it."""

    rps: float
    latency_ms: float
    spike_pct: float | None = None
    origin: str = ""  # where it was declared, for messages

    def describe(self) -> str:
        return f"{num(self.rps)} rps at {num(self.latency_ms)} ms per request"


# ------------------------------------------------------------------------ scale plans


@dataclass(frozen=True)
class ScalePlan:
    """What bounds a deployment's throughput, with where each number is set, for DEP003/16/17.
    `utilization_pct` is 100 for a fixed replica count: the pool can at best be fully busy."""

    ceiling: int
    ceiling_name: str  # the key that sets it, e.g. "autoScaler.maxReplicas"
    ceiling_pointer: str
    ceiling_default: bool
    utilization_pct: Fraction | int
    utilization_name: str | None  # None for fixed counts
    concurrency: int
    concurrency_name: str
    minimum: int | None = None  # the autoscaler's floor
    minimum_name: str | None = None
    unit: str = "replicas"
    utilization_pointer: str = ""

    @property
    def autoscaled(self) -> bool:
        return self.utilization_name is not None


def v1_scale_plan(dc: V1Deploy) -> ScalePlan | None:
    """None when an input the formula needs is invalid (other rules report it)."""
    conc_f = dc.field("maxConcurrentRequestsPerContainer")
    if dc.compute_type == ACI:
        return ScalePlan(1, "computeType", "/computeType", False, 100, None, 1, "ACI", unit="containers")
    if not dc.is_aks():
        return None
    concurrency = dc.typed("maxConcurrentRequestsPerContainer") if conc_f.given else 1
    if concurrency is None or concurrency < 1:
        return None
    conc_name = "maxConcurrentRequestsPerContainer"
    replicas = dc.field("numReplicas")
    if replicas.given and dc.autoscale_enabled is not True:
        fixed = dc.typed("numReplicas")
        if fixed is None or fixed < 1:
            return None
        return ScalePlan(int(fixed), "numReplicas", replicas.pointer, False, 100, None, int(concurrency), conc_name)
    # Autoscaled: explicitly, by the service default, or as the autoScaler values intend (DEP004).
    max_f, target_f, min_f = (dc.field("autoScaler", k) for k in ("maxReplicas", "targetUtilization", "minReplicas"))
    ceiling = dc.typed("autoScaler", "maxReplicas") if max_f.given else V1_DEFAULT_MAX_REPLICAS
    target = dc.typed("autoScaler", "targetUtilization") if target_f.given else V1_DEFAULT_TARGET_UTILIZATION
    minimum = dc.typed("autoScaler", "minReplicas") if min_f.given else 1
    if ceiling is None or ceiling < 1 or target is None or not 1 < target <= 100 or minimum is None:
        return None
    return ScalePlan(int(ceiling), "autoScaler.maxReplicas", max_f.pointer if max_f.given else "/autoScaler",
                     not max_f.given, exact(target), "autoScaler.targetUtilization", int(concurrency), conc_name,
                     int(minimum), "autoScaler.minReplicas",
                     utilization_pointer=target_f.pointer if target_f.given else "/autoScaler")


def v2_scale_plan(dep: OnlineDeployment) -> ScalePlan | None:
    conc = dep.int("request_settings", "max_concurrent_requests_per_instance")
    concurrency = conc.value if conc.field.given else 1
    if concurrency is None or concurrency < 1:
        return None
    conc_name = "request_settings.max_concurrent_requests_per_instance"
    if dep.compute == KUBERNETES and dep.scale_type == "target_utilization":
        ceiling, max_f, max_default = dep.scale_value("max_instances")
        target, target_f, target_default = dep.scale_value("target_utilization_percentage")
        minimum, _, _ = dep.scale_value("min_instances")
        if ceiling is None or ceiling < 1 or target is None or not 1 < target <= 100 or minimum is None:
            return None
        return ScalePlan(ceiling, "scale_settings.max_instances", max_f.pointer if not max_default else
                         ("/scale_settings" if dep.field("scale_settings").present else ""), max_default,
                         target, "scale_settings.target_utilization_percentage", concurrency, conc_name,
                         minimum, "scale_settings.min_instances", unit="instances",
                         utilization_pointer=target_f.pointer if not target_default else "/scale_settings")
    if dep.scale_type != "default":
        return None
    count = dep.int("instance_count")
    if count.value is None or count.value < 1:
        return None
    return ScalePlan(count.value, "instance_count", count.field.pointer, False, 100, None, concurrency, conc_name,
                     unit="instances")
