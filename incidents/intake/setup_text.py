"""What to paste into each tool to point it at an integration: the exact URL and a
copy-paste example (Alertmanager receiver YAML, Grafana contact point, PagerDuty client
code, curl for the generic webhook).

Built from the site's absolute URL (`site` = request.build_absolute_uri("/") without the
trailing slash), so it is right behind any host name or proxy. With the raw key (right
after creation or rotation) the text is complete; later only the key's first characters
are known and the key shows masked, as `abcd1234…`.
"""

import json
from dataclasses import dataclass, field

from incidents.models import Integration

# The intake doors (incidents/intake/urls.py, mounted at /integrations/).
PAGERDUTY_BASE = "/integrations/pagerduty"
KEYED_PATHS = {
    Integration.Kind.ALERTMANAGER: "/integrations/alertmanager/{key}/",
    Integration.Kind.GRAFANA: "/integrations/grafana/{key}/",
    Integration.Kind.GENERIC: "/integrations/webhook/{key}/",
}
GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
GRAFANA_TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"


@dataclass
class Snippet:
    title: str
    text: str
    language: str = "text"


@dataclass
class SetupText:
    url: str  # where the tool sends (for PagerDuty: the base URL its clients take)
    url_label: str
    key_shown: str  # the key itself, or its prefix followed by "…"
    complete: bool  # the key is in full, so the examples work as pasted
    notes: list[str] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)


def shown_key(integration: Integration, raw_key: str | None) -> str:
    return raw_key or f"{integration.key_prefix}…"


def intake_url(integration: Integration, site: str, raw_key: str | None = None) -> str:
    """The URL the tool posts to; for PagerDuty the base URL (the key goes in the body)."""
    site = site.rstrip("/")
    if integration.kind == Integration.Kind.PAGERDUTY:
        return site + PAGERDUTY_BASE
    return site + KEYED_PATHS[integration.kind].format(key=shown_key(integration, raw_key))


def build(integration: Integration, site: str, raw_key: str | None = None, *, with_secret: bool = False) -> SetupText:
    """The set-up text for this integration. `with_secret`: include Grafana's HMAC secret
    (only for people who may manage the integration)."""
    key = shown_key(integration, raw_key)
    url = intake_url(integration, site, raw_key)
    builder = {
        Integration.Kind.PAGERDUTY: _pagerduty,
        Integration.Kind.ALERTMANAGER: _alertmanager,
        Integration.Kind.GRAFANA: _grafana,
        Integration.Kind.GENERIC: _generic,
    }[integration.kind]
    text = SetupText(url=url, url_label="Base URL (Events API v2, change events and v1)"
                     if integration.kind == Integration.Kind.PAGERDUTY else "Webhook URL",
                     key_shown=key, complete=raw_key is not None)
    if raw_key is None:
        text.notes.append("The key is stored only as a hash, so it shows masked here. Paste the key you copied "
                          "when the integration was created (or rotate it to get a new one).")
    builder(integration, text, site.rstrip("/"), key, with_secret)
    return text


def _pagerduty(integration, text: SetupText, site: str, key: str, with_secret: bool) -> None:
    base = text.url
    text.notes.append(f"Use the integration key as the routing key (Events API v2) or service key (v1). "
                      f"Endpoints: {base}/v2/enqueue, {base}/v2/change/enqueue and "
                      f"{base}/generic/2010-04-15/create_event.json.")
    text.snippets += [
        Snippet("Python: the pagerduty library (7.x)", "\n".join([
            "import pagerduty",
            "",
            f'client = pagerduty.EventsApiV2Client("{key}", base_url="{base}")',
            'dedup_key = client.trigger("Disk full on web-1", "web-1", severity="critical")',
            "client.resolve(dedup_key)",
            "# a deploy or config change: shown on the service's open incidents, never pages",
            'client.send_change_event(payload={"summary": "Deployed v42", "source": "ci"})',
        ]), "python"),
        Snippet("Python: pdpyras", "\n".join([
            "import pdpyras",
            "",
            f'session = pdpyras.EventsAPISession("{key}")',
            f'session.url = "{base}"',
            'dedup_key = session.trigger("Disk full on web-1", "web-1", severity="critical")',
            "session.resolve(dedup_key)",
        ]), "python"),
        Snippet("Prometheus Alertmanager's own PagerDuty receiver", "\n".join([
            "receivers:",
            "  - name: alertum",
            "    pagerduty_configs:",
            f'      - routing_key: "{key}"',
            f'        url: "{base}/v2/enqueue"',
        ]), "yaml"),
        Snippet("curl", "\n".join([
            f"curl -X POST '{base}/v2/enqueue' \\",
            "  -H 'Content-Type: application/json' \\",
            "  -d " + _shell_quote(json.dumps({
                "routing_key": key, "event_action": "trigger", "dedup_key": "disk-web-1",
                "payload": {"summary": "Disk full on web-1", "source": "web-1", "severity": "critical"}})),
        ]), "shell"),
    ]


