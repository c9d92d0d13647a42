"""Registry and template-spec modules (`br:`, `br/<alias>:`, `ts:`, `ts/<alias>:`) read from
Bicep's local module cache, never from the network.

`bicep restore` (and every `bicep build`) leaves each module it fetched in the cache, laid out
as Bicep's own sources lay it out (src/Bicep.Core/SourceGraph/Artifacts/BicepRegistryArtifact.cs,
TemplateSpecModuleArtifact.cs, Registry/Oci/TagEncoder.cs, Features/FeatureProvider.cs):

  <root>/br/<registry, lower-case, ':' -> '$'>/<repository, '/' -> '$'>/<tag encoded | digest, ':' -> '#'>/main.json
  <root>/ts/<subscription>/<resource group>/<name>/<version>/main.json   (all lower-case)

where <root> is `cacheRootDirectory` of the nearest `bicepconfig.json` (a leading `~` is the
home folder), else `~/.bicep`; `PREFLIGHT_BICEP_CACHE` overrides both. An encoded tag is the tag,
`$`, and the hexadecimal mask of its upper-case letters (none: nothing), so `V1` is `V1$1` and
`0.1.0` is `0.1.0$`. A registry module's main.json is its compiled ARM template; a template
spec's is the template spec version resource, whose `properties.mainTemplate` is the template.

`bicepconfig.json` `moduleAliases` give the prefixes: `br/<alias>:` is `<registry>/<modulePath>/`
(`br/public` is built in as `mcr.microsoft.com/bicep`), `ts/<alias>:` is
`<subscription>/<resourceGroup>/`. Every part of a reference is checked against the syntax Bicep
accepts before it becomes part of a path, so no reference reaches outside the cache folder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .. import fs

CONFIG_NAME = "bicepconfig.json"
CACHE_ENV = "PREFLIGHT_BICEP_CACHE"
MAX_CONFIG_BYTES = 1024 * 1024
BUILT_IN_ALIASES = {"br": {"public": {"registry": "mcr.microsoft.com", "modulePath": "bicep"}}, "ts": {}}

# OCI distribution spec: repository path components and tags; Bicep's registry host check.
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                       r"(?::[0-9]{1,5})?$")
_SEGMENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
_SPEC_PART = re.compile(r"^[-\w._()]{1,90}$")


class BadReference(ValueError):
    """A module reference Bicep would refuse (the message says why)."""


@dataclass
class Config:
    """What preflight reads of the Bicep configuration that applies to a folder."""

    aliases: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {k: dict(v) for k, v in BUILT_IN_ALIASES.items()})
    cache_root: str = ""
    source: str | None = None  # the bicepconfig.json it came from


def is_registry_reference(path: str) -> bool:
    return path.startswith(("br:", "br/", "ts:", "ts/"))


def encode_tag(tag: str) -> str:
    """Bicep's TagEncoder: the tag, '$', then the mask of upper-case letters in hexadecimal
    (64-bit words, most significant first; words after the first non-zero one in 16 digits)."""
    words = [0] * ((len(tag) + 63) // 64 or 1)
    for i, ch in enumerate(tag):
        if ch.isupper():
            words[i // 64] |= 1 << (i % 64)
    out, leading = [tag, "$"], False
    for word in reversed(words):
        if word or leading:
            out.append(f"{word:016x}" if leading else f"{word:x}")
            leading = True
    return "".join(out)


def cache_file(reference: str, config: Config) -> str:
    """The main.json the cache holds for a `br`/`ts` reference (BadReference when invalid)."""
    scheme, _, rest = reference.partition(":")
    alias = None
    if "/" in scheme:
        scheme, alias = scheme.split("/", 1)
        if not _ALIAS.match(alias):
            raise BadReference(f"'{alias}' is not a valid alias name")
        target = config.aliases.get(scheme, {}).get(alias)
        if not isinstance(target, dict):
            raise BadReference(f"the alias '{scheme}/{alias}' is not defined in {CONFIG_NAME}")
        if scheme == "br":
            registry, module_path = target.get("registry"), target.get("modulePath")
            if not isinstance(registry, str):
                raise BadReference(f"the alias 'br/{alias}' has no registry")
            rest = f"{registry}/{module_path}/{rest}" if isinstance(module_path, str) and module_path else \
                f"{registry}/{rest}"
        else:
            sub, group = target.get("subscription"), target.get("resourceGroup")
            if not isinstance(sub, str) or not isinstance(group, str):
                raise BadReference(f"the alias 'ts/{alias}' needs a subscription and a resource group")
            rest = f"{sub}/{group}/{rest}"
    if scheme == "br":
        parts = _oci_parts(rest)
    elif scheme == "ts":
        parts = _template_spec_parts(rest)
    else:
        raise BadReference(f"unknown scheme '{scheme}'")
    return os.path.join(config.cache_root, scheme, *parts, "main.json")


def _oci_parts(rest: str) -> list[str]:
    registry, slash, path = rest.partition("/")
    if not slash or not _REGISTRY.match(registry):
        raise BadReference(f"'{registry}' is not a registry host name")
    if "@" in path:
        repository, _, digest = path.partition("@")
        if not _DIGEST.match(digest):
            raise BadReference(f"'{digest}' is not a digest")
        version = digest.replace(":", "#")
    else:
        repository, colon, tag = path.rpartition(":")
        if not colon or not _TAG.match(tag):
            raise BadReference("the reference has no valid tag or digest")
        version = encode_tag(tag)
    segments = repository.split("/")
    if not all(_SEGMENT.match(s) for s in segments):
        raise BadReference(f"'{repository}' is not a repository path")
    return [registry.replace(":", "$").lower(), repository.replace("/", "$"), version]


def _template_spec_parts(rest: str) -> list[str]:
    pieces = rest.split("/")
    if len(pieces) != 3 or ":" not in pieces[2]:
        raise BadReference("a template spec is '<subscription>/<resource group>/<name>:<version>'")
    sub, group, named = pieces
    name, _, version = named.partition(":")
    if not _GUID.match(sub):
        raise BadReference(f"'{sub}' is not a subscription id")
    for pattern, part in ((_RESOURCE_GROUP, group), (_SPEC_PART, name), (_SPEC_PART, version)):
        if not pattern.match(part) or part.strip(".") == "":  # never '.' or '..' in a path
            raise BadReference(f"'{part}' is not a valid name")
    return [p.lower() for p in (sub, group, name, version)]


def template_of(data: Any, reference: str) -> Any:
    """The ARM template in a cached main.json (a template spec's is inside its resource)."""
    if reference.startswith("ts") and isinstance(data, dict):
        props = data.get("properties")
        if isinstance(props, dict) and isinstance(props.get("mainTemplate"), dict):
            return props["mainTemplate"]
    return data


# --------------------------------------------------------------------------- configuration


def config_for(folder: str, known: dict[str, Config] | None = None) -> Config:
    """The Bicep configuration for files in `folder`: the nearest bicepconfig.json above it
    over the built-in one. Reads go through `fs`, so the result cache sees them."""
    known = known if known is not None else {}
    hit = known.get(folder)
    if hit is not None:
        return hit
    config = Config()
    path = _nearest_config(folder)
    if path is not None:
        _apply(config, path)
    override = os.environ.get(CACHE_ENV, "")
    if override:
        config.cache_root = os.path.abspath(os.path.expanduser(override))
    elif not config.cache_root:
        config.cache_root = os.path.join(os.path.expanduser("~"), ".bicep")
    known[folder] = config
    return config


def _nearest_config(folder: str) -> str | None:
    current = os.path.abspath(folder)
    while True:
        candidate = os.path.join(current, CONFIG_NAME)
        if fs.isfile(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _apply(config: Config, path: str) -> None:
    from ..loaders import LoadError, decode, load_json
    raw = fs.read_or_none(path, MAX_CONFIG_BYTES)
    if raw is None:
        return
    try:
        data = load_json(decode(raw))
    except (LoadError, RecursionError, ValueError):
        return
    if not isinstance(data, dict):
        return
    config.source = path
    aliases = data.get("moduleAliases")
    if isinstance(aliases, dict):
        for scheme in ("br", "ts"):
            entries = aliases.get(scheme)
            if isinstance(entries, dict):
                config.aliases[scheme].update({k: v for k, v in entries.items() if isinstance(v, dict)})
    root = data.get("cacheRootDirectory")
    if isinstance(root, str) and root.strip():
        if root == "~" or root.startswith(("~/", "~\\")):  # Bicep expands a leading '~' only
            root = os.path.expanduser("~") + root[1:]
        config.cache_root = os.path.normpath(os.path.join(os.path.dirname(path), root))
