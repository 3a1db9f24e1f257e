"""The admin site: the business first, the machinery last.

Django lists apps alphabetically, which put Axes (sign-in failures) and Knox (API tokens) among
stations, trades and shipments. Here the apps operators work in come first, in the order of
the trade flow, and the operational records (sign-in failures, API tokens, idempotency
records) are gathered in one section at the end, for the superuser who needs them.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

BUSINESS_ORDER = ["inventory", "trades", "cargo", "credits", "updates", "auth"]
OPERATIONAL_APPS = {"axes", "knox"}
OPERATIONAL_MODELS = {("trades", "IdempotencyRecord")}
OPERATIONAL_SECTION = "Operations: sign-ins, API tokens, retried requests"


class TradeNetAdminSite(admin.AdminSite):
    site_header = "TradeNet operations"
    site_title = "TradeNet"
    index_title = "Stations, trades and shipments"
    # The sidebar repeats the index on every page and takes a quarter of a 1366 px screen.
    enable_nav_sidebar = False

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        business, operational = [], []
        for app in apps:
            if app["app_label"] in OPERATIONAL_APPS:
                operational.extend(app["models"])
                continue
            kept: list[dict] = []
            for model in app["models"]:
                key = (app["app_label"], model["object_name"])
                (operational if key in OPERATIONAL_MODELS else kept).append(model)
            if kept:
                business.append({**app, "models": kept})
        rank = {label: i for i, label in enumerate(BUSINESS_ORDER)}
        business.sort(key=lambda app: (rank.get(app["app_label"], len(rank)), app["name"]))
        if operational:
            business.append(
                {
                    "name": OPERATIONAL_SECTION,
                    "app_label": "operations",
                    "app_url": "",
                    "has_module_perms": True,
                    "models": sorted(operational, key=lambda model: model["name"]),
                }
            )
        return business


class TradeNetAdminConfig(AdminConfig):
    default_site = "website.admin_site.TradeNetAdminSite"
