"""/api/v1/incidents/ routes."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from incidents import api

router = SimpleRouter()
router.register("incidents", api.IncidentViewSet, basename="api-incident")

urlpatterns = [*router.urls, path("", include("incidents.intake.api_urls"))]
