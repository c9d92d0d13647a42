"""Loading the rule packs. The built-in rules live in `preflight.rules`, one module per family,
and register themselves in the contract's `REGISTRY` when imported. The loading sits here,
above both, so that the contract (which the rules import) never imports the rules."""
from __future__ import annotations


def load_rule_packs() -> None:
    """Import the built-in rule pack (preflight.rules) once: importing it registers every rule."""
    from . import rules  # noqa: F401  (imported for its registrations; later calls find it loaded)
