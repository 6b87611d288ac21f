"""Status pages in front of the rest of the stack.

1. Custom domains: a request whose Host is a page's custom domain is routed to that
   page's public doors at the root (`request.urlconf`), whatever its path.
2. The cached fast path: a GET for a public page's door with a fresh cached copy is
   answered here, before sessions, authentication and the rest — a traffic spike on a
   status page then costs a dictionary lookup (or one Redis round trip), never the
   database. Private pages and misses go on to the views, which check access.
"""

import time

from statuspages import cache, public
from statuspages.models import StatusPage

STATUS_PREFIX = "/status/"


def _load_domains() -> dict[str, str]:
    return dict(StatusPage.objects.exclude(custom_domain=None).values_list("custom_domain", "slug"))


class StatusPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        host = request.META.get("HTTP_HOST", "").split(":", 1)[0].lower().rstrip(".")
        slug, name = None, None
        mapping = cache.domain_map(_load_domains) if host and not _is_default_host(host) else {}
        if host in mapping:
            slug = mapping[host]
            request.status_page_slug = slug
            request.urlconf = "statuspages.domain_urls"
            name = request.path[1:]
        elif request.path.startswith(STATUS_PREFIX):
            rest = request.path[len(STATUS_PREFIX):]
            slug, sep, name = rest.partition("/")
            if not sep:
                slug = None
        if slug and request.method in ("GET", "HEAD") and not request.META.get("QUERY_STRING"):
            try:
                full_host = request.get_host()
            except Exception:  # DisallowedHost: let Django answer it
                return self.get_response(request)
            entry = cache.get(slug, name, full_host)
            if entry is not None and entry["access"]["mode"] == StatusPage.Access.PUBLIC:
                return public.respond(entry)
        response = self.get_response(request)
        if slug and response.status_code >= 500 and request.method in ("GET", "HEAD"):
            # Something under the view failed (a session read with the database down,
            # say): a public page's last good copy is still better than an error page.
            # Never an error page: otherwise a short "temporarily unavailable" (503).
            return _last_good(request, slug, name) or public.unavailable()
        return response


def _last_good(request, slug, name):
    try:
        old = cache.stale(slug, name, request.get_host())
    except Exception:
        return None
    if old is None or old["access"]["mode"] != StatusPage.Access.PUBLIC:
        return None
    return public.respond(old, stale_age=max(0.0, time.time() - old["at"]))


def _is_default_host(host: str) -> bool:
    # The portal's own names never belong to a status page; skip the lookup for them.
    return host in ("127.0.0.1", "localhost", "testserver", "[::1]")
