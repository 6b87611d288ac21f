"""Journeys: ordered HTTP steps sharing variables, within one total time budget.

config: {"steps": [{"name", "method", "url", "headers", "body",
                    "extract": {"var": {"from": "json", "path": "$.token"} |
                                       {"from": "header", "name": "Location"} |
                                       {"from": "regex", "pattern": "id=(\\d+)"}},
                    "assert": {accepted_statuses, keyword, keyword_mode, json_path, json_expected,
                               max_response_ms}}],
         "variables": {"base": "https://..."}, "budget_seconds": 30}
`{{var}}` in a later step's url, headers and body is replaced by the extracted value.
The failing step, its request and its response are the evidence.
"""

import json
import re

from monitoring.checks import Deadline, Outcome
from monitoring.checks.http import assert_response, json_path, request

_VAR = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def substitute(text, variables: dict):
    if isinstance(text, dict):
        return {k: substitute(v, variables) for k, v in text.items()}
    if not isinstance(text, str):
        return text

    def value(m):
        if m.group(1) not in variables:
            raise KeyError(m.group(1))
        return str(variables[m.group(1)])

    return _VAR.sub(value, text)


def extract(response, rule: dict):
    source = rule.get("from")
    if source == "json":
        return json_path(json.loads(response.body), rule["path"])
    if source == "header":
        lowered = {k.lower(): v for k, v in response.headers.items()}
        return lowered[rule["name"].lower()]
    if source == "regex":
        m = re.search(rule["pattern"], response.text())
        if m is None:
            raise KeyError(rule["pattern"])
        return m.group(1) if m.groups() else m.group(0)
    raise ValueError(f"unknown extract source {source!r}")


def check(config: dict, deadline: Deadline) -> Outcome:
    variables = dict(config.get("variables") or {})
    steps_done = []
    response = None
    for index, step in enumerate(config["steps"], start=1):
        name = step.get("name") or f"step {index}"
        evidence = {"step": index, "step_name": name, "steps_passed": steps_done}
        try:
            url = substitute(step["url"], variables)
            headers = substitute(step.get("headers") or {}, variables)
            body = substitute(step.get("body") or "", variables)
        except KeyError as exc:
            return Outcome(ok=False, latency_ms=deadline.elapsed_ms(),
                           message=f"{name}: variable {exc.args[0]} was never extracted", evidence=evidence)
        method = step.get("method") or "GET"
        evidence["request"] = {"method": method, "url": url}
        try:
            response = request(method, url, headers=headers, body=body or None, deadline=deadline,
                               follow_redirects=step.get("follow_redirects", True),
                               verify_tls=config.get("verify_tls", True))
        except TimeoutError:
            return Outcome(ok=False, latency_ms=deadline.elapsed_ms(),
                           message=f"{name}: the journey ran out of its time budget", evidence=evidence)
        except Exception as exc:
            return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{name}: {exc}"[:500],
                           evidence=evidence)
        evidence["response"] = response.evidence()
        failure = assert_response(response, step.get("assert") or {})
        if failure:
            return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), status_code=response.status,
                           message=f"{name}: {failure}"[:500], evidence=evidence)
        for var, rule in (step.get("extract") or {}).items():
            try:
                variables[var] = extract(response, rule)
            except (KeyError, IndexError, TypeError, ValueError):
                return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), status_code=response.status,
                               message=f"{name}: could not extract {var} ({rule.get('from')})", evidence=evidence)
        steps_done.append({"name": name, "status": response.status, "elapsed_ms": response.elapsed_ms})
    return Outcome(ok=True, latency_ms=deadline.elapsed_ms(), status_code=response.status if response else None,
                   message=f"{len(steps_done)} steps passed")
