"""Latency anomaly detection: the usual latency for this time of the week, learned from the
monitor's own hourly history; the check-to-check noise around it, learned from the checks
themselves; a band above the usual latency whose width follows the sensitivity; and an
alert only when most of the last few checks are above the band.

Why two sources. Hourly roll-ups give a good *level* (an hour's median hardly moves with
noise) but say nothing about how far single checks scatter around it: the spread of a few
hourly medians is several times narrower than the check-to-check noise, and a band built
from it was crossed by noise alone (the first version's "high" had precision 0.36). So the
level comes from the history and the width from a robust estimate over the checks.

Everything is done on log latency, so "twice as slow" is the same step for a 40 ms and a
400 ms service, and the heavy right tail of latency does not dominate.

Baseline (build_baseline, re-learned by the caller at most hourly): the usual latency at an
hour of the week (0 = Monday 00:00 UTC) is the median of that hour in the last WEEKS weeks;
with fewer than MIN_SAMPLES weeks it borrows the same hour of the day over all days, then
the whole history. Between hour centres it is interpolated, so a steep morning ramp is not
read as an hour-long step. A recent level (the median log ratio of the last day's hours to
their own usual figures) is added, so a slowly drifting service is not judged against where
it was two weeks ago; one slow hour can't move it.

Noise (in `state`, kept by the caller): a check's residual is log(latency / usual). The
first WARMUP checks' median absolute residual starts the estimate (no alert before); after
that a streaming median follows it, one small step per check whatever the residual's size,
so a lone spike barely moves it. It learns only from quiet stretches (no check above the
band in the window, no open anomaly), so an anomaly never widens its own band.

Band and false-positive filter: upper bound = usual x max(exp(width x sigma), min_ratio),
and at least usual + min_delta_ms, where sigma = 1.4826 x the median absolute residual (a
robust standard deviation). The floors keep a very steady service from paging over a few
milliseconds. An alert fires when `needed` of the last `window` checks are above the band,
so lone spikes (and pairs of them) never fire, and it resolves after `window` checks in a
row back inside. Only latency *above* the band counts: a faster answer is not an incident.
The sensitivities differ only in the band (width and floors), so "high" catches smaller
rises, and catches a moderate one as soon as the others catch a large one.
"""

import math
from collections import defaultdict
from datetime import datetime
from statistics import median
from typing import NamedTuple


class Level(NamedTuple):
    width: float  # band height in robust standard deviations of log latency
    min_ratio: float  # the band never ends below this factor of the usual latency
    min_delta_ms: float  # ... nor less than this many milliseconds above it


SENSITIVITY = {
    "low": Level(width=3.5, min_ratio=1.3, min_delta_ms=25.0),
    "medium": Level(width=2.8, min_ratio=1.2, min_delta_ms=15.0),
    "high": Level(width=2.2, min_ratio=1.1, min_delta_ms=10.0),
}
WINDOW, NEEDED = 8, 5  # fire when 5 of the last 8 checks are above the band; resolve after 8 inside
WEEKS = 3  # the usual latency at an hour of the week: the median of that hour in the last 3 weeks
MIN_SAMPLES = 3  # hourly medians an hour of the week (or of the day) needs to have its own figure
WARMUP = 30  # checks that teach the noise before the first alert is possible
STEP = 0.02  # relative step of the streaming median of the absolute residuals
MAD_TO_SIGMA = 1.4826
MIN_NOISE = 0.01  # median absolute residual never below 1 % (a perfectly flat history)
LEVEL_HOURS = 24  # the recent level is read from the last day of hourly medians
OFFSET_MS = 1.0  # log(latency + 1 ms): a 0 ms answer is a number, too


def hour_of_week(at: datetime) -> int:
    return at.weekday() * 24 + at.hour


def _log(ms: float) -> float:
    return math.log(max(ms, 0.0) + OFFSET_MS)


