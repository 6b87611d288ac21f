"""/api/v1/ routes for schedules."""

from rest_framework.routers import SimpleRouter

from oncall.schedules import api

router = SimpleRouter()
router.register("schedules", api.ScheduleViewSet, basename="api-schedule")
router.register("schedule-layers", api.LayerViewSet, basename="api-schedule-layer")
router.register("schedule-overrides", api.OverrideViewSet, basename="api-schedule-override")
router.register("fatigue-limits", api.FatigueLimitsViewSet, basename="api-fatigue-limits")
router.register("calendar-feeds", api.CalendarFeedViewSet, basename="api-calendar-feed")

urlpatterns = router.urls
