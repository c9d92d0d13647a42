"""The day that date-bound rules judge against: the real date, or one pinned for a run.

A rule whose verdict depends on the date (KV019: Key Vault API versions retiring on a known day)
asks `today_for(ctx)`. Pinning the day (`--today`, `PREFLIGHT_TODAY`, or `today` in the
configuration) makes a CI run or a test reproducible; the pinned day is a scan option
(`Options.today`), so the result cache keys on it. An unpinned run uses the real date,
recorded as a dependency of the file being checked (preflight.fs): a cached finding is reused
only on the day it was computed, and files whose findings do not depend on the date stay cached.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import TYPE_CHECKING, Any

from . import fs
from .config import Config

if TYPE_CHECKING:
    from .contract import Context, Options

ENV_VAR = "PREFLIGHT_TODAY"
DEPENDENCY = "today"  # the kind of the preflight.fs dependency on the date


class DateError(ValueError):
    """A pinned day that is not a date (the CLI exits 2 with it)."""


def parse_day(text: Any, where: str) -> _dt.date:
    """A `YYYY-MM-DD` day; DateError naming `where` otherwise."""
    if isinstance(text, _dt.date) and not isinstance(text, _dt.datetime):
        return text  # a TOML date (`today = 2027-02-27`)
    if isinstance(text, str) and len(text.strip()) == 10:
        try:
            return _dt.date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise DateError(f"{where}: {text!r} is not a date (YYYY-MM-DD)")


def pinned_day(cli_value: str | None, config: Config | None) -> _dt.date | None:
    """The pinned day of a run, or None: `--today`, else $PREFLIGHT_TODAY, else the
    configuration's `today`."""
    if cli_value:
        return parse_day(cli_value, "--today")
    if os.environ.get(ENV_VAR, "").strip():
        return parse_day(os.environ[ENV_VAR], ENV_VAR)
    value = config.get("today") if config is not None else None
    if value is not None:
        where = f"{config.path}: 'today'" if config is not None and config.path else "'today'"
        return parse_day(value, where)
    return None


def real_today() -> _dt.date:
    return _dt.date.today()


def today(options: Options | None) -> _dt.date:
    """The day of a run: the pinned one (the CLI resolves `--today`, $PREFLIGHT_TODAY and the
    configuration into `Options.today`; a scan started from Python reads $PREFLIGHT_TODAY
    itself), else the real date."""
    if options is not None and options.today is not None:
        return options.today
    pinned = os.environ.get(ENV_VAR, "").strip()
    if pinned:
        try:
            return parse_day(pinned, "today")
        except DateError:
            pass  # validated by the CLI; a programmatic caller's bad value means "not pinned"
    return real_today()


def today_for(ctx: Context | None) -> _dt.date:
    """The day of the run, for a check whose findings depend on it: the result cache then
    reuses them only while the day is the same."""
    day = today(ctx.options if ctx is not None else None)
    fs.note(DEPENDENCY, "", None, day.isoformat())
    return day
