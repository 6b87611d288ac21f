"""Per-contact throttles: at most N sends of one kind to one contact per window
(settings.NOTIFY_THROTTLES, e.g. SMS 10 per 10 minutes), so that a storm of incidents
does not flood one phone.

The count lives in the database, in one ContactThrottle row per (kind, contact), locked
while it is read and updated: every worker process sees every other's sends. The
window slides (a log of recent send times, not a counter reset on the hour), so a burst
cannot fit 2N sends around a window boundary.
"""

import hashlib

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alertum.core.models import ContactThrottle


def contact_key(contact: str) -> str:
    # Case and spacing do not make a different phone or mailbox.
    normalised = "".join(str(contact).split()).lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


def limit_for(kind: str) -> tuple[int, int] | None:
    """(max sends, window seconds) for a kind, or None when the kind is not throttled."""
    rule = settings.NOTIFY_THROTTLES.get(kind)
    if not rule or rule[0] <= 0 or rule[1] <= 0:
        return None
    return int(rule[0]), int(rule[1])


def acquire(kind: str, contact: str) -> float | None:
    """Count one send to `contact` if the throttle allows it.

    Returns None when the send may go ahead (and counts it), or the seconds until it
    would be allowed. Locks the (kind, contact) row until the surrounding transaction
    ends; call it just before sending, outside long transactions.
    """
    rule = limit_for(kind)
    if rule is None:
        return None
    limit, window = rule
    key = contact_key(contact)
    now = timezone.now()
    now_ts = now.timestamp()
    with transaction.atomic():
        # Create the row if missing without a race: ON CONFLICT DO NOTHING (INSERT OR
        # IGNORE on SQLite), then lock whichever row won.
        ContactThrottle.objects.bulk_create([ContactThrottle(kind=kind, contact_key=key)], ignore_conflicts=True)
        row = ContactThrottle.objects.select_for_update().get(kind=kind, contact_key=key)
        recent = sorted(ts for ts in row.sent_at if ts > now_ts - window)
        if len(recent) >= limit:
            # The oldest send that still counts leaves the window first.
            wait = recent[-limit] + window - now_ts
            if len(recent) != len(row.sent_at):
                row.sent_at, row.updated_at = recent, now
                row.save(update_fields=["sent_at", "updated_at"])
            return max(wait, 1.0)
        row.sent_at, row.updated_at = recent + [now_ts], now
        row.save(update_fields=["sent_at", "updated_at"])
    return None
