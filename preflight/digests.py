"""The two hashes preflight computes, from CPython's own hash modules when it has them.

`import hashlib` loads OpenSSL first, even for hashes it then takes from CPython's own modules
(BLAKE2) or that are just as fast there for short inputs (a finding's fingerprint): measured,
3.4 MiB resident in every scanning process and 3-4 ms of start-up, for a pre-commit run of one
file too. The results are the same bytes whichever module computes them.
"""
from __future__ import annotations

from typing import Any, Callable

_sha256: Callable[..., Any]
_blake2b: Callable[..., Any]
try:
    from _blake2 import blake2b as _blake2b
except ImportError:  # an interpreter without CPython's module
    from hashlib import blake2b as _blake2b
try:
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]  # Python <= 3.11
except ImportError:
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]  # Python >= 3.12
    except ImportError:
        from hashlib import sha256 as _sha256


def blake2b_128(data: bytes) -> str:
    """The 128-bit BLAKE2b digest of `data`, in hex (content digests of the result cache)."""
    return _blake2b(data, digest_size=16).hexdigest()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of `data`, in hex (finding fingerprints)."""
    return _sha256(data).hexdigest()
