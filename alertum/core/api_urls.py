"""/api/v1/ routes for the configuration in alertum.core."""

from rest_framework.routers import SimpleRouter

from alertum.core import api

router = SimpleRouter()
router.register("services", api.ServiceViewSet, basename="api-service")
router.register("teams", api.TeamViewSet, basename="api-team")
router.register("maintenance-windows", api.MaintenanceWindowViewSet, basename="api-maintenance")
router.register("tokens", api.ApiTokenViewSet, basename="api-token")

urlpatterns = router.urls
