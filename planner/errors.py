"""Error types. Every user-facing failure is one of these, with a message that
names the file, the row or field, the value found and what was expected."""

from __future__ import annotations

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
        parts = []
        if self.source:
            parts.append(self.source)
        if row is not None:
            parts.append(f"row {row}")
        if field:
            parts.append(f"field '{field}'")
        where = ", ".join(parts)
        text = message or ""
        if value is not None:
            shown = repr(value)
            shown = shown if len(shown) <= 100 else shown[:80] + f"… ({len(shown)} characters)"
            text = f"{text}{'; ' if text else ''}got {shown}"
        if expected:
            text = f"{text}{'; ' if text else ''}expected {expected}"
        # one line, whatever a library or a path put in it (the CLI prints exactly one line)
        super().__init__(one_line(f"{where}: {text}" if where else text))


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


def _num(x: float) -> str:
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
        return (f"a finite number in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}"
                f"{')' if self.hi_open else ']'}{unit} ({self.why})")

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
