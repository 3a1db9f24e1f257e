"""The header every page shares: where to go, whose stations, sign out."""

from django import template

from core.text import quantity_text, unit_plural
from inventory.access import acts_for_all_stations, stations_for

register = template.Library()

# The header lists this many of the user's stations; the map shows them all.
NAV_STATIONS = 40


@register.inclusion_tag("website/site_header.html", takes_context=True)
def site_header(context, current: str = ""):
    request = context["request"]
    user = request.user
    stations = list(stations_for(user).order_by("name").only("code", "name")[: NAV_STATIONS + 1])
    return {
        "request": request,
        "user": user,
        "current": current,
        "stations": stations[:NAV_STATIONS],
        "more_stations": len(stations) > NAV_STATIONS,
        "all_stations": acts_for_all_stations(user),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def quantity(value, commodity) -> str:
    """A quantity in the commodity's unit (a commodity or the unit itself), grouped by
    thousands, in English: `1,040 t`, `1 crate`, `2,500 units` (core.text.quantity_text)."""
    unit = commodity if isinstance(commodity, str) else getattr(commodity, "unit", "") or ""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    return quantity_text(number, unit)


@register.filter
def units(unit: str) -> str:
    """A unit as it reads for any number but one: `crates`, `units`, `t`."""
    return unit_plural(str(unit))


@register.filter
def signed_quantity(value, commodity) -> str:
    """A change in the commodity's unit, with its sign: `+40 t`, `-1 crate`."""
    text = quantity(abs(int(value)), commodity)
    return ("+" if int(value) > 0 else "\u2212" if int(value) < 0 else "") + text


@register.filter
def words(status: str) -> str:
    """A status or kind as words: `in_transit` → `in transit`."""
    return str(status).replace("_", " ")
