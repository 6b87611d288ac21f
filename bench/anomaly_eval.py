"""Precision and recall of latency anomaly detection (monitoring/anomaly.py) on generated
series with known anomalies. Run: .venv/bin/python bench/anomaly_eval.py [seed]

Each series: 6 weeks of 1-minute checks. The first 4 weeks train the baseline (hourly
medians by hour of the week); the last 2 weeks are scored. The normal signal has a daily
and a weekly pattern (busy weekday afternoons) and log-normal noise, plus isolated
spikes (single slow checks, which must NOT alert). Injected anomalies: 10-60 minute
episodes where latency rises 1.5x-6x. An anomaly counts as detected if an alert fires
during it or within 5 minutes after its end; an alert outside every
anomaly is a false positive.
"""

import math
import random
import sys
from datetime import UTC, datetime, timedelta

sys.path.insert(0, ".")
from monitoring import anomaly  # noqa: E402

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def normal(at, base, rng):
    daily = 1 + 0.6 * max(0.0, math.sin((at.hour - 6) / 24 * 2 * math.pi))
    weekly = 0.8 if at.weekday() >= 5 else 1.0
    return base * daily * weekly * rng.lognormvariate(0, 0.12)


def series(seed: int):
    rng = random.Random(seed)
    base = rng.uniform(40, 400)
    minutes = 6 * 7 * 24 * 60
    points, episodes = [], []
    scored_from = 4 * 7 * 24 * 60
    i = scored_from + rng.randint(60, 600)
    while i < minutes - 120:
        length, factor = rng.randint(10, 60), rng.uniform(1.5, 6)
        episodes.append((i, i + length, factor))
        i += length + rng.randint(600, 3000)
    anomalous = {m: f for a, b, f in episodes for m in range(a, b)}
    for m in range(minutes):
        at = START + timedelta(minutes=m)
        value = normal(at, base, rng)
        if m in anomalous:
            value *= anomalous[m]
        elif rng.random() < 0.003:  # a lone spike: noise, not an anomaly
            value *= rng.uniform(3, 8)
        points.append((at, value))
    return points, episodes, scored_from


def hourly(points):
    by_hour = {}
    for at, value in points:
        by_hour.setdefault(at.replace(minute=0), []).append(value)
    return [(hour, sorted(v)[len(v) // 2]) for hour, v in by_hour.items()]


def evaluate(sensitivity: str, seeds=range(20)) -> dict:
    tp = fn = fp = 0
    for seed in seeds:
        points, episodes, scored_from = series(seed)
        baseline = anomaly.build_baseline(hourly(points[:scored_from]))
        state, fired_at = {}, []
        for m in range(scored_from, len(points)):
            at, value = points[m]
            if anomaly.step(state, baseline, at, value, sensitivity) == "fire":
                fired_at.append(m)
        hit = set()
        for m in fired_at:
            inside = [k for k, (a, b, _) in enumerate(episodes) if a <= m < b + 5]
            if inside:
                hit.update(inside)
            else:
                fp += 1
        tp += len(hit)
        fn += len(episodes) - len(hit)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"sensitivity": sensitivity, "anomalies": tp + fn, "detected": tp, "false_alerts": fp,
            "precision": round(precision, 3), "recall": round(recall, 3)}


if __name__ == "__main__":
    for level in ("low", "medium", "high"):
        print(evaluate(level))
