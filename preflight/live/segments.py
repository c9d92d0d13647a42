"""What may become a segment of a live request path: Azure's naming rules, checked before any request.

The SDK percent-quotes a segment but leaves `.` alone, and the HTTP stack then resolves dot
segments: a resource group named `..` would send the GET, bearer token included, to another ARM
path than the vault's. So every segment is checked against the rules of what it names; a value
that breaks them is never requested (and cannot be a real resource anyway). Each check returns
the reason a value is refused, or None.
"""
from __future__ import annotations

import re

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_VAULT_NAME = re.compile(r"[A-Za-z0-9-]{3,24}")
_LOCATION = re.compile(r"[a-z0-9]{1,64}")
_GROUP_PUNCTUATION = frozenset("_-.()")

SUBSCRIPTION_RULE = "a subscription id is a GUID"
GROUP_RULE = ("a resource group name is 1-90 letters, digits, '_', '-', '.', '(' and ')', "
              "not ending in '.'")
VAULT_RULE = "a Key Vault name is 3-24 letters, digits and hyphens"


def subscription_problem(value: str) -> str | None:
    return None if _GUID.fullmatch(value) else SUBSCRIPTION_RULE


def resource_group_problem(value: str) -> str | None:
    """Azure's rule: letters and digits as .NET's Char.IsLetterOrDigit (so Unicode letters too),
    and `_-.()`. Not ending in '.' also rules out the dot segments `.` and `..`."""
    if not 1 <= len(value) <= 90 or value.endswith("."):
        return GROUP_RULE
    if all(ch.isalpha() or ch.isdecimal() or ch in _GROUP_PUNCTUATION for ch in value):
        return None
    return GROUP_RULE


def vault_name_problem(value: str) -> str | None:
    return None if _VAULT_NAME.fullmatch(value) else VAULT_RULE


def location_segment(value: str | None) -> str | None:
    """The location as ARM writes it in a path (`West Europe` -> `westeurope`); None when the
    value cannot be one (the caller then looks in every location instead)."""
    if not value:
        return None
    location = value.replace(" ", "").lower()
    return location if _LOCATION.fullmatch(location) else None
