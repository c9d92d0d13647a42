"""The live Key Vault check through the real azure-mgmt-keyvault client, over real HTTPS, against
a fake Azure Resource Manager served on 127.0.0.1 with a trustme certificate (SPEC 6.3).

`FakeArm` answers the two GETs the check makes (vault, deleted vault) the way ARM does, checks
the bearer token, and can misbehave per vault: a status, a sequence of statuses, a delay,
echoing the Authorization header back in an error, or an answer that never ends (a hostile
server). It records every request path it receives.
"""
from __future__ import annotations

import json
import re
import zlib
import secrets
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("azure.mgmt.keyvault")
trustme = pytest.importorskip("trustme")

from azure.core.credentials import AccessToken  # noqa: E402
from azure.core.exceptions import ClientAuthenticationError  # noqa: E402

from preflight.findings import ERROR, INFO, WARNING  # noqa: E402
from preflight.live.fetch import LiveSettings, fetch_all, FetchRequest, VaultTarget, run_bounded  # noqa: E402
from preflight.live.compare import Unavailable  # noqa: E402
from preflight.live.plan import (DECLARED, MISSING, NOT_DEPLOYED, PRESERVING, RBAC, UNKNOWN,  # noqa: E402
                                 AccessPolicy, ChildOperation, PlannedVault)
from preflight.live.provider import check  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "99999999-9999-9999-9999-999999999999"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"
B_APP = "33333333-3333-3333-3333-333333333333"
C = "44444444-4444-4444-4444-444444444444"
D = "55555555-5555-5555-5555-555555555555"

_VAULT = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.KeyVault/vaults/([^/]+)$",
                    re.I)
_DELETED_LIST = re.compile(r"^/subscriptions/([^/]+)/providers/Microsoft\.KeyVault/deletedVaults$", re.I)
_DELETED = re.compile(r"^/subscriptions/([^/]+)/providers/Microsoft\.KeyVault/locations/([^/]+)/deletedVaults/([^/]+)$",
                      re.I)


def entry(oid, app=None, tenant=TENANT, **perms):
    out = {"tenantId": tenant, "objectId": oid, "permissions": perms}
    if app:
        out["applicationId"] = app
    return out


def vault_body(name, policies, tenant=TENANT, rbac=False, rg="rg-ml", sub=SUB, location="westeurope"):
    """A realistic GET body (SPEC 6.2)."""
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}",
        "name": name, "type": "Microsoft.KeyVault/vaults", "location": location, "tags": {"env": "prod"},
        "systemData": {"createdBy": "ci@contoso.com", "createdByType": "User", "createdAt": "2024-01-01T12:00:00Z"},
        "properties": {
            "sku": {"family": "A", "name": "standard"}, "tenantId": tenant, "accessPolicies": policies,
            "enabledForDeployment": False, "enabledForTemplateDeployment": True, "enableSoftDelete": True,
            "softDeleteRetentionInDays": 90, "enableRbacAuthorization": rbac, "enablePurgeProtection": True,
            "networkAcls": {"bypass": "AzureServices", "defaultAction": "Allow", "ipRules": [],
                            "virtualNetworkRules": []},
            "vaultUri": f"https://{name}.vault.azure.net/", "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
        },
    }


