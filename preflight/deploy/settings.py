"""What a deploy config's own configuration says about it: `[deploy]` platform limits and
the `[[load]]` it must serve, or the load given on the command line (`Options.load`)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..contract import Options
from ..config import Config
from ..documents import Document
from .capacity import DeclaredLoad
from .values import is_number, is_whole


@dataclass(frozen=True)
class DeploySettings:
    """Platform limits that change over time (*Manage and increase quotas*): `[deploy]` in the configuration."""

    managed_max_request_timeout_ms: int = 180_000
    kubernetes_max_request_timeout_ms: int | None = None
    ha_min_instances: int = 3  # fewer managed instances than this: DEP024 (0 turns it off)


def settings_of(doc: Document, options: Options) -> DeploySettings:
    """`[deploy]` of the file's own configuration, else the defaults."""
    config = options.config_for(doc.path)
    values = config.get("deploy") if config is not None else None
    if not isinstance(values, dict):
        return DeploySettings()
    names = {"managed-max-request-timeout-ms": "managed_max_request_timeout_ms",
             "kubernetes-max-request-timeout-ms": "kubernetes_max_request_timeout_ms",
             "ha-min-instances": "ha_min_instances"}
    return DeploySettings(**{names[k]: v for k, v in values.items() if k in names and is_whole(v)})


def declared_load(doc: Document, options: Options) -> DeclaredLoad | None:
    """The load declared for this file: the command-line options win; else the first `[[load]]`
    entry of the file's configuration whose `path` glob matches it."""
    if options.load is not None:
        return options.load
    config: Config | None = options.config_for(doc.path)
    if config is None:
        return None
    for entry in config.matching("load", doc.path):
        rps = entry.get("rps")
        latency = entry.get("latency_ms", entry.get("latency-ms"))
        spike = entry.get("spike_pct", entry.get("spike-pct"))
        if is_number(rps) and rps > 0 and is_number(latency) and latency > 0:
            origin = f"{os.path.basename(config.path or 'configuration')} [[load]] '{entry.get('path')}'"
            return DeclaredLoad(rps, latency, spike if is_number(spike) and spike >= 0 else None, origin)
    return None
