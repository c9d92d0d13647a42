"""Read live vaults through `azure-mgmt-keyvault`: credential, clients, bounded concurrent fetch.

The Azure SDK is imported inside functions only, so importing this module costs nothing and a
scan without `--live` never loads it. Every call is bounded: per-request connect/read timeouts,
a few retries with capped back-off (a server's Retry-After included), and one deadline for the
whole phase, after which vaults still waiting are reported as timed out. Workers are daemon
threads, so a request stuck in a socket can never keep the process alive.

The server's answer is untrusted too: request paths are built only from segments that follow
Azure's naming rules (`segments`), a body is read up to `LiveSettings.max_answer_bytes` and no
further, and every string it carries is made one printable line of bounded length before it
can reach a finding.

The vault is read as raw REST JSON (`cls=` returns the HTTP body), which is identical across
azure-mgmt-keyvault 10.x to 14.x, whose model classes are not.
"""
from __future__ import annotations

import base64
import functools
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from .compare import LiveState, LiveVault, Unavailable, VaultAbsent
from .segments import location_segment, resource_group_problem, subscription_problem, vault_name_problem

T = TypeVar("T")

INSTALL_HINT = "pip install 'azureml-preflight[live]'"


class LiveUnavailable(Exception):
    """The `live` extra is not installed."""


class LiveAnswerTooLarge(Exception):
    """An answer whose body is longer than the live check reads: reading stopped at the cap.
    Not an azure-core error, so the retry policy lets it through instead of reading it again."""

    def __init__(self, limit: int):
        super().__init__(f"answer body over {limit} bytes")
        self.limit = limit


def require_sdk() -> None:
    """Raise LiveUnavailable naming the install command when the extra is missing."""
    try:
        import azure.identity  # noqa: F401
        import azure.mgmt.keyvault  # noqa: F401
    except ImportError as exc:
        raise LiveUnavailable(f"--live needs azure-mgmt-keyvault and azure-identity ({exc}); "
                              f"install them with: {INSTALL_HINT}") from None


# ------------------------------------------------------------------------------ clouds


@dataclass(frozen=True)
class Cloud:
    name: str
    endpoint: str      # Azure Resource Manager
    scope: str         # the token audience for it
    authority: str     # Microsoft Entra authority host


CLOUDS = {
    "AzureCloud": Cloud("AzureCloud", "https://management.azure.com",
                        "https://management.azure.com/.default", "login.microsoftonline.com"),
    "AzureChinaCloud": Cloud("AzureChinaCloud", "https://management.chinacloudapi.cn",
                             "https://management.chinacloudapi.cn/.default", "login.chinacloudapi.cn"),
    "AzureUSGovernment": Cloud("AzureUSGovernment", "https://management.usgovcloudapi.net",
                               "https://management.core.usgovcloudapi.net/.default", "login.microsoftonline.us"),
}
_CLOUD_ALIASES = {
    "azurecloud": "AzureCloud", "public": "AzureCloud", "azure_public_cloud": "AzureCloud",
    "azurechinacloud": "AzureChinaCloud", "china": "AzureChinaCloud", "azure_china_cloud": "AzureChinaCloud",
    "azureusgovernment": "AzureUSGovernment", "usgov": "AzureUSGovernment",
    "azure_us_government": "AzureUSGovernment",
}


def cloud_named(name: str) -> Cloud:
    key = _CLOUD_ALIASES.get(name.strip().lower())
    if key is None:
        raise ValueError(f"unknown cloud {name!r} (known: {', '.join(CLOUDS)}; for a private cloud use --arm-endpoint)")
    return CLOUDS[key]


# ------------------------------------------------------------------------------ settings