class FakeArm:
    """ARM's Key Vault GETs over HTTPS on 127.0.0.1."""

    def __init__(self, tmp_dir):
        self.ca = trustme.CA()
        self.ca_path = str(tmp_dir / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        self.token = "tok-" + secrets.token_hex(16)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.reset()
        arm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                arm.handle(self)

            do_POST = do_PUT = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        self.vaults: dict = {}
        self.deleted: dict = {}
        self.behaviour: dict = {}
        self.requests: list = []
        self.sent: dict = {}
        self.subscriptions = {SUB.lower(), OTHER_SUB.lower()}
        self.groups = {(SUB.lower(), "rg-ml"), (SUB.lower(), "rg-other"), (OTHER_SUB.lower(), "rg-ml")}
        self.inflight = self.max_inflight = 0

    def add_vault(self, name, policies, rg="rg-ml", sub=SUB, **kw):
        self.vaults[(sub.lower(), rg.lower(), name.lower())] = vault_body(name, policies, rg=rg, sub=sub, **kw)

    def add_deleted(self, name, location="westeurope", sub=SUB):
        self.deleted[(sub.lower(), location.lower(), name.lower())] = {
            "id": f"/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}",
            "name": name, "type": "Microsoft.KeyVault/deletedVaults",
            "properties": {"vaultId": f"/subscriptions/{sub}/resourceGroups/rg-ml"
                                      f"/providers/Microsoft.KeyVault/vaults/{name}",
                           "location": location, "deletionDate": "2026-01-10T09:00:00Z",
                           "scheduledPurgeDate": "2026-04-10T09:00:00Z", "purgeProtectionEnabled": False}}

    def gets(self, name=None):
        return [r for r in self.requests if name is None or r["path"].lower().endswith("/" + name.lower())]

    # --------------------------------------------------------------------------------- serving
    def handle(self, h):
        url = urlsplit(h.path)
        record = {"path": url.path, "query": parse_qs(url.query), "auth": h.headers.get("Authorization", ""),
                  "agent": h.headers.get("User-Agent", ""), "method": h.command}
        with self.lock:
            self.requests.append(record)
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            self._answer(h, url.path, record)
        finally:
            with self.lock:
                self.inflight -= 1

    def _answer(self, h, path, record):
        name = path.rsplit("/", 1)[-1].lower()
        rule = self.behaviour.get(name, {})
        if rule.get("delay"):
            self.release.wait(rule["delay"])
        if rule.get("stream"):
            return self.stream(h, name, **rule["stream"])
        status = rule.get("status")
        if rule.get("sequence"):
            with self.lock:
                status = rule["sequence"].pop(0) if len(rule["sequence"]) > 1 else rule["sequence"][0]
            status = None if status == 200 else status
        if rule.get("redirect"):
            h.send_response(rule.get("redirect_status", 302))
            h.send_header("Location", rule["redirect"])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if status:
            message = rule.get("message", "injected failure")
            if rule.get("echo_auth"):
                message += f" (got {record['auth']})"
            return self.send(h, status, {"error": {"code": rule.get("code", "InjectedFailure"), "message": message}})
        if record["auth"] != f"Bearer {self.token}":
            return self.send(h, 401, {"error": {"code": "InvalidAuthenticationToken",
                                                "message": "The access token is invalid."}})
        if "api-version" not in record["query"]:
            return self.send(h, 400, {"error": {"code": "MissingApiVersionParameter", "message": "no api-version"}})
        m = _DELETED_LIST.match(path)
        if m:  # paged one vault per page, to exercise nextLink
            rule = self.behaviour.get("*deleted-list*", {})
            if rule.get("status"):
                return self.send(h, rule["status"], {"error": {"code": rule.get("code", "X"), "message": "denied"}})
            items = [v for (sub, _, _), v in sorted(self.deleted.items()) if sub == m.group(1).lower()]
            skip = int(record["query"].get("$skiptoken", ["0"])[0])
            page = {"value": items[skip:skip + 1]}
            if skip + 1 < len(items):
                page["nextLink"] = rule.get("next") or f"{self.url}{path}?api-version=x&$skiptoken={skip + 1}"
            return self.send(h, 200, page)
        m = _VAULT.match(path)
        if m:
            sub, rg, vault = (g.lower() for g in m.groups())
            if sub not in self.subscriptions:
                return self.send(h, 404, {"error": {"code": "SubscriptionNotFound",
                                                    "message": f"The subscription '{sub}' could not be found."}})
            if (sub, rg) not in self.groups:
                return self.send(h, 404, {"error": {"code": "ResourceGroupNotFound",
                                                    "message": f"Resource group '{rg}' could not be found."}})
            body = self.vaults.get((sub, rg, vault))
        else:
            m = _DELETED.match(path)
            body = self.deleted.get(tuple(g.lower() for g in m.groups())) if m else None
        if body is None:
            return self.send(h, 404, {"error": {"code": "ResourceNotFound", "message": "The Resource was not found."}})
        return self.send(h, 200, body)

    @staticmethod
    def send(h, status, body):
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def stream(self, h, name, status=200, length=None, framing="chunked", gzip=False, limit=2 << 30):
        """A generated answer, never held in memory: `length` bytes (None: endless) of a JSON
        body that never closes, framed with Content-Length, chunked, or by closing the connection.
        Stops when the client goes away (or after `limit` bytes); bytes written go to `self.sent`."""
        piece = b'{"tenantId": "%s", "objectId": "%s", "permissions": {"secrets": ["get"]}}, ' % (
            TENANT.encode(), A.encode())
        block = b'{"properties": {"accessPolicies": [' + piece * (65536 // len(piece))
        packer = zlib.compressobj(wbits=31) if gzip else None
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        if gzip:
            h.send_header("Content-Encoding", "gzip")
        if framing == "length":
            h.send_header("Content-Length", str(length))
        elif framing == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        produced = 0
        deadline = time.monotonic() + 120
        try:
            while (length is None or produced < length) and produced < limit and time.monotonic() < deadline:
                data = block if length is None else block[: length - produced]
                produced += len(data)
                if packer is not None:
                    data = packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)
                if framing == "chunked":
                    data = b"%x\r\n%s\r\n" % (len(data), data)
                h.wfile.write(data)
                with self.lock:
                    self.sent[name] = self.sent.get(name, 0) + len(data)
            if framing == "chunked":
                h.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading and closed the connection
            h.close_connection = True

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class StaticToken:
    """A TokenCredential answering with the server's token (DefaultAzureCredential is tested end to end)."""

    def __init__(self, token, fail=None):
        self.token, self.fail, self.calls = token, fail, 0

    def get_token(self, *scopes, claims=None, tenant_id=None, **kwargs):
        self.calls += 1
        self.scopes = scopes
        if self.fail:
            raise self.fail
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def _server(tmp_path_factory):
    server = FakeArm(tmp_path_factory.mktemp("arm"))
    yield server
    server.close()


@pytest.fixture
def arm(_server, monkeypatch):
    _server.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", _server.ca_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    return _server


def settings_for(arm, **kw):
    base = dict(subscription_id=SUB, resource_group="rg-ml", endpoint=arm.url, scope=arm.url + "/.default",
                retries=1, backoff=0.01, max_backoff=0.05, connect_timeout=3, read_timeout=3, timeout=20)
    base.update(kw)
    return LiveSettings(**base)


def pol(oid, app=None, tenant=None, **perms):
    return AccessPolicy(oid, tenant, app, {k: frozenset(v) for k, v in perms.items()})


def plan(name="kv-ml-prod", policies=(), decision=DECLARED, **kw):
    kw.setdefault("location", "westeurope")
    return PlannedVault(path="infra/main.json", pointer="/resources/1", name=name, decision=decision,
                        policies=tuple(policies) if policies is not None else None, **kw)


def run(arm, plans, credential=None, **kw):
    credential = credential or StaticToken(arm.token)
    return check(plans, settings_for(arm, **kw), credential=credential)


def rules(findings):
    return sorted(f.rule for f in findings)


# ------------------------------------------------------------------------------------ the comparison


def test_template_keeping_a_drops_b_and_names_b_only(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get", "list"]),
                                 entry(B, app=B_APP, keys=["get"], secrets=["get", "list", "set"])])
    findings = run(arm, [plan(policies=[pol(A, secrets=["get", "list"])])])
    assert rules(findings) == ["LIVE001"]
    f = findings[0]
    assert f.severity == ERROR and f.path == "infra/main.json" and f.pointer == "/resources/1/properties/accessPolicies"
    assert B in f.message and B_APP in f.message and "keys:get; secrets:get,list,set" in f.message
    assert A not in f.message and "kv-ml-prod" in f.message and "rg-ml" in f.message
    assert f.data["objectId"] == B and f.data["applicationId"] == B_APP and f.data["vault"] == "kv-ml-prod"
    assert f.data["permissions"] == {"keys": ["get"], "secrets": ["get", "list", "set"]}
    # The real SDK sent the bearer token over TLS with an api-version, once.
    (get,) = arm.gets("kv-ml-prod")
    assert get["auth"] == f"Bearer {arm.token}" and get["query"]["api-version"][0] >= "2023-07-01"
    assert get["agent"].startswith("preflight/") and "mgmt-keyvault/" in get["agent"]


def test_application_id_is_part_of_the_principal(arm):
    # A compound identity (objectId + applicationId) is not the same principal as the objectId alone.
    arm.add_vault("kv-ml-prod", [entry(B, app=B_APP, secrets=["get"])])
    findings = run(arm, [plan(policies=[pol(B, secrets=["get"])])])
    assert rules(findings) == ["LIVE001", "LIVE007"]


def test_reduced_permissions_are_a_warning_naming_what_is_lost(arm):
    arm.add_vault("kv-ml-prod", [entry(A, keys=["Get", "List", "Delete"], secrets=["get", "set"]),
                                 entry(B, certificates=["get"])])
    findings = run(arm, [plan(policies=[pol(A, keys=["get", "LIST"], secrets=["get", "set"]),
                                        pol(B, certificates=["all"])])])
    assert rules(findings) == ["LIVE002"]
    f = findings[0]
    assert f.severity == WARNING and A in f.message and "loses keys:delete" in f.message
    assert f.data["lost"] == {"keys": ["delete"]}


