"""/api/v1/heartbeats/ (CRUD, pings, pause, resume) and /api/v1/heartbeat-keys/."""

from rest_framework.routers import SimpleRouter

from monitoring.heartbeats import api

router = SimpleRouter()
router.register("heartbeats", api.HeartbeatViewSet, basename="api-heartbeat")
router.register("heartbeat-keys", api.PingKeyViewSet, basename="api-heartbeat-key")

urlpatterns = router.urls
