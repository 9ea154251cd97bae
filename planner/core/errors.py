"""Error types. Every user-facing failure is one of these, with a message that
names the file, the row or field, the value found and what was expected."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class PlannerError(Exception):
    """Base class of planner's errors; the CLI prints the message, never a traceback."""

    exit_code = 1


class InputError(PlannerError):
    """Bad input from the user: a file, a field or a value that is not what was expected.

    The command line exits with status 2 on this error.
    """

    exit_code = 2

    def __init__(
        self,
        message: str | None = None,
        *,
        source: str | Path | None = None,
        field: str | None = None,
        row: Any = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()  # numpy scalars print as plain numbers
        self.message = message
        self.source = str(source) if source is not None else None
        self.field = field
        self.row = row
        self.value = value
        self.expected = expected
        where = _where(self.source, row, field)
        text = message or ""
        if value is not None:
            shown = repr(value)
            shown = shown if len(shown) <= 100 else shown[:80] + f"… ({len(shown)} characters)"
            text = f"{text}{'; ' if text else ''}got {shown}"
        if expected:
            text = f"{text}{'; ' if text else ''}expected {expected}"
        # one line, whatever a library or a path put in it (the CLI prints exactly one line)
        super().__init__(one_line(f"{where}: {text}" if where else text))


def _where(source: Any, row: Any = None, field: str | None = None) -> str:
    """``file, row 3, field 'poi_mw'``: where a problem is, as errors and warnings name it."""
    parts = []
    if source:
        parts.append(str(source))
    if row is not None:
        parts.append(f"row {row}")
    if field:
        parts.append(f"field '{field}'")
    return ", ".join(parts)


class InfeasibleError(PlannerError):
    """The model has no feasible solution; the message says which constraints conflict."""


class SolverError(PlannerError):
    """The solver failed or returned no usable solution; the message says what to try."""


# --------------------------------------------------------------------------- plausibility bounds


def one_line(text: object) -> str:
    """A library's message on one line: whitespace runs (newlines of pandas' tokenizer,
    YAML's context lines) become single spaces; NUL and other control characters are shown escaped."""
    text = " ".join(str(text).split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_number(x: float) -> str:
    """1e+13 -> '1e13', 1000000.0 -> '1,000,000', 0.5 -> '0.5'."""
    if x == int(x) and abs(x) < 1e7:
        return f"{int(x):,}"
    if abs(x) >= 1e7:
        mantissa, exponent = f"{x:.3g}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{x:g}"


@dataclass(frozen=True)
class Bound:
    """A plausibility bound of an input number: finite and within [lo, hi] (an end is
    excluded when ``lo_open`` / ``hi_open``). ``why`` says where the limit comes from; the
    error message quotes it. Each bound is defined once (the scenario schema, the site
    columns and :class:`planner.Economics` all read the same objects), so the planner never
    hands a solver a number it cannot represent (1e308 MW, an infinite budget)."""

    lo: float
    hi: float
    unit: str
    why: str
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        """``a finite number in [0, 1,000,000] MW (why)``."""
        unit = f" {self.unit}" if self.unit else ""
        return (f"a finite number in {'(' if self.lo_open else '['}{format_number(self.lo)}, "
                f"{format_number(self.hi)}{')' if self.hi_open else ']'}{unit} ({self.why})")

    def _bad(self, value: Any):
        """(what is wrong, the first bad value) or None when ``value`` (number or array) is inside."""
        import numpy as np

        try:
            v = np.asarray(value, dtype=float)
        except (TypeError, ValueError, OverflowError):
            return "not a number", value
        for problem, mask in (("not a finite number", ~np.isfinite(v)),
                              ("too small", (v <= self.lo) if self.lo_open else (v < self.lo)),
                              ("too large", (v >= self.hi) if self.hi_open else (v > self.hi))):
            if np.any(mask):
                if v.ndim == 0:
                    return problem, value
                i = int(np.flatnonzero(mask.ravel())[0])
                return f"{problem} (element {i})", v.ravel()[i].item()
        return None

    def problem(self, value: Any) -> str | None:
        """None when ``value`` (a number or an array) is inside the bound; else what is wrong."""
        bad = self._bad(value)
        return bad[0] if bad else None

    def check(self, value: Any, *, source: str | Path | None = None, field: str | None = None,
              row: Any = None) -> Any:
        """Return ``value`` if it is inside; raise :class:`InputError` naming the bound otherwise."""
        bad = self._bad(value)
        if bad:
            raise InputError(bad[0], source=source, field=field, row=row, value=bad[1], expected=self.describe())
        return value


#: MW of one site, request, block or supply pool: 1,000 GW is more than the peak load of the whole US (~760 GW)
MW = Bound(0.0, 1e6, "MW", "1,000 GW: more than the peak load of the whole US")
#: $ per MW to build: an AI data center costs about $11M per MW; 1,000 $M per MW is ~100 times that
USD_PER_MW = Bound(0.0, 1e9, "$ per MW", "$1,000M per MW: about 100 times what an AI data center costs")
#: $ of capex in all: $10 trillion is about a third of US GDP
BUDGET_USD = Bound(0.0, 1e13, "$", "$10 trillion: about a third of US GDP")
#: months before revenue: a new large-load connection takes 2-4 years; 20 years is beyond any queue
LEAD_MONTHS = Bound(0.0, 240.0, "months", "20 years: longer than any interconnection queue")
#: bus voltage: the highest AC transmission voltage in service is 1,100 kV (China's UHV lines)
KV = Bound(0.0, 2000.0, "kV", "the highest transmission voltage in service is 1,100 kV", lo_open=True)
#: a distance on Earth: no two places are farther apart than half its circumference
KM = Bound(0.0, 20_040.0, "km", "no two places on Earth are farther apart", lo_open=True)


# --------------------------------------------------------------------------- plausible ranges


@dataclass(frozen=True)
class Plausible:
    """Where a value of a field usually lies, inside its hard :class:`Bound`: a value outside is
    accepted with a one-line warning (logger ``planner...``) naming the field, the value, this range
    and the likely mistake, most often a unit typed wrongly (``low`` below the range, ``high`` above
    it). ``why`` cites the order of magnitude behind the range; the field's help quotes it.
    ``zero_ok``: 0 is a deliberate value (none), not a mistake. Each range is defined once, beside
    its field's bound (the scenario schema, the site columns)."""

    lo: float
    hi: float
    why: str
    low: str = ""
    high: str = ""
    zero_ok: bool = False

    def describe(self, unit: str = "") -> str:
        """``plausible 10–500 $ per PH/s per day (late 2025: $35-42)``."""
        return (f"plausible {format_number(self.lo)}–{format_number(self.hi)}{f' {unit}' if unit else ''}"
                f" ({self.why})")

    def warning(self, value: Any, unit: str = "", *, source: Any = None, field: str | None = None,
                row: Any = None) -> str | None:
        """The warning for ``value`` (one line), or None when it is plausible (or not a finite number:
        the bound speaks then)."""
        import math

        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if not math.isfinite(v) or (self.zero_ok and v == 0) or self.lo <= v <= self.hi:
            return None
        mistake = self.low if v < self.lo else self.high
        text = (f"{format_number(v)}{f' {unit}' if unit else ''} is outside the plausible "
                f"{format_number(self.lo)}–{format_number(self.hi)}" + (f": {mistake}" if mistake else ""))
        where = _where(source, row, field)
        return one_line(f"{where}: {text}" if where else text)


#: MW of one site (its grid connection, IT load or load today): the largest campuses announced are
#: 1-5 GW, energized in stages over several lines; more than 5,000 MW at one site is an input error
#: (kW typed as MW) unless the site's row says ``allow_large_mw`` (planner.data.sites)
SITE_MW_LIMIT = 5000.0
#: a site's MW (poi_mw, it_mw, operating_mw): below 1 MW a site would not sit on the transmission grid
SITE_MW = Plausible(1.0, SITE_MW_LIMIT, "grid-connected mines and data centers are 10-2,000 MW",
                    low="was it typed in GW?", high="was it typed in kW?", zero_ok=True)


#: (lat, lon) boxes of the US: the lower 48, Alaska, Hawaii, Puerto Rico
US_BOXES = ((24.0, 50.0, -125.0, -66.0), (51.0, 72.0, -170.0, -129.0), (18.5, 22.5, -161.0, -154.5),
            (17.8, 18.6, -67.5, -65.0))


def _in_us(lat, lon):
    import numpy as np

    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    inside = np.zeros(np.broadcast(lat, lon).shape, bool)
    for lat0, lat1, lon0, lon1 in US_BOXES:
        inside |= (lat >= lat0) & (lat <= lat1) & (lon >= lon0) & (lon <= lon1)
    return inside


def lat_lon_swapped(lat: Any, lon: Any, *, us: bool = False):
    """Does (lat, lon) look like (lon, lat) typed the wrong way round: a latitude beyond ±90 with a
    longitude that would be a latitude, or (``us``: points meant to be in the US) a point outside the
    US whose swap is inside? A bool, or an array of them for arrays."""
    import numpy as np

    try:
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    except (TypeError, ValueError, OverflowError):
        return False
    with np.errstate(invalid="ignore"):
        swapped = (np.abs(lat) > 90) & (np.abs(lat) <= 180) & (np.abs(lon) <= 90)
        if us:
            swapped |= ~_in_us(lat, lon) & _in_us(lon, lat)
    return bool(swapped) if swapped.ndim == 0 else swapped


class _HeldWarnings(logging.Handler):
    """Keeps the ``planner`` logger's warnings of one command (each distinct line once) to print
    when the command ends."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if any(getattr(h, "planner_verbose", False) for h in logging.getLogger("planner").handlers):
            return  # -v prints every message as it comes, this one too
        line = one_line(record.getMessage())
        if line not in self.lines:
            self.lines.append(line)


def _bad_input_end(exc: BaseException | None) -> bool:
    """Does ``exc`` end the command on bad input (exit 2) or a Ctrl-C (exit 130)? Then its one line
    is all that stderr shows."""
    if exc is None:
        return False
    if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "Abort":  # click.exceptions.Abort
        return True
    if isinstance(exc, SystemExit):
        return exc.code in (2, 130)
    return getattr(exc, "exit_code", None) == 2


#: most warning lines a command prints (a sweep may try many implausible values: then a count)
MAX_WARNINGS = 10


@contextmanager
def held_warnings() -> Iterator[_HeldWarnings]:
    """Around one command of the command line: the ``planner`` logger's warnings (an implausible
    input, a solver stage that stopped early) are printed on stderr when the command ends, one line
    each and each once (a sweep loads its scenario many times), at most :data:`MAX_WARNINGS`. When it
    ends on bad input (exit status 2) or a Ctrl-C they are dropped: the error (or ``aborted``) is
    then the one line on stderr, and the warnings come back once the input is fixed."""
    held = _HeldWarnings()
    log = logging.getLogger("planner")
    log.addHandler(held)
    error: BaseException | None = None
    try:
        yield held
    except BaseException as exc:
        error = exc
        raise
    finally:
        log.removeHandler(held)
        if not _bad_input_end(error):
            shown = held.lines[:MAX_WARNINGS]
            more = len(held.lines) - len(shown)
            for line in shown + ([f"(and {more} more warning{'s' if more > 1 else ''})"] if more else []):
                print(line, file=sys.stderr)
            sys.stderr.flush()


def read_csv(path, expected: str, encoding_hint: str = "a CSV file saved as UTF-8"):
    """A CSV file as a DataFrame, or an :class:`InputError` on one line: a row longer than the
    header (never a silent index column), an empty file, text that is not UTF-8 (a byte order
    mark, as Excel's "CSV UTF-8" writes, is fine) or a file pandas cannot parse. ``expected``
    says what the file should be. Library warnings stay inside."""
    import warnings

    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DtypeWarning of a damaged column: the caller's checks speak
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, index_col=False, encoding="utf-8-sig")
    except pd.errors.ParserWarning:
        raise InputError("a row has more fields than the header", source=path, expected=expected) from None
    except pd.errors.EmptyDataError:
        raise InputError("empty file", source=path, expected=expected) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x})", source=path,
                         expected=encoding_hint) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"not a readable CSV file ({one_line(exc)})", source=path) from None


#: who supplies new load (README "Supply response"): fixed participation by headroom, by Pmax, or the
#: reference bus; generators of the load's supply region by headroom; or an economic redispatch
SUPPLY_RESPONSES = ("headroom", "pmax", "single", "regional", "redispatch")
