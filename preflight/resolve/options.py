"""`preflight scan --resolve` options, parsed here so the CLI module stays small. Nothing here
imports the resolver."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .requirements import http_url

if TYPE_CHECKING:
    from .provider import ResolveProvider


class ResolveOptionError(ValueError):
    """A usage error in the resolve options (the CLI exits 2 with it)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("package resolution (extra 'resolve')")
    group.add_argument("--resolve", action="store_true",
                       help="resolve each environment's pip requirements (ENV020) and check the scoring "
                            "script's imports against them (SCR006); asks the package index")
    group.add_argument("--index-url", metavar="URL",
                       help="index for environments that name none (default: pip's configuration)")
    group.add_argument("--extra-index-url", action="append", default=[], metavar="URL",
                       help="extra index for environments that name none; repeatable")


def wants_resolve(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "resolve", False))


def provider_from_args(args: argparse.Namespace, cache_dir: str | None) -> "ResolveProvider":
    from .provider import ResolveProvider, ResolveSettings
    from .resolver import ResolverMissing, uv_binary

    for url in ([args.index_url] if args.index_url else []) + list(args.extra_index_url):
        if not http_url(url):
            raise ResolveOptionError(f"--index-url/--extra-index-url {url!r} is not an http(s) URL")
    try:
        uv_binary()
    except ResolverMissing as exc:
        raise ResolveOptionError(str(exc)) from None
    return ResolveProvider(ResolveSettings(args.index_url, list(args.extra_index_url), cache_dir))
