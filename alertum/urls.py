from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from alertum import door_urls, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("incidents/", include("incidents.urls")),
    path("alerts/", include("incidents.intake.page_urls")),
    path("settings/", include("alertum.core.urls")),
    path("api/v1/", include("alertum.api_urls")),
    *door_urls.urlpatterns,  # /integrations/ and /ping/
    path("monitors/heartbeats/", include("monitoring.heartbeats.urls")),
    path("monitors/", include("monitoring.urls")),
    path("oncall/schedules/", include("oncall.schedules.urls")),
    path("oncall/", include("oncall.urls")),
    path("status-pages/", include("statuspages.urls")),
    path("status/", include("statuspages.public_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
]
