from django.contrib import admin
from django.urls import include, path

from website.views import galaxy_map, galaxy_map_data, home, live_page, station_page

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("tradenet.api_urls")),
    path("live/", live_page, name="live"),
    path("map/", galaxy_map, name="map"),
    path("map/data/", galaxy_map_data, name="map-data"),
    path("stations/<slug:code>/", station_page, name="station"),
    path("", home, name="home"),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_failure"
