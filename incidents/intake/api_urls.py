"""/api/v1/ routes for intake: alerts, silences, rules, integrations and their raw events."""

from rest_framework.routers import SimpleRouter

from incidents.intake import api

router = SimpleRouter()
router.register("alerts", api.AlertViewSet, basename="api-alert")
router.register("silences", api.SilenceViewSet, basename="api-silence")
router.register("grouping-rules", api.GroupingRuleViewSet, basename="api-grouping-rule")
router.register("inhibition-rules", api.InhibitionRuleViewSet, basename="api-inhibition-rule")
router.register("alert-severity-rules", api.AlertSeverityRuleViewSet, basename="api-alert-severity-rule")
router.register("routing-rules", api.RoutingRuleViewSet, basename="api-routing-rule")
router.register("integrations", api.IntegrationViewSet, basename="api-integration")

urlpatterns = router.urls