def test_added_principals_are_info(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    findings = run(arm, [plan(policies=[pol(A, secrets=["get"]), pol(C, secrets=["get", "list"])])])
    assert [(f.rule, f.severity) for f in findings] == [("LIVE007", INFO)]
    assert C in findings[0].message and A not in findings[0].message


def test_policy_tenant_defaults_to_the_vaults_and_case_is_ignored(arm):
    arm.add_vault("kv-ml-prod", [entry(A.upper(), tenant=TENANT.upper(), secrets=["GET"])])
    assert run(arm, [plan(policies=[pol(A, secrets=["get"])])]) == []


def test_vault_that_does_not_exist_yet_is_info_only(arm):
    findings = run(arm, [plan(policies=[pol(A, secrets=["get"])])])
    assert [(f.rule, f.severity) for f in findings] == [("LIVE005", INFO)]
    assert "does not exist yet" in findings[0].message
    # The soft-delete lookup used the template's location.
    assert any(r["path"].endswith("/locations/westeurope/deletedVaults/kv-ml-prod") for r in arm.requests)


def test_resource_group_not_found_means_new_vault(arm):
    findings = run(arm, [plan(policies=[])], resource_group="rg-new")
    assert rules(findings) == ["LIVE005"] and "resource group does not exist" in findings[0].message


def test_soft_deleted_name_is_an_error(arm):
    arm.add_deleted("kv-ml-prod")
    findings = run(arm, [plan(policies=[pol(A, secrets=["get"])], location="West Europe")])
    assert rules(findings) == ["LIVE004", "LIVE005"]
    f = next(f for f in findings if f.rule == "LIVE004")
    assert f.severity == ERROR and "soft-deleted" in f.message and "2026-04-10" in f.message
    assert f.pointer == "/resources/1/name"


def test_soft_deleted_name_with_create_mode_recover_is_fine(arm):
    arm.add_deleted("kv-ml-prod")
    findings = run(arm, [plan(policies=None, decision=PRESERVING, create_mode="recover")])
    assert rules(findings) == ["LIVE005"] and "recover" in findings[0].message


def test_soft_deleted_name_in_any_location_when_the_template_computes_it(arm):
    arm.add_deleted("kv-zz-other", location="eastus")
    arm.add_deleted("kv-ml-prod", location="northeurope")
    arm.add_deleted("kv-aa-other", location="westus")
    findings = run(arm, [plan(policies=[], location=None), plan("kv-ml-new", [], location=None)])
    assert rules(findings) == ["LIVE004", "LIVE005", "LIVE005"]
    assert "kv-ml-prod" in next(f for f in findings if f.rule == "LIVE004").message
    lists = [r for r in arm.requests if r["path"].endswith("/deletedVaults")]
    assert len(lists) == 3  # one listing for the subscription, followed over its three pages


def test_soft_delete_lookup_denied_is_noted_not_fatal(arm):
    arm.behaviour["*deleted-list*"] = {"status": 403, "code": "AuthorizationFailed"}
    findings = run(arm, [plan(policies=[], location=None)])
    assert [(f.rule, f.severity) for f in findings] == [("LIVE005", INFO)]
    assert "soft-deleted vaults not checked: HTTP 403 AuthorizationFailed" in findings[0].message


def test_tenant_change_is_an_error(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    other = "66666666-6666-6666-6666-666666666666"
    findings = run(arm, [plan(policies=[pol(A, tenant=TENANT, secrets=["get"])], tenant_id=other)])
    assert "LIVE003" in rules(findings)
    f = next(f for f in findings if f.rule == "LIVE003")
    assert f.severity == ERROR and TENANT in f.message and other in f.message
    assert f.pointer == "/resources/1/properties/tenantId"


def test_rbac_vault_that_stays_rbac_is_info_only(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])], rbac=True)
    findings = run(arm, [plan(policies=[])])  # the template omits enableRbacAuthorization
    assert [(f.rule, f.severity) for f in findings] == [("LIVE006", INFO)]


def test_switch_to_rbac_lists_principals_needing_role_assignments(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, keys=["get"])])
    findings = run(arm, [plan(policies=[], decision=RBAC, enable_rbac=True)])
    assert rules(findings) == ["LIVE008"]
    assert A in findings[0].message and B in findings[0].message and findings[0].severity == WARNING


def test_switch_from_rbac_to_access_policies_is_a_warning(arm):
    arm.add_vault("kv-ml-prod", [], rbac=True)
    findings = run(arm, [plan(policies=[pol(A, secrets=["get"])], enable_rbac=False)])
    assert rules(findings) == ["LIVE008"] and "from Azure RBAC to access policies" in findings[0].message


# ------------------------------------------------------------------------- vaults/accessPolicies children


def test_add_replace_remove_children_are_applied_in_order(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get", "list", "set"]), entry(B, secrets=["get"]),
                                 entry(C, keys=["get", "list"]), entry(D, secrets=["get"])])
    children = (
        ChildOperation("add", (pol(B, secrets=["get"]),)),                     # B survives the PUT
        ChildOperation("replace", (pol(A, secrets=["get"]),)),                 # A reduced on purpose
        ChildOperation("add", (pol(C, keys=["get"]),)),                        # C comes back smaller
        ChildOperation("remove", (pol(D, secrets=["get"]),)),                  # D removed on purpose
    )
    findings = run(arm, [plan(policies=[pol(A, secrets=["get", "list", "set"])], children=children)])
    # A's replace and D's remove are what the template asks for; C lost keys:list through the PUT.
    assert rules(findings) == ["LIVE002"]
    assert C in findings[0].message and "keys:list" in findings[0].message


