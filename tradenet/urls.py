from django.contrib import admin
from django.urls import path

admin.site.site_header = "TradeNet operations"
admin.site.site_title = "TradeNet"
admin.site.index_title = "Stations, trades and shipments"

urlpatterns = [
    path("admin/", admin.site.urls),
]