@dataclass
class LiveSettings:
    subscription_id: str | None = None
    resource_group: str | None = None
    endpoint: str = CLOUDS["AzureCloud"].endpoint
    scope: str = CLOUDS["AzureCloud"].scope
    authority: str | None = None
    vault_names: dict[str, str] = field(default_factory=dict)  # --vault-name TEMPLATE_NAME=LIVE_NAME
    required: bool = False        # --live-required: an unavailable live state is an error
    timeout: float = 60.0         # one deadline for the whole live phase
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    retries: int = 2              # attempts = retries + 1
    backoff: float = 0.5          # seconds, doubled per retry, capped at max_backoff
    max_backoff: float = 4.0
    concurrency: int = 4
    max_answer_bytes: int = 4 * 1024 * 1024  # a vault with 1024 full access policies is ~1.5 MiB

    @classmethod
    def build(cls, *, cloud: str | None = None, arm_endpoint: str | None = None, **kwargs: Any) -> "LiveSettings":
        """Endpoint and token scope from `--cloud` and/or `--arm-endpoint` (ValueError when invalid).
        A value given but empty is an error, never the public cloud by default."""
        base = cloud_named(cloud) if cloud is not None else CLOUDS["AzureCloud"]
        endpoint, scope = base.endpoint, base.scope
        if arm_endpoint is not None:
            endpoint = arm_endpoint_url(arm_endpoint)
            if cloud is None:
                scope = endpoint + "/.default"
        return cls(endpoint=endpoint, scope=scope, authority=base.authority if cloud is not None else None, **kwargs)


def arm_endpoint_url(text: str) -> str:
    """`--arm-endpoint`: an https URL of a host (and optional path), no credentials, query or fragment."""
    from urllib.parse import urlsplit

    endpoint = text.strip().rstrip("/")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    shown = f", got {text!r}"
    if not endpoint:
        problem = "it is empty"
    elif parts is None or not endpoint.isprintable() or " " in endpoint:
        problem = "not a URL"
    elif parts.scheme.lower() != "https":
        problem = "bearer tokens are never sent over plain HTTP" if parts.scheme.lower() == "http" else \
            "it does not start with https://"
    elif not parts.hostname:
        problem = "it names no host"
    elif "@" in parts.netloc:
        problem, shown = "it must not carry credentials", ""  # which are not echoed either
    elif parts.query or parts.fragment or "?" in endpoint or "#" in endpoint:
        problem = "it must not have a query or fragment"
    else:
        return endpoint
    raise ValueError(f"--arm-endpoint must be an https:// URL ({problem}){shown}")


def ca_bundle() -> str | None:
    """TLS trust from the standard environment: REQUESTS_CA_BUNDLE, then SSL_CERT_FILE, CURL_CA_BUNDLE."""
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        value = os.environ.get(var)
        if value:
            return value
    return None


# ------------------------------------------------------------------------------ credential


