from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "TradeNet operations"
admin.site.site_title = "TradeNet"
admin.site.index_title = "Stations, trades and shipments"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("tradenet.api.urls")),
]

handler404 = "tradenet.views.not_found"
handler500 = "tradenet.views.server_failure"
