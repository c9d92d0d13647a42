"""Command line: `preflight scan|rules|rule|fix|merge`. Exit codes: 0 clean, 1 findings, 2 usage error."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import __version__

if TYPE_CHECKING:
    from .contract import Options
    from .deploy.capacity import DeclaredLoad

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FAIL_ON = ("error", "warning", "info", "never")
# The default fails a run on errors alone: findings that break a deployment or wipe access (KV001,
# KV019 from its date, PF001...); warnings (hygiene: open network KV015, unpinned ENV004/ENV005)
# are reported without failing. `fail-on = "warning"` restores the stricter gate.
DEFAULT_FAIL_ON = "error"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 already; keep its message short and clear
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"preflight: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .report import FORMATS

    parser = _Parser(prog="preflight", description="Lint Azure ML infrastructure-as-code before deploying.")
    parser.add_argument("--version", action="version", version=f"preflight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = sub.add_parser("scan", help="scan files and folders (default: .)")
    scan.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    scan.add_argument("--format", default="text", choices=FORMATS,
                      help="report format: text, json, sarif (code scanning), junit (CI test reports), "
                           "github (workflow annotations)")
    scan.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    scan.add_argument("--select", metavar="IDS", help="only these rules (comma-separated ids or prefixes)")
    scan.add_argument("--ignore", metavar="IDS", help="skip these rules (comma-separated ids or prefixes)")
    scan.add_argument("--fail-on", choices=FAIL_ON, default=None,
                      help="lowest severity that makes the exit code 1 (default: error, what breaks a "
                      "deployment; warnings are reported without failing)")
    scan.add_argument("--config", metavar="FILE", help="configuration file (default: nearest "
                      ".preflight.toml or pyproject.toml with [tool.preflight])")
    scan.add_argument("--baseline", metavar="FILE", help="hide the findings recorded in FILE; report only new ones")
    scan.add_argument("--write-baseline", metavar="FILE",
                      help="record every current finding in FILE (then use --baseline FILE) and exit 0")
    scan.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="ARM template parameter value (JSON or plain string); repeatable")
    scan.add_argument("--parameters", action="append", default=[], metavar="FILE",
                      help="ARM parameter file to evaluate templates with; repeatable")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                      help="skip paths matching GLOB; repeatable")
    scan.add_argument("--no-color", action="store_true", help="never colour the text report")
    scan.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    scan.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                      help="worker processes for large scans (default: one per CPU; 1: none)")
    scan.add_argument("--no-cache", action="store_true",
                      help="check every file again; neither read nor write the result cache")
    scan.add_argument("--cache-dir", metavar="DIR", help="where the result cache lives, in its own folder "
                      "DIR/preflight-results (default DIR: $PREFLIGHT_CACHE_DIR, else ~/.cache/preflight); "
                      "PREFLIGHT_NO_CACHE=1 turns it off")
    scan.add_argument("--today", metavar="YYYY-MM-DD", help="the day date-bound rules judge against (KV019; "
                      "default: $PREFLIGHT_TODAY, the configuration's `today`, else the real date)")
    scan.add_argument("--pinning", choices=("exact", "compatible"), default=None,
                      help="what ENV004/ENV005 accept as pinned: one version (exact, default) or also "
                           "`~=X.Y[.Z]`/`==X.Y.*` (compatible); overrides the configuration's `pinning`")
    load = scan.add_argument_group("declared load (DEP003, DEP016, DEP017; or [[load]] in the config)")
    load.add_argument("--expected-rps", type=float, metavar="RPS", help="requests per second the deployment serves")
    load.add_argument("--latency-ms", type=float, metavar="MS", help="time to score one request, in milliseconds")
    load.add_argument("--spike-pct", type=float, metavar="PCT", help="sudden rise of traffic to absorb, in percent")
    from .live.options import add_arguments as add_live_arguments

    add_live_arguments(scan)
    from .resolve.options import add_arguments as add_resolve_arguments

    add_resolve_arguments(scan)
    scan.add_argument("--fix", action="store_true",
                      help="first fix what can be fixed safely in environment files and templates "
                           "(see `preflight fix`)")
    _add_fix_arguments(scan)

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--format", default="text", choices=("text", "json", "markdown"))
    one = sub.add_parser("rule", help="show one rule's documentation")
    one.add_argument("id", metavar="ID")

    fix = sub.add_parser("fix", help="pin unpinned packages from a lock, add missing serving packages, "
                         "raise retiring Key Vault API versions in templates")
    fix.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    fix.add_argument("--select", metavar="IDS",
                     help="only fix these rules' findings (ENV001,ENV003,ENV004,ENV005,KV019)")
    fix.add_argument("--ignore", metavar="IDS", help="do not fix these rules' findings")
    fix.add_argument("--config", metavar="FILE", help="configuration file (default: nearest one)")
    fix.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")
    fix.add_argument("--pinning", choices=("exact", "compatible"), default=None,
                     help="what counts as pinned already (compatible: `~=X.Y[.Z]`, `==X.Y.*` are left alone)")
    _add_fix_arguments(fix)
    fix.set_defaults(fix=True)

    merge = sub.add_parser("merge", help="combine JSON reports of several scans (CI shards) into one report")
    merge.add_argument("reports", nargs="+", metavar="REPORT", help="a report of `preflight scan --format json`")
    merge.add_argument("--format", default="json", choices=("json", "sarif"), help="report format (default json)")
    merge.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    merge.add_argument("--fail-on", choices=FAIL_ON, default=None,
                       help="lowest severity that makes the exit code 1 (default: the configuration's, else error)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            return cmd_scan(args)
        if args.command == "rules":
            return cmd_rules(args)
        if args.command == "rule":
            return cmd_rule(args)
        if args.command == "fix":
            return cmd_fix(args)
        if args.command == "merge":
            return cmd_merge(args)
        parser.print_help()
        return EXIT_USAGE
    except UsageError as exc:
        _say(f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("preflight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as exc:  # noqa: BLE001 - never a traceback to the user
        _say(f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_USAGE


def parse_param(text: str) -> tuple[str, Any]:
    """`NAME=VALUE`; VALUE is read as JSON when it parses (3, true, ["a"]), else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"--param expects NAME=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return name.strip(), parsed