class SharedCredential:
    """Wraps a TokenCredential: one token request at a time, reused until it nears expiry, and a
    failure remembered, so N vaults cost one `az account get-access-token` (and one error)."""

    def __init__(self, inner: Any):
        self._inner = inner
        self._lock = threading.Lock()
        self._tokens: dict[tuple, Any] = {}
        self._failures: dict[tuple, BaseException] = {}
        self.secrets: list[str] = []  # every token handed out: redacted from any message

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any):
        key = (scopes, tenant_id)
        if claims:  # a claims challenge always needs a fresh token
            token = self._inner.get_token(*scopes, claims=claims, tenant_id=tenant_id, **kwargs)
            self._remember(token.token)
            return token
        with self._lock:
            if key in self._failures:
                raise self._failures[key]
            token = self._tokens.get(key)
            if token is not None and token.expires_on - 300 > time.time():
                return token
            try:
                extra = {"tenant_id": tenant_id} if tenant_id else {}
                token = self._inner.get_token(*scopes, **extra, **kwargs)
            except Exception as exc:
                self._failures[key] = exc
                raise
            self._remember(token.token)
            self._tokens[key] = token
            return token

    def _remember(self, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def caller_object_id(self) -> str | None:
        """The `oid` claim of the token in use (a JWT), to point out when the caller itself is dropped."""
        for secret in self.secrets:
            parts = secret.split(".")
            if len(parts) != 3:
                continue
            try:
                payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            except (ValueError, TypeError):
                continue
            oid = payload.get("oid") if isinstance(payload, dict) else None
            if isinstance(oid, str):
                return oid
        return None

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


def default_credential(settings: LiveSettings) -> Any:
    """`DefaultAzureCredential`: environment, workload identity, managed identity, Azure CLI, ...
    (`AZURE_TOKEN_CREDENTIALS=AzureCliCredential` narrows it to `az login`)."""
    from azure.identity import DefaultAzureCredential

    kwargs: dict[str, Any] = {"process_timeout": max(1, int(min(settings.timeout, 30)))}
    if settings.authority:
        kwargs["authority"] = settings.authority
    return DefaultAzureCredential(**kwargs)


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")


def one_line(text: Any, limit: int | None = 240) -> str:
    """A string from outside (a server's answer, an exception's text) as one printable line:
    every control or format character (newline, ESC, bidi overrides, ...) escaped as `\\n`,
    `\\x1b`, `\\u202e`, and at most `limit` characters (`...` marks the cut)."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[:limit]
        cut = True
    else:
        cut = False
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else _escape(ch) for ch in text)
    if limit is not None and (cut or len(text) > limit):
        text = text[: max(0, limit - 3)] + "..."
    return text


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return _ESCAPES.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                                else f"\\U{code:08x}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove anything token-like from a message before it is reported."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", text)
    return _JWT.sub("***", text)


# ------------------------------------------------------------------------------ fetching


@dataclass(frozen=True)
class VaultTarget:
    """The three segments of a vault's ARM path. Only values that follow Azure's naming rules can
    make one (ValueError otherwise), so no request goes anywhere but a vault's own path."""

    subscription_id: str
    resource_group: str
    name: str

    def __post_init__(self) -> None:
        for value, check in ((self.subscription_id, subscription_problem),
                             (self.resource_group, resource_group_problem), (self.name, vault_name_problem)):
            problem = check(value) if isinstance(value, str) else "not a string"
            if problem:
                raise ValueError(f"{one_line(value, 100)!r} cannot be part of a vault's path: {problem}")

    def key(self) -> tuple[str, str, str]:
        return (self.subscription_id.lower(), self.resource_group.lower(), self.name.lower())


@dataclass
class FetchRequest:
    target: VaultTarget
    location: str | None = None   # for the soft-deleted lookup when the vault does not exist
    check_deleted: bool = False


class _Clients:
    """One KeyVaultManagementClient per subscription, sharing the credential."""

    def __init__(self, settings: LiveSettings, credential: Any):
        self.settings = settings
        self.credential = credential
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._listing_locks: dict[str, threading.Lock] = {}
        self._deleted: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def secrets(self) -> list[str]:
        """The tokens handed out so far, to redact from any reason before it is shortened."""
        return getattr(self.credential, "secrets", [])

    def get(self, subscription_id: str) -> Any:
        with self._lock:
            client = self._clients.get(subscription_id)
            if client is None:
                client = self._clients[subscription_id] = self._make(subscription_id)
            return client

    def _make(self, subscription_id: str) -> Any:
        from azure.core.pipeline.policies import RetryPolicy
        from azure.mgmt.keyvault import KeyVaultManagementClient

        from .. import __version__

        s = self.settings
        cap = s.max_backoff

        class CappedRetryPolicy(RetryPolicy):
            """Honours Retry-After, but never waits longer than the cap."""

            def get_retry_after(self, response):  # noqa: ANN001
                value = super().get_retry_after(response)
                return None if value is None else min(value, cap)

        retry = CappedRetryPolicy(retry_total=s.retries, retry_connect=s.retries, retry_read=s.retries,
                                  retry_status=s.retries, retry_backoff_factor=s.backoff,
                                  retry_backoff_max=cap, timeout=s.timeout)
        kwargs: dict[str, Any] = dict(
            base_url=s.endpoint, credential_scopes=[s.scope], retry_policy=retry,
            connection_timeout=s.connect_timeout, read_timeout=s.read_timeout,
            user_agent=f"preflight/{__version__}", logging_enable=False,
            session=guarded_session(s.endpoint, s.max_answer_bytes))
        bundle = ca_bundle()
        if bundle:
            kwargs["connection_verify"] = bundle
        return KeyVaultManagementClient(self.credential, subscription_id, **kwargs)

    def deleted_vaults(self, subscription_id: str) -> dict[str, dict[str, Any]]:
        """Soft-deleted vaults of a subscription in every location, by lower-case name; listed
        once per subscription (for vaults whose location the template computes)."""
        with self._lock:
            lock = self._listing_locks.setdefault(subscription_id.lower(), threading.Lock())
        with lock:
            cached = self._deleted.get(subscription_id.lower())
            if cached is None:
                cached = {}
                for i, item in enumerate(self.get(subscription_id).vaults.list_deleted()):
                    if i >= MAX_DELETED_LISTED:
                        break
                    name = getattr(item, "name", None)
                    if isinstance(name, str):
                        cached.setdefault(name.lower(), _deleted_json(item))
                self._deleted[subscription_id.lower()] = cached
            return cached

    def close(self) -> None:
        for client in self._clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


MAX_DELETED_LISTED = 5000


def guarded_session(endpoint: str, limit: int) -> Any:
    """The requests Session (azure-core's transport takes one) every live request goes through.

    A request is sent only to the endpoint and only for one of the paths the check reads
    (`read_path`): a server's `nextLink` or redirect elsewhere, or the SDK's provider-registration
    POST, is refused (LiveRequestRefused) before it leaves the process, token and all.
    An answer is read up to `limit` bytes: a declared Content-Length over it is refused before the
    body is read, and a chunked, compressed or read-until-close body stops at the cap (counted
    after decompression). Either way the connection is closed, so nothing is drained, and
    LiveAnswerTooLarge is raised."""
    from requests import Session
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class GuardedAdapter(HTTPAdapter):
        def send(self, request, *args, **kwargs):  # noqa: ANN001 - requests' documented override point
            if request.method != "GET" or not read_path(endpoint, request.url):
                raise LiveRequestRefused(request.method, request.url)
            return super().send(request, *args, **kwargs)

        def build_response(self, req, resp):  # noqa: ANN001
            declared = (resp.headers.get("Content-Length") or "").strip()
            if declared.isdigit() and int(declared) > limit:
                resp.close()
                raise LiveAnswerTooLarge(limit)
            response = super().build_response(req, resp)
            response.raw = _CappedBody(resp, limit)
            return response

    session = Session()
    # As azure-core's own adapter: its retry policy retries, urllib3 never does.
    adapter = GuardedAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


_READ_PATHS = (  # lower-case literals; None: a segment checked by its own rule
    (("subscriptions", "subscription"), ("resourcegroups", "group"), ("providers", None),
     ("microsoft.keyvault", None), ("vaults", "vault")),
    (("subscriptions", "subscription"), ("providers", None), ("microsoft.keyvault", None), ("deletedvaults", None)),
    (("subscriptions", "subscription"), ("providers", None), ("microsoft.keyvault", None),
     ("locations", "location"), ("deletedvaults", "vault")),
)
_SEGMENT_RULES = {"subscription": subscription_problem, "group": resource_group_problem, "vault": vault_name_problem,
                  "location": lambda v: None if location_segment(v) == v else "not a location"}


def read_path(endpoint: str, url: str) -> bool:
    """True when `url` is on the endpoint and names a vault, a soft-deleted vault, or the
    subscription's soft-deleted vaults, every segment valid by Azure's naming rules."""
    from urllib.parse import unquote, urlsplit

    base, target = urlsplit(endpoint), urlsplit(url)
    if (target.scheme.lower(), target.hostname, target.port or 443) != \
            (base.scheme.lower(), base.hostname, base.port or 443) or target.username or target.password:
        return False
    prefix = base.path.rstrip("/")
    if not target.path.startswith(prefix + "/"):
        return False
    segments = [unquote(part) for part in target.path[len(prefix) + 1:].split("/")]
    return any(_matches(shape, segments) for shape in _READ_PATHS)


def _matches(shape: tuple, segments: list[str]) -> bool:
    position = 0
    for literal, kind in shape:
        if position >= len(segments) or segments[position].lower() != literal:
            return False
        position += 1
        if kind is not None:
            if position >= len(segments) or _SEGMENT_RULES[kind](segments[position]):
                return False
            position += 1
    return position == len(segments)


class LiveRequestRefused(Exception):
    """A request the live check never makes (another host or path, or not a GET): not sent."""

    def __init__(self, method: str, url: str):
        super().__init__(f"{method} {url}")
        self.method, self.url = method, url


class _CappedBody:
    """A urllib3 response whose reads stop with LiveAnswerTooLarge past `limit` bytes."""

    def __init__(self, raw: Any, limit: int):
        self._raw, self._limit, self._count = raw, limit, 0

    def _take(self, data: bytes) -> bytes:
        self._count += len(data)
        if self._count > self._limit:
            self._raw.close()
            raise LiveAnswerTooLarge(self._limit)
        return data

    def stream(self, amt: int = 2 ** 16, decode_content: bool | None = None) -> Iterable[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            yield self._take(chunk)

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        if amt is None:  # everything: in pieces, so the cap holds
            return b"".join(self._take(piece) for piece in iter(lambda: self._raw.read(2 ** 16, *args, **kwargs), b""))
        return self._take(self._raw.read(amt, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _deleted_json(item: Any) -> dict[str, Any]:
    """A listed DeletedVault model in the REST shape (attribute names agree across 10.x-14.x)."""
    props = getattr(item, "properties", None)

    def text(value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else value

    return printable_json({"id": getattr(item, "id", None), "name": getattr(item, "name", None),
                           "properties": {"location": getattr(props, "location", None),
                                          "deletionDate": text(getattr(props, "deletion_date", None)),
                                          "scheduledPurgeDate": text(getattr(props, "scheduled_purge_date", None))}})


def _raw_json(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    return printable_json(pipeline_response.http_response.json())


MAX_TEXT = 300   # an ARM resource id is well under this; object ids and permission names far under
MAX_DEPTH = 32   # a vault's JSON is a few levels deep


def printable_json(value: Any, depth: int = 0) -> Any:
    """The answer with every string (keys too) made one printable line of at most MAX_TEXT
    characters, and anything nested deeper than a vault's JSON ever is dropped."""
    if isinstance(value, str):
        return one_line(value, MAX_TEXT)
    if depth >= MAX_DEPTH and isinstance(value, (dict, list)):
        return None
    if isinstance(value, dict):
        return {one_line(k, MAX_TEXT): printable_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_json(v, depth + 1) for v in value]
    return value


MAX_ACCESS_POLICIES = 1024  # Key Vault's own limit per vault


def fetch_one(clients: _Clients, request: FetchRequest) -> LiveState:
    from azure.core.exceptions import HttpResponseError

    t = request.target
    client = clients.get(t.subscription_id)
    try:
        raw = client.vaults.get(t.resource_group, t.name, cls=_raw_json)
    except HttpResponseError as exc:
        status, code, _ = error_parts(exc)
        if status == 404 and code in ("ResourceNotFound", "ResourceGroupNotFound", ""):
            return _absent(clients, client, request, code or "ResourceNotFound")
        return Unavailable(describe_error(exc, clients.settings, clients.secrets))
    except Exception as exc:  # noqa: BLE001 - any failure is a reason, never a crash
        return Unavailable(describe_error(exc, clients.settings, clients.secrets))
    if not isinstance(raw, dict):
        return Unavailable("the GET answer is not a JSON object")
    live = LiveVault(raw)
    entries = live.properties.get("accessPolicies")
    if isinstance(entries, list) and len(entries) > MAX_ACCESS_POLICIES:
        return Unavailable(f"the live answer is not plausible: it lists {len(entries)} access policies "
                           f"(Key Vault allows {MAX_ACCESS_POLICIES})")
    return live


def _absent(clients: "_Clients", client: Any, request: FetchRequest, code: str) -> VaultAbsent:
    from azure.core.exceptions import HttpResponseError

    if not request.check_deleted:
        return VaultAbsent(code)
    location = location_segment(request.location)
    if not location:  # computed by the template, or no location name: look in every location instead
        try:
            found = clients.deleted_vaults(request.target.subscription_id).get(request.target.name.lower())
        except Exception as exc:  # noqa: BLE001
            return VaultAbsent(code, deleted_unchecked=describe_error(exc, None, clients.secrets))
        return VaultAbsent(code, deleted=found)
    try:
        deleted = client.vaults.get_deleted(request.target.name, location, cls=_raw_json)
    except HttpResponseError as exc:
        status, _, _ = error_parts(exc)
        if status == 404:
            return VaultAbsent(code)
        return VaultAbsent(code, deleted_unchecked=describe_error(exc, None, clients.secrets))
    except Exception as exc:  # noqa: BLE001
        return VaultAbsent(code, deleted_unchecked=describe_error(exc, None, clients.secrets))
    return VaultAbsent(code, deleted=deleted if isinstance(deleted, dict) else {})


def error_parts(exc: Any) -> tuple[int | None, str, str]:
    """(HTTP status, ARM error code, ARM error message) of an azure-core HttpResponseError; the
    code and message as the server sent them, but escaped to one printable line (not shortened:
    a token echoed in them is redacted first, then they are cut)."""
    status = getattr(exc, "status_code", None)
    code = message = ""
    error = getattr(exc, "error", None)
    if error is not None:
        code = str(getattr(error, "code", "") or "")
        message = str(getattr(error, "message", "") or "")
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # noqa: BLE001 - not JSON
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code") or "")
            message = message or str(body["error"].get("message") or "")
    return status, one_line(code, None), one_line(message, None)


_HINTS = {
    401: "the token was rejected (expired, or for another tenant or cloud)",
    403: "the identity lacks Microsoft.KeyVault/vaults/read on the vault (e.g. the Reader role)",
}


def describe_error(exc: BaseException, settings: LiveSettings | None, secrets: Iterable[str] = ()) -> str:
    """A short reason for a failed call, one printable line; never a token, never a traceback."""
    from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
                                       ServiceResponseError)

    if isinstance(exc, LiveRequestRefused):
        return (f"the answer led to a request the live check never makes ({exc.method} "
                f"{one_line(redact(exc.url, secrets), 160)}); not sent")
    if isinstance(exc, LiveAnswerTooLarge):
        return (f"live answer too large: over {_size(exc.limit)}, not read further "
                "(no Key Vault answer is this long)")
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        return "no Azure credential: " + _credential_message(redact(str(getattr(exc, "message", None) or exc), secrets))
    if isinstance(exc, HttpResponseError) and getattr(exc, "status_code", None):
        status, code, message = error_parts(exc)
        code, message = one_line(redact(code, secrets), 100), redact(message, secrets)
        if status == 404 and code == "SubscriptionNotFound":
            return f"subscription not found (404 SubscriptionNotFound): {_short(message)}"
        parts = [f"HTTP {status}" + (f" {code}" if code else "")]
        if message:
            parts.append(_short(message))
        hint = _HINTS.get(status or 0)
        if hint:
            parts.append(hint)
        if status and status >= 500:
            parts.append("the service failed" + (f" after {settings.retries + 1} attempts" if settings else ""))
        return ": ".join(parts[:1]) + (" (" + "; ".join(parts[1:]) + ")" if parts[1:] else "")
    text = redact(str(getattr(exc, "message", None) or exc), secrets)
    where = settings.endpoint if settings else "the Azure Resource Manager endpoint"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "SSL" in type(exc).__name__:
        return (f"TLS failure talking to {where}: {_short(_ssl_reason(text))} "
                "(trust the endpoint's CA with REQUESTS_CA_BUNDLE or SSL_CERT_FILE)")
    if isinstance(exc, ServiceResponseError) or "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        limit = f" within {settings.read_timeout:g}s" if settings else ""
        return f"no answer from {where}{limit} (timed out)"
    if isinstance(exc, ServiceRequestError):
        return f"cannot reach {where}: {_short(_network_reason(text))}"
    return f"{type(exc).__name__}: {_short(text)}"


def _credential_message(text: str) -> str:
    """DefaultAzureCredential lists every credential it tried; keep those lines, compactly."""
    tried = []
    for line in text.splitlines():
        if line.startswith(("\t", "    ")) and ":" in line:
            name, _, why = line.strip().partition(":")
            tried.append(f"{name}: {why.strip().split('. ')[0].rstrip('.')}")
    summary = "; ".join(tried) if tried else text.splitlines()[0] if text else "no credential available"
    return _short(summary, 400) + (" (run `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/... "
                                   "for a service principal)")


def _network_reason(text: str) -> str:
    m = re.search(r"\[Errno -?\d+\]\s*([^'\")\]]+)", text)
    if m:
        return m.group(1).strip()
    m = re.search(r"(Connection refused|Name or service not known|Temporary failure in name resolution|"
                  r"Connection reset by peer|Network is unreachable|Remote end closed connection[^'\")]*)", text)
    return m.group(1) if m else _short(re.sub(r"<[^>]+>:?\s*", "", text))


def _ssl_reason(text: str) -> str:
    m = re.search(r"\[SSL:[^\]]*\]\s*([^(')\"]+)", text)
    return m.group(0).strip() if m else text


def _short(text: str, limit: int = 240) -> str:
    """Runs of whitespace as one space, then one printable line of at most `limit` characters."""
    return one_line(" ".join(str(text).split()), limit)


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count % (1024 * 1024) == 0 else f"{count} bytes"


# ------------------------------------------------------------------------------ bounded pool


def run_bounded(tasks: list[Callable[[], T]], workers: int, deadline: float,
                on_timeout: Callable[[int], T]) -> list[T]:
    """Run tasks on at most `workers` daemon threads; tasks unfinished at `deadline`
    (a time.monotonic() value) get `on_timeout(index)` and are abandoned."""
    results: dict[int, T] = {}
    done = threading.Condition()
    pending = list(range(len(tasks)))
    pending.reverse()

    def worker() -> None:
        while True:
            with done:
                if not pending:
                    return
                i = pending.pop()
            try:
                value = tasks[i]()
            except Exception as exc:  # noqa: BLE001 - a task's failure must still be an answer
                value = _crash(exc)  # type: ignore[assignment]
            with done:
                results[i] = value
                done.notify_all()

    for _ in range(max(1, min(workers, len(tasks)))):
        threading.Thread(target=worker, name="preflight-live", daemon=True).start()
    with done:
        while len(results) < len(tasks):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done.wait(left)
        return [results[i] if i in results else on_timeout(i) for i in range(len(tasks))]


def _crash(exc: BaseException) -> Unavailable:
    return Unavailable(f"{type(exc).__name__}: {_short(str(exc))}")


def fetch_all(requests: list[FetchRequest], settings: LiveSettings, credential: Any = None
              ) -> tuple[dict[tuple[str, str, str], LiveState], SharedCredential]:
    """Fetch each distinct vault once, several at a time. Returns states by `VaultTarget.key()`
    (messages already redacted) and the shared credential (for the caller's object id)."""
    import logging

    # azure-identity and azure-core log through `logging`; with no handler configured, Python would
    # print warnings on stderr. The live findings carry the reasons instead.
    logging.getLogger("azure").addHandler(logging.NullHandler())
    logging.getLogger("azure").propagate = False

    unique: dict[tuple[str, str, str], FetchRequest] = {}
    for r in requests:
        unique.setdefault(r.target.key(), r)
    shared = SharedCredential(credential if credential is not None else default_credential(settings))
    clients = _Clients(settings, shared)
    order = list(unique.values())
    timed_out: list[int] = []

    def on_timeout(i: int) -> LiveState:
        timed_out.append(i)
        return Unavailable(f"timed out: no answer within the {settings.timeout:g}s live-check limit")

    states = run_bounded([functools.partial(fetch_one, clients, r) for r in order], settings.concurrency,
                         time.monotonic() + settings.timeout, on_timeout)
    if not timed_out:  # an abandoned worker may still hold a client: leave those to the process exit
        clients.close()
        shared.close()
    out: dict[tuple[str, str, str], LiveState] = {}
    for request, state in zip(order, states):
        if isinstance(state, Unavailable):
            state = Unavailable(redact(state.reason, shared.secrets))
        elif isinstance(state, VaultAbsent) and state.deleted_unchecked:
            state.deleted_unchecked = redact(state.deleted_unchecked, shared.secrets)
        out[request.target.key()] = state
    return out, shared