def test_children_on_a_vault_the_template_does_not_deploy(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    children = (ChildOperation("add", (pol(B, secrets=["get"]),)),)
    findings = run(arm, [plan(policies=None, decision=NOT_DEPLOYED, children=children)])
    assert rules(findings) == ["LIVE007"] and B in findings[0].message
    assert not any("deletedVaults" in r["path"] for r in arm.requests)


def test_remove_child_without_a_vault_put_drops_only_what_it_names(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get", "list"]), entry(B, secrets=["get"])])
    children = (ChildOperation("remove", (pol(A, secrets=["list"]),)),)
    findings = run(arm, [plan(policies=None, decision=NOT_DEPLOYED, children=children)])
    assert findings == []


def test_not_deployed_vault_without_children_is_never_fetched(arm):
    assert run(arm, [plan(policies=None, decision=NOT_DEPLOYED)]) == []
    assert arm.requests == []


def test_unresolvable_child_list_is_reported_as_unknown(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    findings = run(arm, [plan(policies=[pol(A, secrets=["get"])], children=(ChildOperation("add", None),))])
    assert rules(findings) == ["LIVE009"] and "accessPolicies/add" in findings[0].message


# ---------------------------------------------------------------------------------- uncertainty


def test_unknown_declared_list_is_info_with_the_count_today(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    findings = run(arm, [plan(policies=None, decision=UNKNOWN, note="parameter 'policies' has no value")])
    assert [(f.rule, f.severity) for f in findings] == [("LIVE009", INFO)]
    assert "parameter 'policies' has no value" in findings[0].message and "2 principal(s)" in findings[0].message


def test_missing_access_policies_is_not_compared(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    findings = run(arm, [plan(policies=None, decision=MISSING)])
    assert rules(findings) == ["LIVE009"] and "KV002" in findings[0].message


def test_unknown_condition_caps_dropped_at_warning(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    findings = run(arm, [plan(policies=[], condition="the condition `[parameters('newVault')]` cannot be evaluated")])
    assert [(f.rule, f.severity) for f in findings] == [("LIVE001", WARNING)]
    assert "(if deployed; the condition `[parameters('newVault')]` cannot be evaluated)" in findings[0].message


def test_principal_computed_at_deploy_time_caps_dropped_at_warning(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    computed = AccessPolicy(None, None, None, {"secrets": frozenset({"get"})},
                            object_id_expression="reference('ws').identity.principalId")
    findings = run(arm, [plan(policies=[computed])])
    dropped = next(f for f in findings if f.rule == "LIVE001")
    assert dropped.severity == WARNING and "reference('ws').identity.principalId" in dropped.message


def test_preserving_template_drops_nobody(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    findings = run(arm, [plan(policies=[pol(C, secrets=["get"])], decision=PRESERVING)])
    assert rules(findings) == ["LIVE007"] and C in findings[0].message


# ------------------------------------------------------------------------------- failures, bounded


def test_403_on_one_vault_is_reported_for_it_and_the_others_are_still_checked(arm):
    arm.add_vault("kv-a", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    arm.add_vault("kv-b", [entry(A, secrets=["get"])])
    arm.behaviour["kv-b"] = {"status": 403, "code": "AuthorizationFailed",
                             "message": "The client 'ci' does not have authorization to perform action "
                                        "'Microsoft.KeyVault/vaults/read'"}
    findings = run(arm, [plan("kv-a", [pol(A, secrets=["get"])]), plan("kv-b", [pol(A, secrets=["get"])])])
    assert rules(findings) == ["LIVE001", "LIVE010"]
    denied = next(f for f in findings if f.rule == "LIVE010")
    assert denied.severity == WARNING and "kv-b" in denied.message and "403 AuthorizationFailed" in denied.message
    assert "Reader" in denied.message and denied.data["vault"] == "kv-b"
    assert "kv-a" in next(f for f in findings if f.rule == "LIVE001").message


def test_live_required_makes_unavailable_an_error(arm):
    arm.behaviour["kv-ml-prod"] = {"status": 403, "code": "AuthorizationFailed"}
    findings = run(arm, [plan(policies=[])], required=True)
    assert [(f.rule, f.severity) for f in findings] == [("LIVE010", ERROR)]


def test_401_is_unavailable_with_the_reason(arm):
    findings = run(arm, [plan(policies=[])], credential=StaticToken("not-the-token"))
    assert rules(findings) == ["LIVE010"]
    assert "HTTP 401 InvalidAuthenticationToken" in findings[0].message and "not-the-token" not in findings[0].message


def test_a_server_echoing_the_token_never_gets_it_into_a_finding(arm):
    arm.behaviour["kv-ml-prod"] = {"status": 401, "code": "InvalidAuthenticationToken", "echo_auth": True}
    findings = run(arm, [plan(policies=[])])
    assert rules(findings) == ["LIVE010"]
    text = json.dumps([f.to_json() for f in findings])
    assert arm.token not in text and "Bearer ***" in text


def test_subscription_not_found(arm):
    findings = run(arm, [plan(policies=[])], subscription_id="12345678-0000-0000-0000-000000000000")
    assert rules(findings) == ["LIVE010"] and "subscription not found" in findings[0].message


def test_5xx_is_retried_then_reported(arm):
    arm.behaviour["kv-ml-prod"] = {"status": 500, "code": "InternalServerError"}
    findings = run(arm, [plan(policies=[])], retries=2)
    assert rules(findings) == ["LIVE010"]
    assert "HTTP 500" in findings[0].message and "after 3 attempts" in findings[0].message
    assert len(arm.gets("kv-ml-prod")) == 3


def test_transient_503_is_retried_and_the_vault_checked(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    arm.behaviour["kv-ml-prod"] = {"sequence": [503, 200]}
    findings = run(arm, [plan(policies=[pol(A, secrets=["get"])])])
    assert rules(findings) == ["LIVE001"] and B in findings[0].message
    assert len(arm.gets("kv-ml-prod")) == 2


def test_retry_after_is_capped(arm):
    arm.behaviour["kv-ml-prod"] = {"status": 503, "code": "ServerBusy"}
    start = time.monotonic()
    findings = run(arm, [plan(policies=[])], retries=1, max_backoff=0.2)
    assert rules(findings) == ["LIVE010"]
    assert time.monotonic() - start < 5


def test_read_timeout_is_bounded(arm):
    arm.add_vault("kv-ml-prod", [])
    arm.behaviour["kv-ml-prod"] = {"delay": 30}
    start = time.monotonic()
    findings = run(arm, [plan(policies=[])], read_timeout=0.5, retries=1)
    elapsed = time.monotonic() - start
    assert rules(findings) == ["LIVE010"] and "timed out" in findings[0].message
    assert elapsed < 8, elapsed


def test_whole_check_deadline_abandons_stuck_requests(arm):
    arm.add_vault("kv-ml-prod", [])
    arm.add_vault("kv-quick", [entry(A, secrets=["get"])])
    arm.behaviour["kv-ml-prod"] = {"delay": 30}
    start = time.monotonic()
    findings = run(arm, [plan(policies=[]), plan("kv-quick", [])], read_timeout=25, timeout=1.5)
    elapsed = time.monotonic() - start
    assert elapsed < 4, elapsed
    assert rules(findings) == ["LIVE001", "LIVE010"]
    assert "1.5s" in next(f for f in findings if f.rule == "LIVE010").message


def test_endpoint_down_is_unavailable(arm):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = dict(endpoint=f"https://127.0.0.1:{port}", scope=f"https://127.0.0.1:{port}/.default")
    start = time.monotonic()
    findings = run(arm, [plan(policies=[])], **settings)
    assert rules(findings) == ["LIVE010"] and "cannot reach" in findings[0].message
    assert "refused" in findings[0].message.lower() and time.monotonic() - start < 10


def test_untrusted_certificate_is_a_tls_failure(arm, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    arm.add_vault("kv-ml-prod", [])
    findings = run(arm, [plan(policies=[])])
    assert rules(findings) == ["LIVE010"] and "TLS" in findings[0].message
    assert arm.requests == []  # no request (and so no token) reached an unverified server


def test_ssl_cert_file_is_honoured(arm, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", arm.ca_path)
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    findings = run(arm, [plan(policies=[])])
    assert rules(findings) == ["LIVE001"]


def test_credential_failure_is_reported_once_per_vault_and_asked_once(arm):
    credential = StaticToken("x", fail=ClientAuthenticationError("AzureCliCredential: Please run 'az login'"))
    findings = run(arm, [plan("kv-a", []), plan("kv-b", []), plan("kv-c", [])], credential=credential)
    assert rules(findings) == ["LIVE010"] * 3
    assert all("no Azure credential" in f.message and "az login" in f.message for f in findings)
    assert credential.calls == 1 and arm.requests == []


def test_each_vault_is_fetched_once(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    credential = StaticToken(arm.token)
    plans = [plan(policies=[pol(A, secrets=["get"])], parameter_file="prod.parameters.json"),
             plan(policies=[pol(B, secrets=["get"])], parameter_file="prod2.parameters.json")]
    findings = run(arm, plans, credential=credential)
    assert len(arm.gets("kv-ml-prod")) == 1 and credential.calls == 1
    assert rules(findings) == ["LIVE001", "LIVE001"]
    assert {("prod.parameters.json" in f.message, B in f.message) for f in findings} == {(True, True), (False, False)}


def test_fetches_run_concurrently_and_bounded(arm):
    names = [f"kv-c{i}" for i in range(8)]
    for n in names:
        arm.add_vault(n, [])
        arm.behaviour[n] = {"delay": 0.3}
    start = time.monotonic()
    findings = run(arm, [plan(n, []) for n in names], concurrency=3)
    elapsed = time.monotonic() - start
    assert findings == [] and len(arm.requests) == 8
    assert arm.max_inflight == 3
    assert elapsed < 8 * 0.3  # not one after another


def test_nested_deployment_scope_overrides_the_target(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])], sub=OTHER_SUB, rg="rg-ml")
    arm.add_vault("kv-ml-prod", [entry(B, secrets=["get"])], rg="rg-other")
    findings = run(arm, [plan(policies=[], subscription_id=OTHER_SUB), plan(policies=[], resource_group="rg-other")])
    assert rules(findings) == ["LIVE001", "LIVE001"]
    by_sub = {f.data["subscription"]: f for f in findings}
    assert A in by_sub[OTHER_SUB].message and OTHER_SUB in by_sub[OTHER_SUB].message
    assert B in by_sub[SUB].message and "rg-other" in by_sub[SUB].message


def test_computed_name_needs_a_mapping(arm):
    arm.add_vault("kv-abc123", [entry(A, secrets=["get"])])
    computed = dict(name=None, name_expression="[concat('kv-', uniqueString(resourceGroup().id))]", policies=[])
    findings = run(arm, [plan(**computed)])
    assert rules(findings) == ["LIVE010"] and "--vault-name" in findings[0].message and arm.requests == []
    findings = run(arm, [plan(**computed)],
                   vault_names={"concat( 'kv-', uniqueString(resourceGroup().id) )": "kv-abc123"})
    assert rules(findings) == ["LIVE001"] and "kv-abc123" in findings[0].message
    assert "template name" in findings[0].message


def test_resolved_name_can_be_remapped(arm):
    arm.add_vault("kv-prod", [entry(A, secrets=["get"])])
    findings = run(arm, [plan("kv-dev", [])], vault_names={"kv-dev": "kv-prod"})
    assert rules(findings) == ["LIVE001"] and "'kv-prod'" in findings[0].message


def test_missing_resource_group_or_invalid_name_is_unavailable(arm):
    findings = run(arm, [plan(policies=[]), plan("bad_name!", [])], resource_group=None)
    assert rules(findings) == ["LIVE010", "LIVE010"]
    text = " ".join(f.message for f in findings)
    assert "--resource-group" in text and "not a valid Key Vault name" in text and arm.requests == []


def test_caller_is_pointed_out_when_it_would_be_dropped(arm):
    import base64

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    jwt = f"{b64({'alg': 'none'})}.{b64({'oid': B, 'tid': TENANT})}.sig"
    arm.token = jwt
    arm.add_vault("kv-ml-prod", [entry(B, secrets=["get"])])
    findings = run(arm, [plan(policies=[])], credential=StaticToken(jwt))
    assert rules(findings) == ["LIVE001"] and "the identity running this check" in findings[0].message
    assert jwt not in findings[0].message


# ------------------------------------------------------------------------------------- internals


def test_run_bounded_returns_in_order_and_times_out():
    release = threading.Event()
    tasks = [lambda: 1, lambda: release.wait(5) and 2, lambda: 3]
    start = time.monotonic()
    out = run_bounded(tasks, 2, time.monotonic() + 0.5, lambda i: f"timeout {i}")
    release.set()
    assert out == [1, "timeout 1", 3] and time.monotonic() - start < 2


def test_fetch_all_uses_the_raw_rest_json(arm):
    arm.add_vault("kv-ml-prod", [entry(A, keys=["get"], secrets=["get"])])
    states, _ = fetch_all([FetchRequest(VaultTarget(SUB, "rg-ml", "kv-ml-prod"))], settings_for(arm),
                          StaticToken(arm.token))
    (state,) = states.values()
    assert not isinstance(state, Unavailable)
    # camelCase REST keys whatever the SDK version's model classes call them.
    assert state.raw["properties"]["accessPolicies"][0]["permissions"]["keys"] == ["get"]
    assert state.raw["systemData"]["createdBy"] == "ci@contoso.com"


# ----------------------------------------------------------------------------- the engine's hook


TEMPLATE = """{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    {
      "type": "Microsoft.KeyVault/vaults",
      "apiVersion": "2023-07-01",
      "name": "kv-ml-prod",
      "location": "westeurope",
      "properties": {
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [
          {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
           "objectId": "11111111-1111-1111-1111-111111111111", "permissions": {"secrets": ["get"]}}
        ]
      }
    }
  ]
}
"""


def _project(tmp_path):
    (tmp_path / "main.json").write_text(TEMPLATE)
    (tmp_path / "environment.yml").write_text("dependencies:\n  - pip:\n      - numpy\n")
    return tmp_path


def _fixed_planner(doc, ctx):
    return [PlannedVault(path=doc.path, pointer="/resources/0", name="kv-ml-prod", decision=DECLARED,
                         policies=(pol(A, secrets=["get"]),), location="westeurope")]


def test_provider_findings_come_after_offline_rules_at_the_vault_position(arm, tmp_path):
    from preflight.engine import Options, scan
    from preflight.live.provider import LiveProvider

    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["list"])])
    project = _project(tmp_path)
    provider = LiveProvider(settings_for(arm), planner=_fixed_planner, credential=StaticToken(arm.token))
    result = scan([str(project)], Options(providers=(provider,)))
    live = [f for f in result.findings if f.rule.startswith("LIVE")]
    assert [f.rule for f in live] == ["LIVE001"] and B in live[0].message
    assert live[0].path.endswith("main.json") and (live[0].line, live[0].column) == (13, 9)
    assert any(f.rule == "ENV005" for f in result.findings)
    ignored = scan([str(project)], Options(ignore={"LIVE001"}, providers=(
        LiveProvider(settings_for(arm), planner=_fixed_planner, credential=StaticToken(arm.token)),)))
    assert not any(f.rule == "LIVE001" for f in ignored.findings)


def test_a_failing_provider_never_hides_offline_findings(tmp_path):
    from preflight.engine import Options, scan

    class Broken:
        name = "LIVE"

        def collect(self, doc, ctx):
            pass

        def finish(self, ctx):
            raise RuntimeError("provider blew up")

    result = scan([str(_project(tmp_path))], Options(providers=(Broken(),)))
    rules_found = {f.rule for f in result.findings}
    assert "ENV005" in rules_found and "PF003" in rules_found
    assert any("provider blew up" in f.message for f in result.findings if f.rule == "PF003")


def test_endpoint_down_keeps_offline_findings(arm, tmp_path):
    from preflight.engine import Options, scan
    from preflight.live.provider import LiveProvider

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = settings_for(arm, endpoint=f"https://127.0.0.1:{port}", scope=f"https://127.0.0.1:{port}/.default")
    provider = LiveProvider(settings, planner=_fixed_planner, credential=StaticToken(arm.token))
    result = scan([str(_project(tmp_path))], Options(providers=(provider,)))
    rules_found = sorted({f.rule for f in result.findings})
    assert "LIVE010" in rules_found and "ENV005" in rules_found


def test_no_azure_call_when_every_live_rule_is_deselected(arm, tmp_path):
    from preflight.engine import Options, scan
    from preflight.live.provider import LiveProvider

    arm.add_vault("kv-ml-prod", [entry(B, secrets=["get"])])
    provider = LiveProvider(settings_for(arm), planner=_fixed_planner, credential=StaticToken(arm.token))
    result = scan([str(_project(tmp_path))], Options(select={"ENV"}, providers=(provider,)))
    assert arm.requests == [] and "ENV005" in {f.rule for f in result.findings}
    assert not any(f.rule.startswith("LIVE") for f in result.findings)


def test_inline_suppression_on_the_vault_hides_a_live_finding(arm, tmp_path):
    from preflight.engine import Options, scan
    from preflight.live.provider import LiveProvider

    data = json.loads(TEMPLATE)
    data["resources"][0]["metadata"] = {"preflight": {"ignore": ["LIVE001"]}}
    (tmp_path / "main.json").write_text(json.dumps(data, indent=2))
    arm.add_vault("kv-ml-prod", [entry(B, secrets=["get"])])
    provider = LiveProvider(settings_for(arm), planner=_fixed_planner, credential=StaticToken(arm.token))
    result = scan([str(tmp_path)], Options(providers=(provider,)))
    live = sorted(f.rule for f in result.findings if f.rule.startswith(("LIVE", "PF")))
    assert live == ["LIVE007"]  # LIVE001 hidden; the suppression counts as used (no PF004)


# ------------------------------------------------------------- through the template model (adapter)

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def _vault(name, policies, **props):
    body = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": name, "location": "westeurope",
            "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                           **({"accessPolicies": policies} if policies is not None else {}), **props}}
    return body


def _policy(oid, *secrets):
    return {"tenantId": "[subscription().tenantId]", "objectId": oid, "permissions": {"secrets": list(secrets)}}


def _scan_template(arm, tmp_path, template, **settings):
    from preflight.engine import Options, scan
    from preflight.live.provider import LiveProvider

    template = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", **template}
    (tmp_path / "main.json").write_text(json.dumps(template, indent=2))
    provider = LiveProvider(settings_for(arm, **settings), credential=StaticToken(arm.token))
    result = scan([str(tmp_path)], Options(providers=(provider,)))
    assert not [f.message for f in result.findings if f.rule == "PF003"]
    return [f for f in result.findings if f.rule.startswith("LIVE")]


def test_adapter_nested_deployment_resource_group(arm, tmp_path):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])], rg="rg-other")
    nested = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "vault",
              "resourceGroup": "rg-other",
              "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                             "template": {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
                                          "resources": [_vault("kv-ml-prod", [_policy(A, "get")])]}}}
    findings = _scan_template(arm, tmp_path, {"resources": [nested]})
    assert [f.rule for f in findings] == ["LIVE001"] and B in findings[0].message
    assert findings[0].data["resourceGroup"] == "rg-other" and findings[0].pointer.startswith("/resources/0")


