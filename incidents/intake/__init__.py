"""Alert intake: compatible doors in (one module per sender's format), raw events stored
before any work, and the pipeline that turns them into alerts and incidents.

    formats: pagerduty.py, alertmanager.py (also Grafana), generic.py
             each: validate(payload, endpoint) -> list[str] of errors (accept time, synchronous)
                   normalise(payload, endpoint, raw) -> list[AlertEvent | ChangeEventData] (worker)
    accept.py:   authenticate, size- and rate-check, store RawEvent, kick the drain (on commit)
    pipeline.py: drain pending RawEvents (SKIP LOCKED), apply each event exactly once
    matching.py: label matchers shared by silences, inhibition, severity and routing rules
"""
