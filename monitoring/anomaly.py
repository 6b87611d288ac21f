"""Latency anomaly detection: a baseline learned from the monitor's own history by hour of
the week, a band whose width follows the sensitivity, and an alert only when latency stays
outside the band for several checks in a row.

Baseline: for each hour of the week (0 = Monday 00:00 UTC), the median and the scaled
median absolute deviation (MAD x 1.4826, a robust standard deviation) of the hourly
median latencies seen in that hour over the past weeks. Hours with fewer than
MIN_SAMPLES points borrow the whole history's figures, so a new monitor still gets a band.

Only latency *above* the band is an anomaly: a faster answer is not an incident.

False-positive filter: a point counts as outside only if it is above the band AND at
least MIN_DELTA_MS and MIN_RATIO above the baseline median, so a very steady service (tiny
MAD) does not page for a 3 ms wobble; and it takes `run` consecutive outside points to
fire (single spikes never do), and `run` consecutive inside points to resolve.
"""

from collections import defaultdict
from datetime import datetime
from statistics import median

# sensitivity -> (band width in robust standard deviations, consecutive checks to fire)
SENSITIVITY = {"low": (6.0, 5), "medium": (4.0, 3), "high": (3.0, 2)}
MIN_SAMPLES = 3
MIN_DELTA_MS = 20.0
MIN_RATIO = 0.25
FLOOR_SCALE_RATIO = 0.05  # the scale is at least 5% of the median (a flat history has MAD 0)


def hour_of_week(at: datetime) -> int:
    return at.weekday() * 24 + at.hour


def _stats(values: list[float]) -> tuple[float, float]:
    mid = median(values)
    mad = median(abs(v - mid) for v in values) * 1.4826
    return mid, max(mad, mid * FLOOR_SCALE_RATIO, 1.0)


def build_baseline(points) -> dict:
    """points: (hour start, hourly median latency in ms). Returns a JSON-able baseline:
    {"hours": {"<hour of week>": [median, scale]}, "all": [median, scale]} or {} if empty."""
    by_hour, everything = defaultdict(list), []
    for at, value in points:
        if value is None:
            continue
        by_hour[hour_of_week(at)].append(float(value))
        everything.append(float(value))
    if not everything:
        return {}
    return {"hours": {str(h): list(_stats(v)) for h, v in by_hour.items() if len(v) >= MIN_SAMPLES},
            "all": list(_stats(everything))}


def expected(baseline: dict, at: datetime) -> tuple[float, float] | None:
    if not baseline:
        return None
    stats = baseline["hours"].get(str(hour_of_week(at))) or baseline["all"]
    return stats[0], stats[1]


def upper_bound(baseline: dict, at: datetime, sensitivity: str) -> float | None:
    figures = expected(baseline, at)
    if figures is None:
        return None
    mid, scale = figures
    width, _ = SENSITIVITY[sensitivity]
    return max(mid + width * scale, mid + MIN_DELTA_MS, mid * (1 + MIN_RATIO))


def step(state: dict, baseline: dict, at: datetime, latency_ms: float | None, sensitivity: str) -> str | None:
    """Feed one check's latency; returns "fire", "resolve" or None. `state` (a JSON-able
    dict kept by the caller) holds the run lengths and whether an anomaly is open."""
    if sensitivity not in SENSITIVITY or latency_ms is None:
        return None
    bound = upper_bound(baseline, at, sensitivity)
    if bound is None:
        return None
    _, run = SENSITIVITY[sensitivity]
    outside = latency_ms > bound
    state["outside"] = state.get("outside", 0) + 1 if outside else 0
    state["inside"] = 0 if outside else state.get("inside", 0) + 1
    state["bound"] = round(bound, 2)
    if not state.get("open") and state["outside"] >= run:
        state["open"] = True
        return "fire"
    if state.get("open") and state["inside"] >= run:
        state["open"] = False
        return "resolve"
    return None