def test_adapter_add_child_for_a_vault_the_template_does_not_deploy(arm, tmp_path):
    arm.add_vault("kv-shared", [entry(A, secrets=["get"])])
    child = {"type": "Microsoft.KeyVault/vaults/accessPolicies", "apiVersion": "2023-07-01",
             "name": "[concat(parameters('vaultName'), '/add')]",
             "properties": {"accessPolicies": [_policy(C, "get", "list")]}}
    template = {"parameters": {"vaultName": {"type": "string", "defaultValue": "kv-shared"}}, "resources": [child]}
    findings = _scan_template(arm, tmp_path, template)
    assert [f.rule for f in findings] == ["LIVE007"] and C in findings[0].message
    arm.vaults.clear()
    findings = _scan_template(arm, tmp_path, template)
    assert [(f.rule, f.severity) for f in findings] == [("LIVE011", WARNING)]
    assert "accessPolicies/add" in findings[0].message and "does not exist" in findings[0].message


def test_adapter_parameter_guarded_vault_caps_at_warning(arm, tmp_path):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"])])
    vault = dict(_vault("kv-ml-prod", []), condition="[equals(parameters('vaultOption'), 'new')]")
    template = {"parameters": {"vaultOption": {"type": "string", "defaultValue": "new"}}, "resources": [vault]}
    findings = _scan_template(arm, tmp_path, template)
    assert [(f.rule, f.severity) for f in findings] == [("LIVE001", WARNING)]
    assert "vaultOption" in findings[0].message


