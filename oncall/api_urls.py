"""/api/v1/ routes for escalation and paging."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from oncall import api

router = SimpleRouter()
router.register("escalation-policies", api.PolicyViewSet, basename="api-escalation-policy")
router.register("service-escalation-policies", api.ServicePolicyViewSet, basename="api-service-policy")
router.register("team-channels", api.ChannelViewSet, basename="api-team-channel")
router.register("me/contact-methods", api.ContactMethodViewSet, basename="api-contact-method")
router.register("me/notification-rules", api.NotificationRuleViewSet, basename="api-notification-rule")

urlpatterns = [
    path("incidents/<int:pk>/escalation/", api.incident_escalation, name="api-incident-escalation"),
    path("ownership/", api.ownership, name="api-ownership"),
    path("page-links/", api.PageLinkView.as_view(), name="api-page-link"),
    *router.urls,
]