def split_ids(text: str | None) -> list[str]:
    return [s.strip().upper() for s in (text or "").split(",") if s.strip()]


def build_options(args: argparse.Namespace) -> tuple[Options, str]:
    from .baseline import Baseline, BaselineError
    from .config import ConfigError, Configs
    from .contract import Options

    # Each file follows its nearest configuration (select, ignore, per-file-ignores, severity,
    # exclude: applied in the filter stage); settings of the whole run (fail-on, max-file-size)
    # come from --config or the configuration of the first path.
    try:
        configs = Configs(args.config)
        config = configs.for_path(args.paths[0] if args.paths else ".")
        baseline = Baseline.load(args.baseline) if args.baseline and not args.write_baseline else None
    except (ConfigError, BaselineError) as exc:
        raise UsageError(str(exc)) from None
    select = split_ids(args.select) or None
    params = dict(parse_param(p) for p in args.param)
    for f in args.parameters:
        if not os.path.isfile(f):
            raise UsageError(f"--parameters {f}: no such file")
    fail_on = args.fail_on or config.get("fail-on", DEFAULT_FAIL_ON)
    from .clock import DateError, pinned_day

    try:
        today = pinned_day(args.today, config)
    except DateError as exc:
        raise UsageError(str(exc)) from None
    keyvault_api_version = None
    if getattr(args, "fix", False) or getattr(args, "diff", False):  # the fixer loads only when used
        from .fix_templates import ApiVersionError, target_version

        try:
            keyvault_api_version = target_version(args.keyvault_api_version, config)
        except ApiVersionError as exc:
            raise UsageError(str(exc)) from None
    from .live.options import LiveOptionError, deployment_target, provider_from_args, wants_live

    options = Options(
        select=set(select) if select is not None else None,
        ignore=set(split_ids(args.ignore)),
        exclude=tuple(args.exclude),
        params=params,
        parameter_files=tuple(args.parameters),
        max_file_bytes=config.get("max-file-size", 20 * 1024 * 1024),
        configs=configs,
        config=config,
        today=today,
        pinning=getattr(args, "pinning", None),
        load=load_option(args.expected_rps, args.latency_ms, args.spike_pct),
        deployment=deployment_target(args),
        keyvault_api_version=keyvault_api_version,
        baseline=baseline,
        jobs=args.jobs,
        cache_dir=cache_directory(args),
    )
    if wants_live(args):
        try:
            options.providers += (provider_from_args(args),)
        except LiveOptionError as exc:
            raise UsageError(str(exc)) from None
    from .resolve.options import ResolveOptionError, provider_from_args as resolve_provider, wants_resolve

    if wants_resolve(args):
        try:
            options.providers += (resolve_provider(args, cache_directory(args)),)
        except ResolveOptionError as exc:
            raise UsageError(str(exc)) from None
    elif getattr(args, "index_url", None) or getattr(args, "extra_index_url", None):
        raise UsageError("--index-url and --extra-index-url are used by --resolve")
    return options, fail_on