def test_adapter_rbac_and_unknown_branches(arm, tmp_path):
    arm.add_vault("kv-rbac", [entry(A, secrets=["get"])])
    arm.add_vault("kv-param", [entry(A, secrets=["get"])])
    template = {"parameters": {"policies": {"type": "array"}},
                "resources": [_vault("kv-rbac", [], enableRbacAuthorization=True),
                              _vault("kv-param", "[parameters('policies')]")]}
    findings = _scan_template(arm, tmp_path, template)
    assert sorted((f.rule, f.data["vault"]) for f in findings) == [("LIVE008", "kv-rbac"), ("LIVE009", "kv-param")]
    assert "policies" in next(f.message for f in findings if f.rule == "LIVE009")


# ------------------------------------------------------------------------------ clouds, endpoints


def test_clouds_and_private_endpoints():
    gov = LiveSettings.build(cloud="AzureUSGovernment")
    assert gov.endpoint == "https://management.usgovcloudapi.net"
    assert gov.scope == "https://management.core.usgovcloudapi.net/.default"
    assert gov.authority == "login.microsoftonline.us"
    private = LiveSettings.build(arm_endpoint="https://management.local.azurestack.external/")
    assert private.endpoint == "https://management.local.azurestack.external"
    assert private.scope == "https://management.local.azurestack.external/.default" and private.authority is None
    mixed = LiveSettings.build(cloud="china", arm_endpoint="https://arm.example.cn")
    assert mixed.endpoint == "https://arm.example.cn" and mixed.scope == "https://management.chinacloudapi.cn/.default"
    assert LiveSettings.build().endpoint == "https://management.azure.com"
    for bad in (dict(cloud="Mars"), dict(arm_endpoint="http://insecure.example"), dict(arm_endpoint="ftp://x"),
                dict(arm_endpoint=""), dict(arm_endpoint="   "), dict(cloud=""), dict(arm_endpoint="https://"),
                dict(arm_endpoint="https://arm.example?x"), dict(arm_endpoint="https://user:pw@arm.example"),
                dict(arm_endpoint="https://arm.example:port")):
        with pytest.raises(ValueError) as raised:
            LiveSettings.build(**bad)
        assert "pw" not in str(raised.value)


