"""`preflight scan --live` end to end: the CLI in a subprocess, the production credential path
(`DefaultAzureCredential` narrowed by `AZURE_TOKEN_CREDENTIALS=AzureCliCredential`) answered by a
stand-in `az` on PATH, TLS trust from `REQUESTS_CA_BUNDLE`, and the fake ARM of test_live.py.
"""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import FIXTURES, run_cli

pytest.importorskip("azure.mgmt.keyvault")
pytest.importorskip("azure.identity")
pytest.importorskip("trustme")

import test_live  # noqa: E402
from test_live import A, B, SUB, entry, plan, pol, rules, settings_for  # noqa: E402

# the fake ARM's fixtures, shared with test_live.py (pytest finds a fixture by its module-level name)
_server = test_live._server
arm = test_live.arm

from preflight.live.provider import check  # noqa: E402

LIVE = FIXTURES / "live"


def write_fake_az(directory, token, log, logged_in=True):
    """An `az` that answers `az account get-access-token` the way Azure CLI 2.x does."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "az"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys, time, datetime
        with open({str(log)!r}, "a") as f:
            f.write(json.dumps(sys.argv[1:]) + "\\n")
        args = sys.argv[1:]
        if args[:2] != ["account", "get-access-token"] or "--resource" not in args:
            sys.stderr.write("ERROR: unexpected arguments\\n")
            sys.exit(2)
        if not {logged_in!r}:
            sys.stderr.write("ERROR: Please run 'az login' to setup account.\\n")
            sys.exit(1)
        expires = int(time.time()) + 3600
        print(json.dumps({{
            "accessToken": {token!r},
            "expiresOn": datetime.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "expires_on": expires,
            "subscription": {SUB!r},
            "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "tokenType": "Bearer",
        }}, indent=2))
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def az_env(tmp_path, arm, logged_in=True):
    log = tmp_path / "az-calls.log"
    bindir = tmp_path / "bin"
    write_fake_az(bindir, arm.token, log, logged_in)
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
        "REQUESTS_CA_BUNDLE": arm.ca_path,
        "NO_PROXY": "127.0.0.1,localhost",
        "AZURE_CONFIG_DIR": str(tmp_path / "azconfig"),
    }
    return env, log


def az_calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# ------------------------------------------------------------------ the production credential path


def test_default_credential_gets_its_token_from_az(arm, tmp_path, monkeypatch):
    env, log = az_env(tmp_path, arm)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get"]), entry(B, secrets=["get"])])
    arm.add_vault("kv-ml-other", [entry(A, secrets=["get"])])
    findings = check([plan(policies=[pol(A, secrets=["get"])]), plan("kv-ml-other", [pol(A, secrets=["get"])])],
                     settings_for(arm))  # no credential given: DefaultAzureCredential
    assert rules(findings) == ["LIVE001"] and B in findings[0].message
    calls = az_calls(log)
    # One `az` run for both vaults, asked for the custom endpoint's scope.
    assert calls == [["account", "get-access-token", "--output", "json", "--resource", arm.url]]
    assert all(r["auth"] == f"Bearer {arm.token}" for r in arm.requests)


def test_az_not_logged_in_is_live010_naming_az_login(arm, tmp_path, monkeypatch):
    env, log = az_env(tmp_path, arm, logged_in=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    findings = check([plan(policies=[]), plan("kv-two", [])], settings_for(arm))
    assert rules(findings) == ["LIVE010", "LIVE010"]
    assert all("no Azure credential" in f.message and "az login" in f.message for f in findings)
    assert len(az_calls(log)) == 1 and arm.requests == []


# ------------------------------------------------------------------------------------- the CLI


def test_scan_without_live_never_imports_azure(tmp_path):
    code = ("import json, os, sys\n"
            "from preflight.cli import main\n"
            f"rc = main(['scan', {str(FIXTURES / 'demo')!r}, '--output', os.devnull])\n"
            "print(json.dumps([rc, sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'))]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    rc, azure_modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rc in (0, 1) and azure_modules == []


def test_live_without_the_extra_exits_2_with_the_install_command(tmp_path):
    # A regular `azure` package first on sys.path hides the installed namespace packages, exactly
    # as if azure-mgmt-keyvault and azure-identity were not installed.
    (tmp_path / "azure").mkdir()
    (tmp_path / "azure" / "__init__.py").write_text("")
    env = {"PYTHONPATH": str(tmp_path), "AZURE_SUBSCRIPTION_ID": SUB}
    proc = run_cli("scan", str(FIXTURES / "demo"), "--live", env=env)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'azureml-preflight[live]'" in proc.stderr and "Traceback" not in proc.stderr
    # Without --live the same environment scans normally.
    assert run_cli("scan", str(FIXTURES / "demo"), env=env).returncode in (0, 1)


@pytest.mark.parametrize("args, message", [
    ([], "--subscription"),
    (["--subscription", SUB, "--arm-endpoint", "http://127.0.0.1:1"], "https://"),
    (["--subscription", SUB, "--cloud", "Mars"], "unknown cloud"),
    (["--subscription", SUB, "--vault-name", "kv-x"], "TEMPLATE_NAME=LIVE_NAME"),
    (["--subscription", SUB, "--vault-name", "kv-x=not_a_vault!"], "not a Key Vault name"),
    (["--subscription", SUB, "--live-timeout", "0"], "--live-timeout"),
    (["--subscription", SUB, "--live-timeout", "inf"], "--live-timeout"),
    # Given but empty is an error, never the public cloud by default.
    (["--subscription", SUB, "--arm-endpoint", ""], "--arm-endpoint must be an https:// URL (it is empty)"),
    (["--subscription", SUB, "--arm-endpoint", "https://arm.example/?x=1"], "query"),
    (["--subscription", SUB, "--cloud", ""], "unknown cloud"),
    (["--subscription", ""], "--subscription"),
    (["--subscription", "../x"], "--subscription '../x' is not valid (a subscription id is a GUID)"),
    (["--subscription", SUB, "--resource-group", ".."], "--resource-group '..' is not valid"),
    (["--subscription", SUB, "--resource-group", "a/../../b"], "--resource-group 'a/../../b' is not valid"),
])
def test_live_usage_errors_exit_2(args, message):
    env = {"AZURE_SUBSCRIPTION_ID": ""}
    proc = run_cli("scan", str(FIXTURES / "demo"), "--live", *args, env=env)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stdout == ""


def test_an_invalid_subscription_in_the_environment_is_a_usage_error():
    proc = run_cli("scan", str(FIXTURES / "demo"), "--live", env={"AZURE_SUBSCRIPTION_ID": "nope"})
    assert proc.returncode == 2 and "AZURE_SUBSCRIPTION_ID 'nope' is not valid" in proc.stderr


# ------------------------------------------------------------------------------ end to end

C = "44444444-4444-4444-4444-444444444444"
AGENT = "55555555-5555-5555-5555-555555555555"  # granted by the template's `kv-ml-prod/add`
COMPUTED = "concat('kv-', uniqueString(resourceGroup().id))"


def _live_args(url, *extra):
    return ("--live", "--subscription", SUB, "--resource-group", "rg-ml", "--arm-endpoint", url,
            "--vault-name", f"{COMPUTED}=kv-computed", *extra)


def _serve_workspace(arm):
    arm.add_vault("kv-ml-prod", [entry(A, secrets=["get", "list"]), entry(B, keys=["get"], secrets=["get", "set"])])
    arm.add_vault("kv-ml-locked", [entry(A, secrets=["get"])])
    arm.behaviour["kv-ml-locked"] = {"status": 403, "code": "AuthorizationFailed",
                                     "message": "no Microsoft.KeyVault/vaults/read"}
    arm.add_vault("kv-computed", [entry(A, secrets=["get", "list"]), entry(C, secrets=["get"])])


def _by_vault(report):
    out = {}
    for f in report["findings"]:
        if not f["rule"].startswith("LIVE"):
            continue
        vault = (f.get("data") or {}).get("vault")
        out.setdefault(vault, []).append((f["rule"], f["severity"]))
    return out


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the stand-in az is a POSIX script")
def test_scan_live_end_to_end_through_az_and_https(arm, tmp_path):
    _serve_workspace(arm)
    env, log = az_env(tmp_path, arm)
    proc = run_cli("scan", str(LIVE / "workspace"), "--format", "json", *_live_args(arm.url), env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert not [f for f in report["findings"] if f["rule"] == "PF003"]
    live = [f for f in report["findings"] if f["rule"].startswith("LIVE")]
    by_vault = _by_vault(report)
    # Template keeps A; the live vault also has B: B is named, with its permissions, and A is not.
    dropped = [f for f in live if f["rule"] == "LIVE001"]
    assert [f["data"]["vault"] for f in dropped] == ["kv-ml-prod", "kv-computed"]
    assert B in dropped[0]["message"] and "keys:get; secrets:get,set" in dropped[0]["message"]
    assert A not in dropped[0]["message"] and dropped[0]["severity"] == "error"
    assert dropped[0]["pointer"] == "/resources/0/properties/accessPolicies" and dropped[0]["line"] == 29
    assert C in dropped[1]["message"] and "template name" in dropped[1]["message"]
    # The template's `add` resource grants the build agent: reported as added, not dropped.
    assert ("LIVE007", "info") in by_vault["kv-ml-prod"] and AGENT in json.dumps(by_vault) + proc.stdout
    # A vault that does not exist yet: info, no error.
    assert by_vault["kv-ml-new"] == [("LIVE005", "info")]
    # A 403 on one vault is reported for that vault; the others were still checked.
    assert ("LIVE010", "warning") in by_vault["kv-ml-locked"]
    assert "403 AuthorizationFailed" in next(f["message"] for f in live if f["rule"] == "LIVE010")
    assert proc.returncode == 1
    # The production credential path: one `az account get-access-token` for the endpoint's scope.
    assert az_calls(log) == [["account", "get-access-token", "--output", "json", "--resource", arm.url]]
    # The token went to the server and nowhere else.
    assert all(r["auth"] == f"Bearer {arm.token}" for r in arm.requests)
    assert arm.token not in proc.stdout and arm.token not in proc.stderr


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the stand-in az is a POSIX script")
def test_scan_live_text_report_never_shows_the_token(arm, tmp_path):
    _serve_workspace(arm)
    arm.behaviour["kv-ml-locked"] = {"status": 401, "code": "InvalidAuthenticationToken", "echo_auth": True}
    env, _ = az_env(tmp_path, arm)
    proc = run_cli("scan", str(LIVE / "workspace"), *_live_args(arm.url), env=env)
    assert "LIVE010" in proc.stdout and "LIVE001" in proc.stdout
    assert arm.token not in proc.stdout and arm.token not in proc.stderr


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the stand-in az is a POSIX script")
def test_scan_live_endpoint_down_keeps_offline_findings(arm, tmp_path):
    env, _ = az_env(tmp_path, arm)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{s.getsockname()[1]}"
    start = time.monotonic()
    proc = run_cli("scan", str(LIVE / "workspace"), "--format", "json", *_live_args(dead), env=env)
    assert time.monotonic() - start < 60
    report = json.loads(proc.stdout)
    unavailable = [f for f in report["findings"] if f["rule"] == "LIVE010"]
    assert len(unavailable) == 4 and all(f["severity"] == "warning" for f in unavailable)
    assert all("cannot reach" in f["message"] for f in unavailable)
    # The offline Key Vault findings are all still there (kv-ml-locked's `accessPolicies: []`).
    assert any(f["rule"] == "KV001" and f["pointer"].startswith("/resources/3") for f in report["findings"])
    assert proc.returncode == 1
    required = run_cli("scan", str(LIVE / "workspace"), "--format", "json", *_live_args(dead, "--live-required"),
                       env=env)
    assert {f["severity"] for f in json.loads(required.stdout)["findings"] if f["rule"] == "LIVE010"} == {"error"}


# ------------------------------------------------------------------------------ hostile answers


# The child reports its own peak (VmHWM of the program it runs): ru_maxrss of a forked child
# starts from the parent's resident size at the fork, so it would count the test run's memory.
_REPORT_PEAK = """
import atexit, runpy, sys
peak_file = sys.argv.pop(1)
def _peak():
    with open("/proc/self/status") as status, open(peak_file, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_peak)
