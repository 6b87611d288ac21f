"""`{% load heartbeats %}{% heartbeat_panel monitor %}`: the heartbeat part of a monitor's
detail page — ping URLs with curl examples, schedule, state, the ping log with bodies."""

from django import template

from monitoring.heartbeats import queries
from monitoring.heartbeats.models import Heartbeat

register = template.Library()


@register.inclusion_tag("heartbeats/_panel.html", takes_context=True)
def heartbeat_panel(context, monitor):
    request = context.get("request")
    heartbeat = Heartbeat.objects.select_related("monitor__service").filter(monitor=monitor).first()
    if heartbeat is None:
        return {"heartbeat": None}
    user = getattr(request, "user", None)
    secrets = queries.may_see_secrets(user, heartbeat)
    base = request.build_absolute_uri("/ping/").rstrip("/") if request else "/ping"
    return {
        "heartbeat": heartbeat, "secrets": secrets, "state": heartbeat.shown_state(),
        "ping_url": f"{base}/{heartbeat.uuid}", "slug_url": f"{base}/<ping-key>/{heartbeat.slug}" if heartbeat.slug
        else "", "pings": queries.ping_log(heartbeat) if secrets else [],
        "can_edit": user is not None and _may_configure(user, heartbeat),
        "csrf_token": context.get("csrf_token"),
    }


def _may_configure(user, heartbeat) -> bool:
    from monitoring.heartbeats.actions import may_configure

    return may_configure(user, heartbeat.monitor.service)


@register.filter
def duration(seconds):
    """42.0 -> "42 s", 3725 -> "1 h 2 min"."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds % 1 else f"{seconds:.0f} s"
    minutes, hours = int(seconds // 60), int(seconds // 3600)
    if hours:
        return f"{hours} h {minutes % 60} min"
    return f"{minutes} min {int(seconds % 60)} s"
