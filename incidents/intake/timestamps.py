"""Senders' timestamps, read the way the senders write them.

Seen in the wild: PagerDuty's docs use "2015-07-17T08:42:58.315+0000" (no colon in the
offset), Go senders (Alertmanager, Grafana) send nanoseconds, and Go's zero time
"0001-01-01T00:00:00Z" for "not set" (Alertmanager's endsAt of a firing alert). Python
3.11's `fromisoformat` reads the first two (nanoseconds truncated to microseconds); the
zero time parses too, but `astimezone()` to a negative offset overflows, so it becomes None
here and is never stored.
"""

from datetime import UTC, datetime

UNSET_BEFORE_YEAR = 1971  # Go's zero time and the Unix epoch both mean "not set"
LATEST_YEAR = 2999  # beyond this, showing the time in a viewer's zone could overflow


def parse_timestamp(value) -> datetime | None:
    """An aware UTC datetime, or None when absent or "not set". Raises ValueError when the
    value is there but is not an ISO 8601 timestamp."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 timestamp string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # "...+00:00Z": an offset followed by a redundant Z, as some Python clients write it.
        if not (text.endswith("Z") and ("+" in text[10:] or "-" in text[10:])):
            raise ValueError(f"{value[:60]!r} is not an ISO 8601 timestamp") from None
        try:
            parsed = datetime.fromisoformat(text[:-1])
        except ValueError:
            raise ValueError(f"{value[:60]!r} is not an ISO 8601 timestamp") from None
    if parsed.year < UNSET_BEFORE_YEAR:
        return None
    if parsed.year > LATEST_YEAR:
        raise ValueError(f"{value[:60]!r} is too far in the future")
    if parsed.tzinfo is None:  # no offset given: the senders mean UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