def load_option(expected_rps: float | None, latency_ms: float | None,
                spike_pct: float | None) -> DeclaredLoad | None:
    """The load of `--expected-rps`, `--latency-ms` and `--spike-pct` (it applies to every
    deploy config of the scan: meant for checking one file); None when none is given."""
    from .deploy.capacity import DeclaredLoad
    from .deploy.values import is_number

    if expected_rps is None and latency_ms is None and spike_pct is None:
        return None
    if expected_rps is None or latency_ms is None:
        given = "--expected-rps" if expected_rps is not None else "--latency-ms" if latency_ms is not None \
            else "--spike-pct"
        missing = "--latency-ms" if expected_rps is not None else "--expected-rps" if latency_ms is not None \
            else "--expected-rps and --latency-ms"
        raise UsageError(f"{given} needs {missing}")
    for name, value in (("--expected-rps", expected_rps), ("--latency-ms", latency_ms)):
        if not is_number(value) or value <= 0:
            raise UsageError(f"{name} must be a number > 0")
    if spike_pct is not None and (not is_number(spike_pct) or spike_pct < 0):
        raise UsageError("--spike-pct must be a number >= 0")
    return DeclaredLoad(expected_rps, latency_ms, spike_pct, "--expected-rps/--latency-ms")


def cache_directory(args: argparse.Namespace) -> str | None:
    """The result cache's folder, or None when it is turned off."""
    from .cache import default_directory

    if getattr(args, "no_cache", False) or os.environ.get("PREFLIGHT_NO_CACHE", "") not in ("", "0"):
        return None
    return getattr(args, "cache_dir", None) or default_directory()


def cmd_scan(args: argparse.Namespace) -> int:
    from .engine import scan
    from .report import report_chunks

    from .baseline import BaselineError, write as write_baseline
    from .config import ConfigError
    from .progress import Progress

    options, fail_on = build_options(args)
    if args.fix or args.diff:
        code = run_fixes(args, options, out=sys.stderr)
        if args.diff:  # as `ruff check --diff`: show the fixes, write nothing, report nothing else
            return code
    elif args.pins:
        raise UsageError("--pins is used by --fix or --diff")
    progress = None if args.quiet else Progress.on(sys.stderr)
    options.progress = progress
    try:
        result = scan(args.paths, options)
    except ConfigError as exc:  # a configuration found on the way, in a folder below the first
        raise UsageError(str(exc)) from None
    finally:
        if progress is not None:
            progress.close()
    if result.cache_error:
        _say(result.cache_error)
    for provider in options.providers:  # e.g. an index --resolve could not reach
        for notice in getattr(provider, "notices", ()):
            _say(f"warning: {notice}")
    if args.write_baseline:
        try:
            count = write_baseline(args.write_baseline, result.findings)
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
        _say(f"recorded {count} finding{'s' if count != 1 else ''} in {args.write_baseline}; "
             f"scan with --baseline {args.write_baseline} to report only new ones")
        for f in result.findings:
            if f.rule == "PF003":  # never recorded: a file that was not fully checked must show
                _say(f"not recorded: {f.path}: {f.message}")
        return EXIT_CLEAN
    to_tty = args.output is None and sys.stdout.isatty()
    text = report_chunks(args.format)(result, color=to_tty and not args.no_color and not os.environ.get("NO_COLOR"))
    return emit(text, args.output, result.findings, fail_on)


def emit(text: str | Iterable[str], output: str | None, findings, fail_on: str) -> int:
    """Write a report (its text, or its pieces in order) to `output` (or stdout) and return the
    exit code `fail_on` gives it."""
    from .engine import exit_code
    from .findings import Severity
    from .output import OutputError, write_file

    if output:
        try:
            write_file(output, text)  # whole or not at all, never through a link
        except OutputError as exc:
            raise UsageError(str(exc)) from None
    else:
        write_stdout(text)
    return exit_code(findings, None if fail_on == "never" else Severity.parse(fail_on))


