"""The public pages' cache, and the last good copy kept for when the database is down.

Three layers, cheapest first:
- a per-process dict holding an entry for at most LOCAL_SECONDS, so a spike on one page
  costs neither Redis nor the database;
- the Django cache (Redis when REDIS_URL, else per-process memory): one entry per page,
  door and host, stamped with the page's version. `bump(slug)` (on commit of every
  relevant write) sets a new version, so the next request renders afresh — a change
  shows within LOCAL_SECONDS plus one render;
- the last rendered copy without a version ("stale"), in the cache and in a file under
  ALERTUM_VAR_DIR/statuspages/, served with a note of its age when rendering fails
  because the database is unreachable.

An entry carries what the access check needs (mode, allowed networks, password
fingerprint), so a private page's cached copy is still checked without the database.
"""

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)

LOCAL_SECONDS = 1.0
_local: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def _version_key(slug: str) -> str:
    return f"sp:v:{slug}"


def _entry_key(slug: str, name: str, host: str) -> str:
    digest = hashlib.sha1(f"{slug}|{name}|{host}".encode()).hexdigest()[:20]
    return f"sp:c:{digest}"


def _stale_key(slug: str, name: str, host: str) -> str:
    return "sp:s:" + _entry_key(slug, name, host)[5:]


def bump(*slugs: str) -> None:
    """Invalidate every cached door of these pages once the transaction commits."""
    def go():
        stamp = time.time_ns()
        try:
            cache.set_many({_version_key(s): stamp for s in slugs if s}, None)
        except Exception:  # the cache being down must not fail a write; entries expire anyway
            log.warning("could not bump status page versions", exc_info=True)
        with _lock:
            for key in [k for k in _local if k.split("|", 1)[0] in slugs]:
                _local.pop(key, None)
    transaction.on_commit(go)


def get(slug: str, name: str, host: str) -> dict | None:
    """A fresh entry, or None."""
    # Even without a bump an entry is re-rendered now and then: derived statuses
    # (monitors, the day's uptime) move without a write of ours.
    fresh_seconds = settings.STATUSPAGES_CACHE_SECONDS
    if fresh_seconds <= 0:
        return None
    local_key = f"{slug}|{name}|{host}"
    now = time.monotonic()
    hit = _local.get(local_key)
    if hit and now - hit[0] < LOCAL_SECONDS:
        return hit[1]
    try:
        got = cache.get_many([_version_key(slug), _entry_key(slug, name, host)])
    except Exception:
        log.warning("status page cache unavailable", exc_info=True)
        return None
    entry = got.get(_entry_key(slug, name, host))
    if not entry or entry["v"] != got.get(_version_key(slug)) or time.time() - entry["at"] > fresh_seconds:
        return None
    with _lock:
        _local[local_key] = (now, entry)
    return entry


def current_version(slug: str):
    try:
        return cache.get(_version_key(slug))
    except Exception:
        return None


def put(slug: str, name: str, host: str, entry: dict, version) -> None:
    """Keep a freshly rendered entry (taken at `version`, read before rendering so that
    a bump during the render is not lost), and its last-good copy."""
    try:
        if version is None:  # first render since the cache was emptied: start a version
            stamp = time.time_ns()
            version = stamp if cache.add(_version_key(slug), stamp, None) else cache.get(_version_key(slug))
        entry = {**entry, "v": version, "at": time.time()}
        cache.set_many({_entry_key(slug, name, host): entry, _stale_key(slug, name, host): entry},
                       timeout=None)
    except Exception:
        entry = {**entry, "v": version, "at": time.time()}
        log.warning("could not store a status page in the cache", exc_info=True)
    _write_file(slug, name, host, entry)


def stale(slug: str, name: str, host: str) -> dict | None:
    """The last rendered copy, from the cache or else from the file; None if never rendered."""
    try:
        entry = cache.get(_stale_key(slug, name, host))
    except Exception:
        entry = None
    return entry or _read_file(slug, name, host)


def _path(slug: str, name: str, host: str) -> Path:
    return Path(settings.VAR_DIR) / "statuspages" / slug / (_entry_key(slug, name, host)[5:] + ".json")


def _write_file(slug, name, host, entry) -> None:
    # Written at most every few seconds per door: the file is a fallback, not a cache.
    path = _path(slug, name, host)
    try:
        if path.exists() and time.time() - path.stat().st_mtime < 5 and entry.get("v") is not None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        body = entry["body"]
        data = {**entry, "body": body.decode() if isinstance(body, bytes) else body}
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)  # atomic: a reader never sees half a page
    except OSError:
        log.warning("could not keep the last status page copy in %s", path, exc_info=True)


def _read_file(slug, name, host) -> dict | None:
    try:
        data = json.loads(_path(slug, name, host).read_text())
    except (OSError, ValueError):
        return None
    data["body"] = data["body"].encode()
    return data


def forget_local() -> None:
    with _lock:
        _local.clear()


# --- custom domains -----------------------------------------------------------------------

_domains: dict = {"at": 0.0, "map": None}
DOMAIN_SECONDS = 10


def domain_map(load) -> dict[str, str]:
    """{host: slug}, refreshed at most every DOMAIN_SECONDS per process (or on a bump of
    the map); `load()` reads it from the database. When that fails, the last map read."""
    now = time.monotonic()
    try:
        stamp = cache.get("sp:domains:v")
    except Exception:
        stamp = None
    if _domains["map"] is not None and now - _domains["at"] < DOMAIN_SECONDS and stamp == _domains.get("stamp"):
        return _domains["map"]
    try:
        mapping = load()
    except Exception:
        if _domains["map"] is not None:
            return _domains["map"]
        try:
            return cache.get("sp:domains") or {}
        except Exception:
            return {}
    _domains.update(at=now, map=mapping, stamp=stamp)
    try:
        cache.set("sp:domains", mapping, None)
    except Exception:
        pass
    return mapping


def bump_domains() -> None:
    def go():
        _domains["map"] = None
        try:
            cache.set("sp:domains:v", time.time_ns(), None)
        except Exception:
            pass
    transaction.on_commit(go)
