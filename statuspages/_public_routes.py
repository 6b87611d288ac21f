"""The public routes, shared by /status/<slug>/ and a custom domain's root."""

from django.urls import path

from statuspages import public


def routes():
    return [
        path("", public.page_view, name="page"),
        path("history/", public.history_view, name="history"),
        path("uptime/", public.uptime_view, name="uptime"),
        path("incidents/<slug:code>", public.incident_view, name="incident"),
        path("maintenance/<slug:code>", public.maintenance_view, name="maintenance"),
        path("history.atom", public.history_atom, name="atom"),
        path("history.rss", public.history_rss, name="rss"),
        path("badge.svg", public.badge_svg, name="badge"),
        path("logo", public.logo, name="logo"),
        path("access", public.access_view, name="access"),
        path("subscribe", public.subscribe_view, name="subscribe"),
        path("subscribers/confirm/<str:token>", public.confirm_view, name="confirm"),
        path("subscribers/unsubscribe/<str:token>", public.unsubscribe_view, name="unsubscribe"),
        path("api/v2/summary.json", public.summary_json, name="summary"),
        path("api/v2/status.json", public.status_json, name="status"),
        path("api/v2/components.json", public.components_json, name="components"),
        path("api/v2/incidents.json", public.incidents_json, name="incidents"),
        path("api/v2/incidents/unresolved.json", public.incidents_json, {"unresolved": True}, name="unresolved"),
        path("api/v2/scheduled-maintenances.json", public.maintenances_json, name="maintenances"),
        path("api/v2/scheduled-maintenances/upcoming.json", public.maintenances_json, {"which": "upcoming"},
             name="upcoming"),
        path("api/v2/scheduled-maintenances/active.json", public.maintenances_json, {"which": "active"},
             name="active"),
    ]