def write_stdout(text: str | Iterable[str]) -> None:
    """A report on stdout, whatever its encoding: a character it cannot encode is escaped, never
    the end of the report."""
    if getattr(sys.stdout, "errors", "strict") == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    for piece in [text] if isinstance(text, str) else text:
        sys.stdout.write(piece)


def _say(message: str) -> None:
    """A message on stderr. Messages quote paths and file content: each of the message's own lines
    is printed as `printable` shows it, after `preflight: `, so none reads as a workflow command."""
    from .report.untrusted import printable

    sys.stderr.write("".join(f"preflight: {printable(line)}\n" for line in message.split("\n")))


def cmd_rules(args: argparse.Namespace) -> int:
    from .contract import REGISTRY
    from .rulepacks import load_rule_packs

    load_rule_packs()
    rules = sorted(REGISTRY.values(), key=lambda r: (r.family, r.id))
    if args.format == "json":
        print(json.dumps([{"id": r.id, "name": r.name, "severity": str(r.severity), "summary": r.summary,
                           "kinds": sorted(str(k) for k in r.kinds)} for r in rules], indent=2))
    elif args.format == "markdown":
        sys.stdout.write(rules_markdown(rules))
    else:
        width = max(len(r.name) for r in rules)
        for r in rules:
            print(f"{r.id:<8} {r.name:<{width}}  {str(r.severity):<7}  {r.summary}")
    return EXIT_CLEAN


def rules_markdown(rules) -> str:
    out = ["# preflight rules", "",
           "Generated from the rules' metadata by `preflight rules --format markdown > docs/rules.md`;",
           "do not edit by hand.", "",
           "| id | name | severity | summary |", "|---|---|---|---|"]
    out += [f"| [{r.id}](#{r.id.lower()}) | {r.name} | {r.severity} | {r.summary.replace('|', '&#124;')} |"
            for r in rules]
    for r in rules:
        out += ["", f"## {r.id}", "", f"**{r.name}** ({r.severity}): {r.summary}", ""]
        out += [line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in r.docs.splitlines()]
    return "\n".join(out) + "\n"


def cmd_rule(args: argparse.Namespace) -> int:
    from .contract import REGISTRY
    from .rulepacks import load_rule_packs

    load_rule_packs()
    r = REGISTRY.get(args.id.upper())
    if r is None:
        raise UsageError(f"unknown rule {args.id!r}; `preflight rules` lists them")
    print(f"{r.id} {r.name} ({r.severity})\n\n{r.summary}\n")
    if r.docs:
        print(r.docs)
    return EXIT_CLEAN


def _add_fix_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pins", metavar="FILE",
                        help="lock to pin from: `pip freeze`, `conda list --export` or `conda env export` output")
    parser.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    parser.add_argument("--keyvault-api-version", metavar="VERSION",
                        help="the version retiring Key Vault apiVersions are raised to (KV019; default 2026-02-01)")


def run_fixes(args: argparse.Namespace, options, out) -> int:
    """Apply (or with --diff, show) the environment fixes. 0: nothing left undone (with --diff:
    nothing to change); 1: some fix could not be applied (with --diff: there are changes)."""
    from .fix import PinsError, diff, load_pins, run, summary

    try:
        pins = load_pins(args.pins) if args.pins else None
    except PinsError as exc:
        raise UsageError(str(exc)) from None
    result = run(args.paths, options, pins, write=not args.diff)
    if args.diff:
        sys.stdout.write("".join(diff(plan) for plan in result.changed))
    out.write(summary(result, wrote=not args.diff))
    if args.diff:
        return EXIT_FINDINGS if result.changed or result.notes else EXIT_CLEAN
    return EXIT_FINDINGS if result.notes else EXIT_CLEAN


def cmd_merge(args: argparse.Namespace) -> int:
    from .config import ConfigError, Configs
    from .merge import MergeError, merge, render

    try:
        fail_on = args.fail_on or Configs().for_path(".").get("fail-on", DEFAULT_FAIL_ON)
        result = merge(args.reports)
    except (ConfigError, MergeError) as exc:
        raise UsageError(str(exc)) from None
    return emit(render(result, args.format), args.output, result.findings, fail_on)


def cmd_fix(args: argparse.Namespace) -> int:
    # Options are built as for a scan of the same paths: every scan option at its default.
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    scan_defaults = build_parser().parse_args(["scan"])
    args = argparse.Namespace(**{**vars(scan_defaults), **vars(args)})
    options, _ = build_options(args)
    return run_fixes(args, options, out=sys.stderr if args.diff else sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
