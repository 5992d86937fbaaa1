"""Exact text for decimal amounts, shared by every JSON and API output."""

from __future__ import annotations

from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """Return a plain decimal string with no exponent and no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
