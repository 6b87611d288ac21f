"""/api/v1/incidents/ routes."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from incidents import api
from incidents.playbook import api as playbook_api

router = SimpleRouter()
router.register("incidents", api.IncidentViewSet, basename="api-incident")
# Response playbooks (incidents/playbook/api.py).
router.register("playbooks", playbook_api.PlaybookTemplateViewSet, basename="api-playbook")
router.register(r"incidents/(?P<incident_pk>[^/.]+)/reminders", playbook_api.IncidentReminderViewSet,
                basename="api-incident-reminder")

urlpatterns = [*router.urls, path("", include("incidents.intake.api_urls"))]