def test_a_vault_target_holds_only_valid_segments():
    from preflight.live.fetch import read_path

    for sub, group, name in ((SUB, "..", "kv-a"), (SUB, "a/../b", "kv-a"), ("..", "rg", "kv-a"), (SUB, "rg", "../x"),
                             (SUB, "rg.", "kv-a"), (SUB, "", "kv-a"), (SUB, "rg\n", "kv-a")):
        with pytest.raises(ValueError):
            VaultTarget(sub, group, name)
    assert VaultTarget(SUB.upper(), "RG_(1).x", "KV-A").key() == (SUB, "rg_(1).x", "kv-a")
    base = "https://arm.example"
    assert read_path(base, f"{base}{vault_path('kv-a')}?api-version=1")
    assert read_path(base + "/", f"{base}/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/westeurope/"
                                 "deletedVaults/kv-a")
    for url in (f"https://other.example{vault_path('kv-a')}", f"http://arm.example{vault_path('kv-a')}",
                f"https://arm.example:444{vault_path('kv-a')}",
                f"{base}/subscriptions/{SUB}/providers/Microsoft.Web/sites",
                f"{base}{vault_path('kv-a', rg='..')}", f"{base}{vault_path('kv-a', rg='a%2F..')}",
                f"{base}{vault_path('kv-a')}/secrets",
                f"{base}/subscriptions/{SUB}/providers/Microsoft.KeyVault/register"):
        assert not read_path(base, url), url


def test_custom_endpoint_token_is_requested_for_its_scope(arm):
    arm.add_vault("kv-ml-prod", [])
    credential = StaticToken(arm.token)
    run(arm, [plan(policies=[])], credential=credential)
    assert credential.scopes == (arm.url + "/.default",)


def test_adapter_preserving_switch_follows_the_parameters(arm, tmp_path):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    policies = ("[if(parameters('vaultExists'), reference(resourceId('Microsoft.KeyVault/vaults', 'kv-ml-prod'), "
                "'2019-09-01').accessPolicies, createArray())]")
    template = {"parameters": {"vaultExists": {"type": "bool", "defaultValue": False}},
                "resources": [_vault("kv-ml-prod", policies)]}
    # With vaultExists=false (its default) the vault PUT carries [], though the vault exists.
    findings = _scan_template(arm, tmp_path, template)
    assert sorted(f.rule for f in findings) == ["LIVE001", "LIVE001"]
    # With vaultExists=true the live list is re-applied: nobody is dropped.
    template["parameters"]["vaultExists"]["defaultValue"] = True
    assert _scan_template(arm, tmp_path, template) == []


def test_no_azure_call_when_the_files_configuration_ignores_live(arm, tmp_path):
    from preflight.config import Configs
    from preflight.engine import Options, scan
    from preflight.live.provider import LiveProvider

    arm.add_vault("kv-ml-prod", [entry(B, secrets=["get"])])
    project = _project(tmp_path)
    (project / ".preflight.toml").write_text('ignore = ["LIVE"]\n')
    provider = LiveProvider(settings_for(arm), planner=_fixed_planner, credential=StaticToken(arm.token))
    result = scan([str(project)], Options(configs=Configs(None), providers=(provider,)))
    assert arm.requests == [] and not any(f.rule.startswith("LIVE") for f in result.findings)
    (project / ".preflight.toml").write_text('ignore = ["LIVE007"]\n')
    provider = LiveProvider(settings_for(arm), planner=_fixed_planner, credential=StaticToken(arm.token))
    result = scan([str(project)], Options(configs=Configs(None), providers=(provider,)))
    assert [f.rule for f in result.findings if f.rule.startswith("LIVE")] == ["LIVE001"]


# ------------------------------------------------------------ hostile scopes and hostile answers


def vault_path(name, rg="rg-ml", sub=SUB):
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}"