def build_baseline(points) -> dict:
    """points: (hour start, hourly median latency in ms), the past weeks. Returns a JSON-able
    baseline, medians in ms: {"hours": {"<hour of week>": median of that hour in the last
    WEEKS weeks}, "day": {"<hour of day>": median over all days}, "all": median,
    "level": log ratio of the last day to its usual}, or {} without any latency."""
    dated = sorted((at, float(value)) for at, value in points if value is not None)
    if not dated:
        return {}
    by_hour, by_day_hour = defaultdict(list), defaultdict(list)
    for at, value in dated:
        by_hour[hour_of_week(at)].append((at, value))
        by_day_hour[at.hour].append(value)
    # Recent level: how far the last day's hours sit from the same hours of the WEEKS weeks
    # before them (log ratio, median over the hours). Medians of past weeks lag a drifting
    # service by about two weeks; this puts the band back on today's latency, and one slow
    # hour can't move it. Measured exactly as the forecast is made (the WEEKS weeks before),
    # so the correction is unbiased.
    latest = dated[-1][0]
    recent = []
    for seen in by_hour.values():
        at, value = seen[-1]  # an hour of the week occurs once in a day
        if len(seen) > MIN_SAMPLES and (latest - at).total_seconds() < LEVEL_HOURS * 3600:
            recent.append(_log(value) - _log(median(v for _, v in seen[-1 - WEEKS:-1])))
    return {"hours": {str(h): median(v for _, v in seen[-WEEKS:])
                      for h, seen in by_hour.items() if len(seen) >= MIN_SAMPLES},
            "day": {str(h): median(v) for h, v in by_day_hour.items() if len(v) >= MIN_SAMPLES},
            "all": median(v for _, v in dated), "level": median(recent) if recent else 0.0}


def _figure(value) -> float:
    return value[0] if isinstance(value, list) else value  # [median, spread] in baselines before 2026-12


def _hour_median(baseline: dict, how: int) -> float:
    figure = baseline.get("hours", {}).get(str(how % 168))
    if figure is None:
        figure = baseline.get("day", {}).get(str(how % 24), baseline["all"])
    return _figure(figure)


def expected(baseline: dict, at: datetime) -> tuple[float, float] | None:
    """(usual latency in ms at `at`, the recent level factor already in it), or None
    without a baseline."""
    if not baseline or "all" not in baseline:
        return None
    position = hour_of_week(at) + (at.minute + at.second / 60) / 60 - 0.5  # hour medians sit mid-hour
    below = math.floor(position)
    weight = position - below
    low, high = _hour_median(baseline, below), _hour_median(baseline, below + 1)
    level = baseline.get("level", 0.0)
    usual = math.exp((1 - weight) * _log(low) + weight * _log(high) + level) - OFFSET_MS
    return usual, math.exp(level)


def upper_bound(usual: float, noise: float, sensitivity: str) -> float:
    """The band's top in ms, for a median absolute residual `noise` (log units)."""
    setting = SENSITIVITY[sensitivity]
    sigma = MAD_TO_SIGMA * max(noise, MIN_NOISE)
    factor = max(math.exp(setting.width * sigma), setting.min_ratio)
    return max((usual + OFFSET_MS) * factor - OFFSET_MS, usual + setting.min_delta_ms)


def step(state: dict, baseline: dict, at: datetime, latency_ms: float | None, sensitivity: str) -> str | None:
    """Feed one check's latency; returns "fire", "resolve" or None. `state` (a JSON-able
    dict kept by the caller) holds the noise estimate, which of the last checks were above
    the band, whether an anomaly is open, and the last upper bound in ms (state["bound"])."""
    if sensitivity not in SENSITIVITY or latency_ms is None:
        return None
    figures = expected(baseline, at)
    if figures is None:
        return None
    usual = figures[0]
    residual = _log(latency_ms) - _log(usual)
    if "noise" not in state:  # warming up: keep the residuals, then start from their median
        state.pop("outside", None)  # a run length kept by the first version
        warm = state.setdefault("warm", [])
        warm.append(round(abs(residual), 5))
        if len(warm) >= WARMUP:
            state["noise"] = max(median(warm), MIN_NOISE)
            del state["warm"]
        return None
    bound = upper_bound(usual, state["noise"], sensitivity)
    outside = latency_ms > bound
    recent = (state.get("recent", []) + [int(outside)])[-WINDOW:]
    state["recent"] = recent
    state["inside"] = 0 if outside else state.get("inside", 0) + 1
    state["bound"] = round(bound, 2)
    if not any(recent) and not state.get("open"):  # a quiet stretch: learn the noise from it
        grow = STEP if abs(residual) > state["noise"] else -STEP
        state["noise"] = max(state["noise"] * math.exp(grow), MIN_NOISE)
    if not state.get("open") and sum(recent) >= NEEDED:
        state["open"] = True
        return "fire"
    if state.get("open") and state["inside"] >= WINDOW:
        state["open"] = False
        return "resolve"
    return None
