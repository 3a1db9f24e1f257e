"""The header every page shares: where to go, whose stations, sign out."""

from django import template

from inventory.access import acts_for_all_stations, stations_for

register = template.Library()

# The header lists this many of the user's stations; the map shows them all.
NAV_STATIONS = 40


@register.inclusion_tag("updates/site_header.html", takes_context=True)
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
    """A quantity in the commodity's unit, grouped by thousands: `1,040 t`."""
    unit = getattr(commodity, "unit", "") or ""
    try:
        number = f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
    return f"{number} {unit}".strip()


@register.filter
def signed_quantity(value, commodity) -> str:
    """A change in the commodity's unit, with its sign: `+40 t`, `-40 t`."""
    text = quantity(abs(int(value)), commodity)
    return ("+" if int(value) > 0 else "\u2212" if int(value) < 0 else "") + text


@register.filter
def words(status: str) -> str:
    """A status or kind as words: `in_transit` → `in transit`."""
    return str(status).replace("_", " ")
