"""Error types. Every user-facing failure is one of these, with a message that
names the file, the row or field, the value found and what was expected."""

from __future__ import annotations

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
            text = f"{text}{'; ' if text else ''}got {value!r}"
        if expected:
            text = f"{text}{'; ' if text else ''}expected {expected}"
        super().__init__(f"{where}: {text}" if where else text)


class InfeasibleError(PlannerError):
    """The model has no feasible solution; the message says which constraints conflict."""


class SolverError(PlannerError):
    """The solver failed or returned no usable solution; the message says what to try."""
