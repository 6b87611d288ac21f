"""Precision, recall and detection delay of latency anomaly detection (monitoring/anomaly.py)
on generated series with known anomalies. Run: .venv/bin/python bench/anomaly_eval.py [first seed]

Each series is 6 weeks of 1-minute checks of one made-up service, drawn from a fixed seed:
  - a level between 30 and 600 ms, a daily curve (busy afternoons, amplitude 20-80 %),
    quieter weekends (60-95 % of a weekday) and a gradual drift of -15 % to +30 % over the
    six weeks;
  - heavy-tailed check-to-check jitter: log-latency gets scale x Student-t(4), the scale
    drawn per series between 0.05 and 0.20 (a p95/p50 of about 1.1 to 1.5), plus a slow
    wander (AR(1), about 10 minutes memory, sd 0.03) so that neighbouring checks are alike;
  - lone spikes: 0.3 % of checks are 3-10x slower for that one check. Noise: must NOT alert.
In the last two weeks, anomaly episodes every 10-50 hours: a sustained rise lasting 5-60
minutes, of one of three sizes drawn with equal odds, small (x1.25-1.5), medium
(x1.5-2.5) or large (x2.5-6), on top of the normal noise.

The detector runs as in production: it starts cold at the beginning of week five (so it
also has to learn the check-to-check noise), and its baseline is re-learned every hour
from the hourly medians of the four weeks before, including any anomalies they hold.

An episode is detected if an alert fires during it or within 5 minutes after its end; the
delay is minutes from its start to that alert. An alert outside every episode is a false
alert. A second alert during the same episode (the anomaly flapped) is counted apart.
"""

import math
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from statistics import median

sys.path.insert(0, ".")
from monitoring import anomaly  # noqa: E402

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
WEEK = 7 * 24 * 60
MINUTES = 6 * WEEK
SCORED_FROM = 4 * WEEK
GRACE = 5  # minutes after an episode's end during which an alert still counts for it
SIZES = {"small": (1.25, 1.5), "medium": (1.5, 2.5), "large": (2.5, 6.0)}
LEVELS = ("low", "medium", "high")


def _student_t(rng, dof=4):
    return rng.gauss(0, 1) / math.sqrt(rng.gammavariate(dof / 2, 2) / dof)


def series(seed: int):
    """[(at, latency ms)] for every minute, and the episodes [(start, end, factor, size)]."""
    rng = random.Random(seed)
    base = math.exp(rng.uniform(math.log(30), math.log(600)))
    amplitude, weekend = rng.uniform(0.2, 0.8), rng.uniform(0.6, 0.95)
    drift, jitter = rng.uniform(-0.15, 0.30), rng.uniform(0.05, 0.20)
    episodes = []
    i = SCORED_FROM + rng.randint(60, 600)
    while i < MINUTES - 120:
        size = rng.choice(list(SIZES))
        length, factor = rng.randint(5, 60), rng.uniform(*SIZES[size])
        episodes.append((i, i + length, factor, size))
        i += length + rng.randint(600, 3000)
    anomalous = {m: f for a, b, f, _ in episodes for m in range(a, b)}
    points, wander = [], 0.0
    phi = 0.9
    for m in range(MINUTES):
        at = START + timedelta(minutes=m)
        hour = at.hour + at.minute / 60
        daily = 1 + amplitude * max(0.0, math.sin((hour - 6) / 24 * 2 * math.pi))
        weekly = weekend if at.weekday() >= 5 else 1.0
        wander = phi * wander + rng.gauss(0, 0.03 * math.sqrt(1 - phi * phi))
        value = base * daily * weekly * (1 + drift * m / MINUTES) * math.exp(wander + jitter * _student_t(rng))
        if m in anomalous:
            value *= anomalous[m]
        elif rng.random() < 0.003:  # a lone spike: noise, not an anomaly
            value *= rng.uniform(3, 10)
        points.append((at, value))
    return points, episodes


