"""The registry of intake formats: RawEvent.endpoint -> the module that knows its format.

Each module has `validate(payload, endpoint) -> list[str]` (run by the door, so the sender
gets its documented error at once) and `normalise(payload, endpoint, raw) -> events`
(run by the pipeline). `normalise(raw_event)` below is the pipeline's one entry point.
"""

import json
import re

from incidents.intake import alertmanager, generic, pagerduty
from incidents.intake.events import AlertEvent, ChangeEventData, FormatError

FORMATS = {
    "pagerduty.v2": pagerduty,
    "pagerduty.change": pagerduty,
    "pagerduty.v1": pagerduty,
    "alertmanager": alertmanager,
    "grafana": alertmanager,
    "generic": generic,
}

# JSON may escape characters PostgreSQL cannot store (NUL in text and jsonb) or that are
# not valid Unicode on their own (lone surrogates); looked for in the raw text first, so
# the common body pays one regex scan.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def parse(body: str | bytes):
    """The JSON value of a body; FormatError saying why when it is not JSON."""
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        raise FormatError("the body is not UTF-8 text") from None
    except ValueError as exc:
        raise FormatError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise FormatError("malformed JSON: nested too deeply") from None
    text = body if isinstance(body, str) else ""
    if text and _UNSTORABLE_ESCAPE.search(text):
        value = _storable(value)
    return value


def validate(endpoint: str, payload) -> list[str]:
    return FORMATS[endpoint].validate(payload, endpoint)


def normalise(raw_event) -> list[AlertEvent | ChangeEventData]:
    """The events in a stored raw event. Raises FormatError (permanent: retrying cannot
    help) when the endpoint is unknown or the body does not follow its format."""
    module = FORMATS.get(raw_event.endpoint)
    if module is None:
        raise FormatError(f"unknown intake endpoint {raw_event.endpoint!r}")
    payload = parse(raw_event.body)
    errors = module.validate(payload, raw_event.endpoint)
    if errors:
        raise FormatError("the body does not follow its format", errors)
    return module.normalise(payload, raw_event.endpoint, raw_event)


def _storable(value):
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value
