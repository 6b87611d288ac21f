from django.urls import path

from incidents.consumers import DashboardConsumer, IncidentConsumer
from monitoring.consumers import MonitorsConsumer

websocket_urlpatterns = [
    path("ws/incidents/<int:incident_id>/", IncidentConsumer.as_asgi()),
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
    path("ws/monitors/", MonitorsConsumer.as_asgi()),
]
