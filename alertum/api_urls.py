from django.urls import include, path

urlpatterns = [
    path("", include("incidents.api_urls")),
    path("", include("alertum.core.api_urls")),
]
