"""Online deployments and autoscale settings in ARM templates, as the ARM engine
(preflight.arm) evaluates them: the DEP rules read values through these and never parse `[...]`."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..contract import Context
from ..documents import Document

if TYPE_CHECKING:
    from ..arm.deployments import DeployedResource


ARM_ONLINE_DEPLOYMENT = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
ARM_AUTOSCALE = "Microsoft.Insights/autoscalesettings"
_ISO_DURATION = re.compile(r"P(?:(\d{1,9}(?:\.\d{1,9})?)W)?(?:(\d{1,9}(?:\.\d{1,9})?)D)?"
                           r"(?:T(?:(\d{1,9}(?:\.\d{1,9})?)H)?(?:(\d{1,9}(?:\.\d{1,9})?)M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?",
                           re.I)


def iso_seconds(text: Any) -> Fraction | None:
    """An ISO-8601 duration (`PT1M`, `PT16M39.999S`, `P1W`) in seconds, or None."""
    if not isinstance(text, str):
        return None
    match = _ISO_DURATION.fullmatch(text.strip())
    if not match or not any(match.groups()) or text.strip().upper().endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (Fraction(Decimal(g)) if g else Fraction(0) for g in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class ArmValue:
    """A property of an evaluated ARM resource: its value when known, and where to report."""

    value: Any  # None when absent or not known
    pointer: str  # in the scanned document
    present: bool
    known: bool


class ArmResource:
    """One resource an ARM template deploys (under one parameter set), evaluated by the ARM
    engine (`preflight.arm`): the DEP rules read values through it and never parse `[...]`."""

    def __init__(self, resource: DeployedResource):
        self.resource = resource

    @property
    def certain(self) -> bool:
        """Deployed for sure; when a condition or count is unknown, findings are warnings."""
        return self.resource.deployed is True

    @property
    def name(self) -> str:
        name = self.resource.name
        return name if isinstance(name, str) else self.resource.name_text

    @property
    def where(self) -> str:
        label = self.resource.parameter_file
        return f" (parameters from {os.path.basename(label)})" if label else ""

    def at(self, path: str) -> ArmValue:
        from ..arm import ABSENT, is_known

        res = self.resource
        value = res.get(path)
        pointer = res.pointer_of(path) if res.local else res.anchor
        if value is ABSENT:
            return ArmValue(None, pointer, False, True)
        if not is_known(value):
            return ArmValue(None, pointer, True, False)
        return ArmValue(value, pointer, True, True)


def arm_resources(doc: Document, ctx: Context, resource_type: str) -> list[ArmResource]:
    """The resources of a type that the template may deploy (not the ones it surely does not)."""
    if doc.error is not None:
        return []
    from ..arm import deployed_resources

    return [ArmResource(r) for r in deployed_resources(doc, ctx, resource_type) if r.deployed is not False]
