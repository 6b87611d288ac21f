"""The machine doors' URLs (intake and heartbeat pings), on their own: the main URLconf
includes these patterns, and MachineDoorMiddleware resolves door paths against this short
list instead of the whole site's (a third of the resolving work per accept or ping)."""

from django.urls import include, path

urlpatterns = [
    path("integrations/", include("incidents.intake.urls")),
    path("ping/", include("monitoring.heartbeats.ping_urls")),
]
