"""Small formatting filters for the ML pages."""
from django import template

register = template.Library()


@register.filter
def pct(value, digits: int = 1):
    """0.7312 -> '73.1%'; None -> '–' (a missing measure is not 0%)."""
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return "–"


@register.filter
def get(mapping, key):
    """`{{ dict|get:key }}` for keys held in variables."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
