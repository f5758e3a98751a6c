"""What every part of the case store shares: its error, its clock and its check of required text."""

from __future__ import annotations

from datetime import datetime, timezone


class StoreError(RuntimeError):
    """A request the case store refuses, with a reason for a person."""


def now() -> str:
    """The time stamp the store records: UTC, ISO 8601, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def required(value: str | None, what: str) -> str:
    """`value` without surrounding blanks; a `StoreError` naming `what` when nothing is left."""
    value = (value or "").strip()
    if not value:
        raise StoreError(f"the {what} must not be empty")
    return value
