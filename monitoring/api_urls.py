"""/api/v1/monitors/: monitors CRUD, pause/resume/test, results, uptime and latency series."""

from rest_framework.routers import SimpleRouter

from monitoring import api

router = SimpleRouter()
router.register("monitors", api.MonitorViewSet, basename="api-monitor")

urlpatterns = router.urls
