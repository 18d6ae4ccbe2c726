"""Numbers for people, as Jinja filters: exact figures with thousands separators.

Tables show exact figures; only chart labels abbreviate ("22.3k"), and that happens in the
browser (Intl.NumberFormat), so the page never shows a rounded figure as if it were exact.
"""
from __future__ import annotations

MISSING = "–"


def number(value) -> str:
    """1234567 -> '1,234,567'; 32.5 -> '32.5'; None -> '–'. Booleans are not numbers."""
    if value is None or isinstance(value, bool) or value == "":
        return MISSING
    if isinstance(value, str):
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            return value
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def percent(value, digits: int = 1) -> str:
    """A share 0..1 as a percentage: 0.975 -> '97.5%'; 1.0 -> '100%'; None -> '–'."""
    if value is None or isinstance(value, bool):
        return MISSING
    text = f"{float(value) * 100:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "%"


FILTERS = {"number": number, "percent": percent}


def init_app(app) -> None:
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
