import zoneinfo

from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils import timezone


def machine_door(view):
    """Mark a view as a door for tools (intake, heartbeat pings): the sender's key or the
    URL is its credential, so it needs none of the session, CSRF, authentication, messages,
    htmx or time-zone middleware, and MachineDoorMiddleware serves it before them."""
    view.machine_door = True
    return view


class MachineDoorMiddleware:
    """Serve the machine doors right after SecurityMiddleware (HTTPS redirects and HSTS
    still apply): the rest of the stack was ~0.4 ms of CPU of a ~2 ms accept
    (docs/performance.md). Only paths under MACHINE_DOOR_PREFIXES are resolved here, against
    the doors' own short URLconf (alertum.door_urls), and anything there that is not a
    marked door goes the usual way."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(settings.MACHINE_DOOR_PREFIXES):
            try:
                match = resolve(request.path_info, settings.MACHINE_DOOR_URLCONF)
            except Resolver404:
                return self.get_response(request)
            if getattr(match.func, "machine_door", False):
                request.resolver_match = match
                response = match.func(request, *match.args, **match.kwargs)
                if not response.streaming:
                    response.headers["Content-Length"] = str(len(response.content))  # as CommonMiddleware does
                return response
        return self.get_response(request)


class UserTimezoneMiddleware:
    """Show times in the viewer's own time zone (stored in UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = getattr(user, "time_zone", None) if user is not None and user.is_authenticated else None
        if tz_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tz_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
