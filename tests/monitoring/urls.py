"""The project's URLs without the apps monitoring does not depend on (oncall, status
pages), so these tests do not break while those apps are being changed."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from alertum import views

api = [path("", include("incidents.api_urls")), path("", include("alertum.core.api_urls")),
       path("", include("monitoring.api_urls"))]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("incidents/", include("incidents.urls")),
    path("alerts/", include("incidents.intake.page_urls")),
    path("settings/", include("alertum.core.urls")),
    path("api/v1/", include(api)),
    path("monitors/", include("monitoring.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
