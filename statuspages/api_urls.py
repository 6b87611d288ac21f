"""/api/v1/ routes for status pages: pages by slug, their parts by public id."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from statuspages import api

router = SimpleRouter()
router.register("status-pages", api.PageViewSet, basename="api-statuspage")
router.register("stakeholder-audiences", api.AudienceViewSet, basename="api-audience")

page = SimpleRouter()
page.register("components", api.ComponentViewSet, basename="api-sp-component")
page.register("incidents", api.PublicIncidentViewSet, basename="api-sp-incident")
page.register("maintenance", api.MaintenanceViewSet, basename="api-sp-maintenance")
page.register("subscribers", api.SubscriberViewSet, basename="api-sp-subscriber")
page.register("notices", api.NoticeViewSet, basename="api-sp-notice")

urlpatterns = [
    path("status-pages/<slug:page_slug>/preview/", api.PreviewView.as_view({"post": "create"}),
         name="api-sp-preview"),
    path("status-pages/<slug:page_slug>/", include(page.urls)),
    *router.urls,
]
