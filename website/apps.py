from django.apps import AppConfig


class WebsiteConfig(AppConfig):
    """What people see: the operators' pages (map, station, live feed, proposals) and the
    admin's dashboard and look. It reads the domains through their selectors and the live feed
    through `updates`; nothing below imports it."""

    name = "website"
    verbose_name = "Website"
