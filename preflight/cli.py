"""Command line: `preflight scan|rules|rule`. Exit codes: 0 clean, 1 findings, 2 usage error."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from . import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FAIL_ON = ("error", "warning", "info", "never")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 already; keep its message short and clear
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"preflight: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="preflight", description="Lint Azure ML infrastructure-as-code before deploying.")
    parser.add_argument("--version", action="version", version=f"preflight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = sub.add_parser("scan", help="scan files and folders (default: .)")
    scan.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    scan.add_argument("--format", default="text", choices=("text", "json"), help="report format")
    scan.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    scan.add_argument("--select", metavar="IDS", help="only these rules (comma-separated ids or prefixes)")
    scan.add_argument("--ignore", metavar="IDS", help="skip these rules (comma-separated ids or prefixes)")
    scan.add_argument("--fail-on", choices=FAIL_ON, default=None,
                      help="lowest severity that makes the exit code 1 (default: warning)")
    scan.add_argument("--config", metavar="FILE", help="configuration file (default: nearest "
                      ".preflight.toml or pyproject.toml with [tool.preflight])")
    scan.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="ARM template parameter value (JSON or plain string); repeatable")
    scan.add_argument("--parameters", action="append", default=[], metavar="FILE",
                      help="ARM parameter file to evaluate templates with; repeatable")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                      help="skip paths matching GLOB; repeatable")
    scan.add_argument("--no-color", action="store_true", help="never colour the text report")
    scan.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--format", default="text", choices=("text", "json", "markdown"))
    one = sub.add_parser("rule", help="show one rule's documentation")
    one.add_argument("id", metavar="ID")
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
        parser.print_help()
        return EXIT_USAGE
    except UsageError as exc:
        print(f"preflight: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("preflight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as exc:  # noqa: BLE001 - never a traceback to the user
        print(f"preflight: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
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


def build_options(args: argparse.Namespace):
    from .config import ConfigError, find_config, load_config
    from .engine import Options

    try:
        config_path = args.config or find_config(args.paths[0] if args.paths else ".")
        config = load_config(config_path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    select = split_ids(args.select) or [s.upper() for s in config.get("select", [])] or None
    if select is not None:
        select += [s.upper() for s in config.get("extend-select", [])]
    ignore = set(split_ids(args.ignore)) | {s.upper() for s in config.get("ignore", [])}
    params = dict(parse_param(p) for p in args.param)
    for f in args.parameters:
        if not os.path.isfile(f):
            raise UsageError(f"--parameters {f}: no such file")
    fail_on = args.fail_on or config.get("fail-on", "warning")
    if fail_on not in FAIL_ON:
        raise UsageError(f"{config.path}: 'fail-on' must be one of {', '.join(FAIL_ON)}")
    options = Options(
        select=set(select) if select is not None else None,
        ignore=ignore,
        exclude=tuple(args.exclude) + tuple(config.get("exclude", [])),
        params=params,
        parameter_files=tuple(args.parameters),
        max_file_bytes=config.get("max-file-size", 20 * 1024 * 1024),
        extra={"config": config, "pin_exempt_pip": set(config.get("pin-exempt", {}).get("pip", [])),
               "pin_exempt_conda": set(config.get("pin-exempt", {}).get("conda", []))},
    )
    return options, fail_on


def cmd_scan(args: argparse.Namespace) -> int:
    from .engine import exit_code, scan
    from .findings import Severity
    from .report import reporter

    options, fail_on = build_options(args)
    result = scan(args.paths, options)
    to_tty = args.output is None and sys.stdout.isatty()
    text = reporter(args.format)(result, color=to_tty and not args.no_color and not os.environ.get("NO_COLOR"))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return exit_code(result.findings, None if fail_on == "never" else Severity.parse(fail_on))


def cmd_rules(args: argparse.Namespace) -> int:
    from .engine import REGISTRY, load_rule_packs

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
    out = ["# preflight rules", "", "Generated by `preflight rules --format markdown`; do not edit by hand.", "",
           "| id | name | severity | summary |", "|---|---|---|---|"]
    out += [f"| [{r.id}](#{r.id.lower()}) | {r.name} | {r.severity} | {r.summary} |" for r in rules]
    for r in rules:
        out += ["", f"## {r.id}", "", f"**{r.name}** ({r.severity}): {r.summary}", ""]
        out += [line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in r.docs.splitlines()]
    return "\n".join(out) + "\n"


def cmd_rule(args: argparse.Namespace) -> int:
    from .engine import REGISTRY, load_rule_packs

    load_rule_packs()
    r = REGISTRY.get(args.id.upper())
    if r is None:
        raise UsageError(f"unknown rule {args.id!r}; `preflight rules` lists them")
    print(f"{r.id} {r.name} ({r.severity})\n\n{r.summary}\n")
    if r.docs:
        print(r.docs)
    return EXIT_CLEAN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