sys.argv[0] = "preflight"
runpy.run_module("preflight", run_name="__main__", alter_sys=True)
"""


def run_measured(args, env, timeout=120):
    """`preflight ARGS` in a subprocess: (returncode, stdout, stderr, peak RSS in bytes, seconds)."""
    import tempfile

    full_env = dict(os.environ, NO_COLOR="1", **env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", _REPORT_PEAK, peak.name, *args], env=full_env, stdout=out,
                              stderr=err, stdin=subprocess.DEVNULL, timeout=timeout)
        elapsed = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(), int(peak.read()) * 1024, elapsed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is read from /proc")
@pytest.mark.parametrize("stream", [dict(length=300 * 1024 * 1024, framing="length"),
                                    dict(length=None, framing="chunked")], ids=["300MB", "endless-chunked"])
def test_a_huge_answer_is_cut_off_with_bounded_memory(arm, tmp_path, stream):
    _serve_workspace(arm)
    arm.behaviour["kv-ml-prod"] = {"stream": stream}
    env, _ = az_env(tmp_path, arm)
    rc, out, err, peak, elapsed = run_measured(
        ["scan", str(LIVE / "workspace"), "--format", "json", *_live_args(arm.url, "--live-timeout", "60")], env)
    assert "Traceback" not in err, err
    assert elapsed < 45 and peak < 300 * 1024 * 1024, (elapsed, peak)
    report = json.loads(out)
    (cut,) = [f for f in report["findings"] if f["rule"] == "LIVE010" and f["data"].get("vault") == "kv-ml-prod"]
    assert "live answer too large" in cut["message"] and cut["severity"] == "warning"
    assert arm.sent.get("kv-ml-prod", 0) < 64 * 1024 * 1024
    # The other vaults were still checked.
    assert [f["data"]["vault"] for f in report["findings"] if f["rule"] == "LIVE001"] == ["kv-computed"]
    assert rc == 1


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the stand-in az is a POSIX script")
def test_a_forged_error_code_stays_one_escaped_line_in_every_output(arm, tmp_path):
    _serve_workspace(arm)
    arm.behaviour["kv-ml-locked"] = {"status": 403, "code": "Denied\n::error::forged\x1b[2J",
                                     "message": "no\r\n::warning file=x::forged\x1b]0;t\x07"}
    env, _ = az_env(tmp_path, arm)
    for fmt in ("github", "text"):
        proc = run_cli("scan", str(LIVE / "workspace"), "--format", fmt, *_live_args(arm.url), env=env)
        assert "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stdout.splitlines()
        (line,) = [x for x in lines if "LIVE010" in x and "kv-ml-locked" in x]
        assert "HTTP 403 Denied\\n::error::forged\\x1b[2J" in line and "::warning file=x::forged\\x1b]0;t\\x07" in line
        assert "\x1b" not in proc.stdout and "\r" not in proc.stdout
        assert not [x for x in lines if x.startswith(("::error::forged", "::warning file=x"))]
