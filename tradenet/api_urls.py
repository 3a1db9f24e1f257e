from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from cargo.views import CargoViewSet, cancel_trade, update_cargo
from core.api.auth_views import ObtainTokenView, RevokeAllTokensView, RevokeTokenView
from core.views import api_not_found
from credits.views import AccountEntryViewSet, AccountViewSet
from inventory.views import (
    CommodityViewSet,
    InventoryViewSet,
    StationMovementViewSet,
    StationViewSet,
)
from trades.consent_views import AgreementViewSet, ProposalViewSet
from trades.views import TradeViewSet
from updates.integrations.webhooks.api import WebhookEndpointViewSet


class OptionalSlashRouter(DefaultRouter):
    """Every route answers with and without its trailing slash."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.include_root_view = False
router.register("trades", TradeViewSet, basename="trade")
router.register("proposals", ProposalViewSet, basename="proposal")
router.register("agreements", AgreementViewSet, basename="agreement")
router.register("cargo", CargoViewSet, basename="cargo")
router.register(
    r"inventory/(?P<station_code>[^/.]+)/movements", StationMovementViewSet, basename="movement"
)
router.register("inventory", InventoryViewSet, basename="inventory")
router.register(r"accounts/(?P<station_code>[^/.]+)/entries", AccountEntryViewSet, basename="entry")
router.register("accounts", AccountViewSet, basename="account")
router.register("stations", StationViewSet, basename="station")
router.register("commodities", CommodityViewSet, basename="commodity")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")

urlpatterns = [
    re_path(r"^auth/token/?$", ObtainTokenView.as_view(), name="auth-token"),
    re_path(r"^auth/token/revoke/?$", RevokeTokenView.as_view(), name="auth-token-revoke"),
    re_path(
        r"^auth/token/revoke-all/?$", RevokeAllTokensView.as_view(), name="auth-token-revoke-all"
    ),
    # The original system's update route; before the router so "update" is never a shipment id.
    re_path(r"^cargo/update/(?P<shipment_id>[^/]+)/?$", update_cargo, name="cargo-update-legacy"),
    re_path(r"^trades/(?P<transaction_id>[^/.]+)/cancel/?$", cancel_trade, name="trade-cancel"),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *router.urls,
    # Last: any other path under /api/ is a JSON 404, in development too (core/views.py).
    re_path(r"", api_not_found, name="api-not-found"),
]
