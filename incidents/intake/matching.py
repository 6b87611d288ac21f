"""Alertmanager-style label matchers: [{"name", "value", "isRegex", "isEqual"}], all must
match (AND). A missing label matches as the empty string, as in Alertmanager."""

import re
from functools import lru_cache

from alertum.core.errors import Invalid


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(f"(?:{pattern})\\Z")  # anchored, as Alertmanager anchors matchers


def matcher_matches(matcher: dict, labels: dict) -> bool:
    value = str(labels.get(matcher["name"], ""))
    if matcher.get("isRegex"):
        hit = bool(_regex(matcher["value"]).match(value))
    else:
        hit = value == matcher["value"]
    return hit if matcher.get("isEqual", True) else not hit


def matches(matchers: list[dict], labels: dict) -> bool:
    return all(matcher_matches(m, labels) for m in matchers)


def validate_matchers(matchers, field: str = "matchers", allow_empty: bool = True) -> list[dict]:
    """Check shape and regexes; return the matchers normalised (isRegex/isEqual filled in)."""
    if not isinstance(matchers, list) or (not matchers and not allow_empty):
        raise Invalid(f"{field} must be a {'non-empty ' if not allow_empty else ''}list of "
                      '{"name", "value", "isRegex", "isEqual"}', field=field)
    clean = []
    for i, m in enumerate(matchers):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"] \
                or not isinstance(m.get("value"), str):
            raise Invalid(f"{field}[{i}] needs a non-empty string 'name' and a string 'value'", field=field)
        is_regex, is_equal = m.get("isRegex", False), m.get("isEqual", True)
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise Invalid(f"{field}[{i}]: isRegex and isEqual must be true or false", field=field)
        if is_regex:
            try:
                _regex(m["value"])
            except re.error as exc:
                raise Invalid(f"{field}[{i}]: {m['value']!r} is not a valid regular expression ({exc})",
                              field=field) from None
        clean.append({"name": m["name"], "value": m["value"], "isRegex": is_regex, "isEqual": is_equal})
    return clean