def _alertmanager(integration, text: SetupText, site: str, key: str, with_secret: bool) -> None:
    text.notes.append("Alertmanager sends every alert of a group on each notification; Alertum upserts each alert "
                      "by its fingerprint, so repeats and resends are counted, never duplicated.")
    text.snippets.append(Snippet("alertmanager.yml", "\n".join([
        "route:",
        "  receiver: alertum",
        "  group_by: ['alertname', 'job']",
        "receivers:",
        "  - name: alertum",
        "    webhook_configs:",
        f"      - url: '{text.url}'",
        "        send_resolved: true",
    ]), "yaml"))
    text.snippets.append(Snippet("Or keep the key out of the URL (http_config)", "\n".join([
        "    webhook_configs:",
        f"      - url: '{site}/integrations/alertmanager/'",
        "        send_resolved: true",
        "        http_config:",
        "          authorization:",
        "            type: Bearer",
        f"            credentials: '{key}'",
    ]), "yaml"))


def _grafana(integration, text: SetupText, site: str, key: str, with_secret: bool) -> None:
    secret = integration.hmac_secret() if with_secret else "<shown to the admins of the service's team>"
    required = integration.verify_grafana_signature
    text.notes.append(
        ("Signature verification is on: every request must carry a valid " if required else
         "Optional: sign requests with ") + f"{GRAFANA_SIGNATURE_HEADER} (HMAC-SHA256 of the body with the secret "
        f"below{'' if required else '; then turn on signature verification on this integration'}). "
        f"A timestamp header ({GRAFANA_TIMESTAMP_HEADER}) may be added; it must be within 5 minutes.")
    text.snippets.append(Snippet("Contact point (Alerting → Contact points → New → Webhook)", "\n".join([
        "Integration:   Webhook",
        f"URL:           {text.url}",
        "HTTP Method:   POST",
        f"HMAC secret:   {secret}",
        f"HMAC header:   {GRAFANA_SIGNATURE_HEADER}",
    ]), "text"))
    text.snippets.append(Snippet("File provisioning (provisioning/alerting/alertum.yaml)", "\n".join([
        "apiVersion: 1",
        "contactPoints:",
        "  - orgId: 1",
        "    name: alertum",
        "    receivers:",
        "      - uid: alertum",
        "        type: webhook",
        "        settings:",
        f"          url: '{text.url}'",
        "          httpMethod: POST",
        "          hmacConfig:",
        f"            secret: '{secret}'",
        f"            header: {GRAFANA_SIGNATURE_HEADER}",
    ]), "yaml"))


def _generic(integration, text: SetupText, site: str, key: str, with_secret: bool) -> None:
    text.notes.append("Fields: title (required), severity (critical, error, warning, info), dedup_key, status "
                      "(firing or resolved; resolved needs the dedup_key), source, labels, details, links. "
                      "The key may also go in Authorization: Bearer <key> instead of the URL.")
    body = {"title": "Disk full on web-1", "severity": "critical", "dedup_key": "disk-web-1", "status": "firing",
            "source": "web-1", "labels": {"alertname": "DiskFull", "instance": "web-1"},
            "details": {"free_bytes": 1024}, "links": [{"href": "https://runbooks.example/disk", "text": "Runbook"}]}
    text.snippets.append(Snippet("curl: fire", "\n".join([
        f"curl -X POST '{text.url}' \\",
        "  -H 'Content-Type: application/json' \\",
        "  -d " + _shell_quote(json.dumps(body)),
    ]), "shell"))
    text.snippets.append(Snippet("curl: resolve", "\n".join([
        f"curl -X POST '{text.url}' \\",
        "  -H 'Content-Type: application/json' \\",
        "  -d " + _shell_quote(json.dumps({"title": "Disk full on web-1", "dedup_key": "disk-web-1",
                                           "status": "resolved"})),
    ]), "shell"))


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def as_plain(text: SetupText) -> dict:
    """For the API: the same content as JSON."""
    return {"url": text.url, "url_label": text.url_label, "key": text.key_shown, "complete": text.complete,
            "notes": text.notes,
            "snippets": [{"title": s.title, "language": s.language, "text": s.text} for s in text.snippets]}
