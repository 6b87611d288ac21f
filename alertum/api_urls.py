from django.urls import include, path

urlpatterns = [
    path("", include("incidents.api_urls")),
    path("", include("alertum.core.api_urls")),
    path("", include("monitoring.api_urls")),
    path("", include("monitoring.heartbeats.api_urls")),
    path("", include("oncall.api_urls")),
    path("", include("oncall.schedules.api_urls")),
    path("", include("statuspages.api_urls")),
]