def _nested(scope, vault):
    return {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "vault", **scope,
            "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                           "template": {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [vault]}}}


@pytest.mark.parametrize("scope, refused", [
    ({"resourceGroup": ".."}, "resource group '..'"),
    ({"resourceGroup": "a/../../b"}, "resource group 'a/../../b'"),
    ({"resourceGroup": "."}, "resource group '.'"),
    ({"resourceGroup": "rg-ml%2F.."}, "resource group 'rg-ml%2F..'"),
    ({"resourceGroup": "rg-ml."}, "resource group 'rg-ml.'"),
    ({"resourceGroup": "x" * 91}, "resource group 'xxxx"),
    ({"subscriptionId": "..", "resourceGroup": "rg-ml"}, "subscription '..'"),
    ({"subscriptionId": f"{SUB}/../..", "resourceGroup": "rg-ml"}, "subscription"),
])
def test_nested_scope_that_is_no_valid_segment_is_never_requested(arm, tmp_path, scope, refused):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    arm.add_vault("kv-top", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    template = {"resources": [_vault("kv-top", [_policy(A, "get")]),
                              _nested(scope, _vault("kv-ml-prod", [_policy(A, "get")]))]}
    findings = _scan_template(arm, tmp_path, template)
    # The valid vault was read, and nothing else was requested: no path but the vault's own.
    assert [r["path"] for r in arm.requests] == [vault_path("kv-top")]
    assert sorted(f.rule for f in findings) == ["LIVE001", "LIVE010"]
    skipped = next(f for f in findings if f.rule == "LIVE010")
    assert refused in skipped.message and "not requested" in skipped.message
    assert skipped.pointer.startswith("/resources/1") and "\n" not in skipped.message


def test_scope_segments_are_checked_whatever_their_source(arm):
    from urllib.parse import quote

    group = "rg(1)_é-.a"  # Unicode letters, parentheses and inner dots are all valid
    findings = run(arm, [plan(policies=[], resource_group=".."), plan("kv-two", [], subscription_id="../x"),
                         plan("kv-three", [], resource_group=group)])
    assert [r["path"] for r in arm.requests] == [
        vault_path("kv-three", quote(group, safe="")),
        f"/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/westeurope/deletedVaults/kv-three"]
    assert rules(findings) == ["LIVE005", "LIVE010", "LIVE010"]
    skipped = " | ".join(f.message for f in findings if f.rule == "LIVE010")
    assert "resource group '..'" in skipped and "subscription '../x'" in skipped
    # The command line's target goes through the same check.
    arm.requests.clear()
    findings = run(arm, [plan(policies=[])], resource_group="a/../../b")
    assert rules(findings) == ["LIVE010"] and arm.requests == []
    findings = run(arm, [plan(policies=[])], subscription_id="not-a-guid")
    assert rules(findings) == ["LIVE010"] and arm.requests == []


def test_a_location_that_is_no_segment_looks_in_every_location(arm):
    arm.add_deleted("kv-gone")
    findings = run(arm, [plan("kv-gone", [], location="../../../x")])
    assert rules(findings) == ["LIVE004", "LIVE005"]
    assert [r["path"] for r in arm.requests] == [
        vault_path("kv-gone"), f"/subscriptions/{SUB}/providers/Microsoft.KeyVault/deletedVaults"]


HUGE = 300 * 1024 * 1024


@pytest.mark.parametrize("stream", [
    dict(length=HUGE, framing="length"),
    dict(length=None, framing="chunked"),
    dict(length=None, framing="close"),
    dict(length=HUGE, framing="chunked", gzip=True),
    dict(length=None, framing="chunked", status=403),
], ids=["content-length", "endless-chunked", "until-close", "gzip", "error-answer"])
def test_an_answer_over_the_cap_is_cut_off_and_reported(arm, stream):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    arm.behaviour["kv-huge"] = {"stream": stream}
    start = time.monotonic()
    findings = run(arm, [plan("kv-huge", []), plan(policies=[pol(A, secrets=["get"])])])
    assert time.monotonic() - start < 15
    assert rules(findings) == ["LIVE001", "LIVE010"]  # the other vault is still checked
    (skipped,) = [f for f in findings if f.rule == "LIVE010"]
    assert "live answer too large" in skipped.message and "4 MiB" in skipped.message
    # Read no further than the cap (plus what the socket buffers held), and only once: no retry.
    assert arm.sent.get("kv-huge", 0) < 64 * 1024 * 1024
    assert len(arm.gets("kv-huge")) == 1


def test_an_answer_under_the_cap_is_read(arm):
    policies = [entry(f"{i:08d}-0000-0000-0000-000000000000", secrets=["get"]) for i in range(1000)]
    arm.add_vault("kv-ml-prod", policies)
    findings = run(arm, [plan(policies=[])])
    assert rules(findings) == ["LIVE001"] * 1000


def test_server_strings_reach_a_finding_as_one_escaped_line(arm):
    forged = "Denied\n::error::forged\x1b[31m\u202e"
    arm.behaviour["kv-locked"] = {"status": 403, "code": forged, "message": "no access\r\n::warning::x" + "y" * 5000}
    arm.add_vault("kv-ml-prod", [entry("oid\n::error::forged\x1b]0;title\x07", secrets=["get\nx"])])
    findings = run(arm, [plan("kv-locked", []), plan(policies=[])])
    assert rules(findings) == ["LIVE001", "LIVE010"]
    for f in findings:
        assert f.message.isprintable() and len(f.message) < 1000, f.message
        assert all(text.isprintable() for text in _strings(f.data)), f.data
    locked = next(f for f in findings if f.rule == "LIVE010").message
    assert "HTTP 403 Denied\\n::error::forged\\x1b[31m\\u202e" in locked and "no access\\r\\n::warning::x" in locked
    dropped = next(f for f in findings if f.rule == "LIVE001")
    assert "oid\\n::error::forged\\x1b]0;title\\x07" in dropped.message and "get\\nx" in dropped.message
    assert dropped.data["objectId"] == "oid\\n::error::forged\\x1b]0;title\\x07"


def _strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_an_implausible_number_of_live_policies_is_not_reported_one_by_one(arm):
    arm.add_vault("kv-ml-prod", [entry(f"oid-{i}") for i in range(5000)])
    findings = run(arm, [plan(policies=[])])
    assert rules(findings) == ["LIVE010"] and "5000 access policies" in findings[0].message


def test_only_the_vault_reads_are_ever_sent_whatever_the_server_answers(arm):
    """A nextLink or redirect to another host or path, or the SDK's provider registration
    (a POST after a 409), is refused before it leaves the process, with the token."""
    other_host = arm.url.replace("127.0.0.1", "localhost")
    arm.add_deleted("kv-one", location="northeurope")
    arm.add_deleted("kv-two", location="northeurope")
    arm.behaviour["*deleted-list*"] = {"next": f"{other_host}/subscriptions/{SUB}/providers/Microsoft.KeyVault/"
                                               "deletedVaults?api-version=x&$skiptoken=1"}
    arm.behaviour["kv-moved"] = {"redirect": f"{arm.url}/subscriptions/{SUB}/providers/Microsoft.Web/sites"}
    arm.behaviour["kv-away"] = {"redirect": f"{other_host}{vault_path('kv-away')}"}
    arm.behaviour["kv-unreg"] = {"status": 409, "code": "MissingSubscriptionRegistration",
                                 "message": "The subscription is not registered to use namespace 'Microsoft.KeyVault'."}
    findings = run(arm, [plan("kv-two", [], location=None), plan("kv-moved", []), plan("kv-away", []),
                         plan("kv-unreg", [])])
    assert [r["method"] for r in arm.requests] == ["GET"] * len(arm.requests)
    assert sorted(r["path"] for r in arm.requests) == sorted([
        vault_path("kv-two"), f"/subscriptions/{SUB}/providers/Microsoft.KeyVault/deletedVaults",
        vault_path("kv-moved"), vault_path("kv-away"), vault_path("kv-unreg")])
    by_text = " | ".join(f.message for f in findings)
    assert rules(findings) == ["LIVE005", "LIVE010", "LIVE010", "LIVE010"]
    assert by_text.count("a request the live check never makes") == 4, by_text
    assert "POST" in by_text and "Microsoft.Web/sites" in by_text and "localhost" in by_text
    assert arm.token not in by_text
    # The same paths on the endpoint itself are followed as before.
    arm.requests.clear()
    del arm.behaviour["*deleted-list*"]
    assert rules(run(arm, [plan("kv-two", [], location=None)])) == ["LIVE004", "LIVE005"]
