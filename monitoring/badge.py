"""The SVG status badge: public, addressed by a signed token (the monitor id signed with
SECRET_KEY), so a README can show it without an account and ids cannot be guessed."""

from django.core import signing
from django.urls import reverse
from django.utils.html import escape

SALT = "monitoring.badge"
COLOURS = {"up": "#2e7d32", "late": "#f9a825", "down": "#c62828", "paused": "#757575", "new": "#757575"}


def token(monitor) -> str:
    return signing.dumps(monitor.pk, salt=SALT, compress=True)


def monitor_id(value: str) -> int | None:
    try:
        return int(signing.loads(value, salt=SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return None


def url(monitor) -> str:
    return reverse("monitors:badge", args=[token(monitor)])


def svg(label: str, state: str) -> str:
    label, text = escape(label[:40]), escape(state)
    left, right = 6 * len(label) + 12, 6 * len(text) + 12
    width = left + right
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
            f'aria-label="{label}: {text}"><title>{label}: {text}</title>'
            f'<rect width="{left}" height="20" fill="#555"/>'
            f'<rect x="{left}" width="{right}" height="20" fill="{COLOURS.get(state, "#757575")}"/>'
            f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="{left / 2}" y="14">{label}</text><text x="{left + right / 2}" y="14">{text}</text></g></svg>')
