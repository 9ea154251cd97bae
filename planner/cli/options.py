"""Types of command-line options (click parameter types) that hold numbers to the rules of a
scenario's numbers: finite (NaN and infinities are refused with one line, exit status 2) and inside
a range when one is given. An option that is a setting of the scenario schema (an option of class
``_Setting`` in :mod:`planner.cli`, which checks the setting's bound) also gets a one-line warning
when its value is outside the setting's plausible range (see :class:`planner.core.errors.Plausible`)."""

from __future__ import annotations

import logging
import math

import click

from planner.core.errors import format_number

logger = logging.getLogger("planner.cli")


class FiniteFloat(click.ParamType):
    """A finite float, optionally in [lo, hi] (an end excluded when ``lo_open`` / ``hi_open``)."""

    name = "float"

    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def _expected(self) -> str:
        if self.lo is None and self.hi is None:
            return "a finite number"
        lo = "-inf" if self.lo is None else format_number(self.lo)
        hi = "inf" if self.hi is None else format_number(self.hi)
        return (f"a finite number in {'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}"
                f"{')' if self.hi_open or self.hi is None else ']'}")

    def get_metavar(self, param, ctx=None) -> str | None:  # click >= 8.2 passes ctx
        if self.lo is None and self.hi is None:
            return None
        return self._expected().removeprefix("a finite number in ").replace(" ", "")

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"not a number; got {value!r}; expected {self._expected()}", param, ctx)
        setting = getattr(param, "setting", None)
        if setting is not None:  # its bound (finite, in range) is the setting's: the option's check says it
            if ctx is not None and not ctx.resilient_parsing:
                _warn_setting(setting, number, param)
            return number
        if not math.isfinite(number):
            self.fail(f"not a finite number; got {value!r}; expected {self._expected()}", param, ctx)
        if self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo):
            self.fail(f"too small; got {value!r}; expected {self._expected()}", param, ctx)
        if self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi):
            self.fail(f"too large; got {value!r}; expected {self._expected()}", param, ctx)
        return number

    def __repr__(self) -> str:
        return "FINITE_FLOAT" if self.lo is None and self.hi is None else f"FiniteFloat({self._expected()})"


def _warn_setting(setting: str, number: float, param) -> None:
    """The plausibility warning of a setting's value (none when the value is outside its bound: the
    option's check says so then)."""
    from planner.config.scenario import check_setting, setting_warnings
    from planner.core.errors import InputError

    try:
        check_setting(setting, number)
    except InputError:
        return
    option = max(param.opts, key=len) if getattr(param, "opts", None) else setting
    for line in setting_warnings(setting, number, source=option):
        logger.warning(line)


#: any finite float
FINITE_FLOAT = FiniteFloat()
