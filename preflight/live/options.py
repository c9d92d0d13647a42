"""`preflight scan --live` options: parsed here so the CLI module stays small.

Nothing here imports the Azure SDK; `provider_from_args` only checks that it is installed.
"""
from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..contract import DeploymentTarget
from .segments import resource_group_problem, subscription_problem, vault_name_problem

if TYPE_CHECKING:  # the live modules load only for `--live`: a plain scan must not pay for them
    from .fetch import LiveSettings
    from .provider import LiveProvider


class LiveOptionError(ValueError):
    """A usage error in the live options (the CLI exits 2 with it)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("live Key Vault check (extra 'live')")
    group.add_argument("--live", action="store_true",
                       help="compare each Key Vault the templates deploy with the live vault")
    group.add_argument("--live-required", action="store_true",
                       help="an unreadable live vault (LIVE010) is an error, not a warning; implies --live")
    group.add_argument("--subscription", metavar="ID",
                       help="subscription of the deployment (default: AZURE_SUBSCRIPTION_ID)")
    group.add_argument("--resource-group", metavar="NAME", help="resource group the deployment targets")
    group.add_argument("--arm-endpoint", metavar="URL",
                       help="Azure Resource Manager endpoint (private clouds); token scope URL/.default")
    group.add_argument("--cloud", metavar="NAME",
                       help="sovereign cloud: AzureCloud (default), AzureChinaCloud, AzureUSGovernment")
    group.add_argument("--vault-name", action="append", default=[], metavar="TEMPLATE_NAME=LIVE_NAME",
                       help="live name of a vault whose name the template computes at deploy time; repeatable")
    group.add_argument("--live-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="limit for the whole live check (default 60)")


def wants_live(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "live", False) or getattr(args, "live_required", False))


def deployment_target(args: argparse.Namespace) -> DeploymentTarget:
    """The deployment target the template evaluator may use for `subscription()` and
    `resourceGroup()` (Options.deployment)."""
    subscription = (args.subscription or (os.environ.get("AZURE_SUBSCRIPTION_ID") if wants_live(args) else "")
                    or "").strip()
    group = (args.resource_group or "").strip()
    return DeploymentTarget(subscription=subscription or None, resource_group=group or None)


def parse_vault_names(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        template, sep, live = item.rpartition("=")
        template, live = template.strip(), live.strip()
        if not sep or not template or not live:
            raise LiveOptionError(f"--vault-name expects TEMPLATE_NAME=LIVE_NAME, got {item!r}")
        if vault_name_problem(live):
            raise LiveOptionError(f"--vault-name {item!r}: {live!r} is not a Key Vault name "
                                  f"({vault_name_problem(live)})")
        mapping[template] = live
    return mapping


def settings_from_args(args: argparse.Namespace) -> "LiveSettings":
    from .fetch import LiveSettings

    given = args.subscription if args.subscription is not None else os.environ.get("AZURE_SUBSCRIPTION_ID")
    subscription = (given or "").strip()
    if not subscription:
        raise LiveOptionError("--live needs the deployment's subscription: --subscription ID or AZURE_SUBSCRIPTION_ID")
    if subscription_problem(subscription):
        source = "--subscription" if args.subscription is not None else "AZURE_SUBSCRIPTION_ID"
        raise LiveOptionError(f"{source} {subscription!r} is not valid "
                              f"({subscription_problem(subscription)})")
    group = args.resource_group.strip() if args.resource_group is not None else None
    if group is not None and resource_group_problem(group):
        raise LiveOptionError(f"--resource-group {args.resource_group!r} is not valid "
                              f"({resource_group_problem(group)})")
    if not (0 < args.live_timeout <= 3600):
        raise LiveOptionError("--live-timeout must be a number of seconds between 0 and 3600")
    try:
        settings = LiveSettings.build(
            cloud=args.cloud, arm_endpoint=args.arm_endpoint,
            subscription_id=subscription,
            resource_group=group,
            vault_names=parse_vault_names(args.vault_name),
            required=bool(args.live_required),
            timeout=float(args.live_timeout),
        )
    except LiveOptionError:
        raise
    except ValueError as exc:
        raise LiveOptionError(str(exc)) from None
    settings.read_timeout = min(settings.read_timeout, settings.timeout)
    settings.connect_timeout = min(settings.connect_timeout, settings.timeout)
    return settings


def provider_from_args(args: argparse.Namespace) -> "LiveProvider":
    """The provider for `scan --live`; LiveOptionError when the extra is missing or an option is wrong."""
    from .fetch import LiveUnavailable, require_sdk
    from .provider import LiveProvider

    try:
        require_sdk()
    except LiveUnavailable as exc:
        raise LiveOptionError(str(exc)) from None
    return LiveProvider(settings_from_args(args))