def hourly(points):
    """The hourly roll-ups' latency_p50 (the detector's history), one per hour."""
    by_hour = defaultdict(list)
    for at, value in points:
        by_hour[at.replace(minute=0)].append(value)
    return [(hour, median(v)) for hour, v in by_hour.items()]


def run_series(seed: int, levels=LEVELS) -> dict:
    """Feed the last two weeks of one series to the detector at each sensitivity."""
    points, episodes = series(seed)
    hours = hourly(points)
    states = {level: {} for level in levels}
    fired = {level: [] for level in levels}
    baseline = {}
    for m in range(SCORED_FROM, MINUTES):
        at, value = points[m]
        if m % 60 == 0:  # production re-learns at most once an hour, from the past 4 weeks
            h = m // 60
            baseline = anomaly.build_baseline(hours[h - 4 * 7 * 24:h])
        for level in levels:
            if anomaly.step(states[level], baseline, at, value, level) == "fire":
                fired[level].append(m)
    return {"episodes": episodes, "fired": fired}


def score(runs: list[dict], level: str) -> dict:
    found, total, delays = defaultdict(int), defaultdict(int), defaultdict(list)
    false_alerts = repeats = 0
    for run in runs:
        episodes = run["episodes"]
        hit = set()
        for m in run["fired"][level]:
            inside = [k for k, (a, b, _, _) in enumerate(episodes) if a <= m < b + GRACE]
            if not inside:
                false_alerts += 1
            elif inside[0] in hit:
                repeats += 1
            else:
                hit.add(inside[0])
                delays[episodes[inside[0]][3]].append(m - episodes[inside[0]][0])
        for k, (_, _, _, size) in enumerate(episodes):
            total[size] += 1
            found[size] += k in hit
    detected, anomalies = sum(found.values()), sum(total.values())
    precision = detected / (detected + false_alerts) if detected + false_alerts else 1.0
    every_delay = [d for size in delays for d in delays[size]]
    return {"sensitivity": level, "anomalies": anomalies, "detected": detected, "false_alerts": false_alerts,
            "repeat_alerts": repeats, "precision": round(precision, 3),
            "recall": round(detected / anomalies, 3) if anomalies else 1.0,
            "recall_by_size": {s: round(found[s] / total[s], 3) if total[s] else None for s in SIZES},
            "median_delay_min": median(every_delay) if every_delay else None,
            "p90_delay_min": sorted(every_delay)[int(0.9 * (len(every_delay) - 1))] if every_delay else None,
            "median_delay_by_size": {s: median(delays[s]) if delays[s] else None for s in SIZES}}


def evaluate(sensitivity: str, seeds=range(20)) -> dict:
    runs = [run_series(seed, levels=(sensitivity,)) for seed in seeds]
    return score(runs, sensitivity)


def evaluate_all(seeds=range(20)) -> list[dict]:
    runs = [run_series(seed) for seed in seeds]
    return [score(runs, level) for level in LEVELS]


def _table(rows: list[dict]) -> str:
    sizes = " | ".join(f"{s} x{lo:g}-{hi:g}" for s, (lo, hi) in SIZES.items())
    lines = [f"sensitivity | anomalies | detected | false alerts | repeats | precision | recall | "
             f"recall by size: {sizes} | median delay (min), by size | p90 delay"]
    for r in rows:
        by_size = " / ".join(f"{r['recall_by_size'][s]:.2f}" for s in SIZES)
        delay = " / ".join("-" if r["median_delay_by_size"][s] is None else f"{r['median_delay_by_size'][s]:g}"
                           for s in SIZES)
        lines.append(f"{r['sensitivity']} | {r['anomalies']} | {r['detected']} | {r['false_alerts']} | "
                     f"{r['repeat_alerts']} | {r['precision']:.3f} | {r['recall']:.3f} | {by_size} | "
                     f"{r['median_delay_min']:g} ({delay}) | {r['p90_delay_min']}")
    return "\n".join(lines)


if __name__ == "__main__":
    first = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    started = time.perf_counter()
    print(_table(evaluate_all(range(first, first + 20))))
    print(f"seeds {first}-{first + 19}, {time.perf_counter() - started:.1f} s")
